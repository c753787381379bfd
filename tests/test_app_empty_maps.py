"""Every page that draws a map flags an empty one with what it means and what to try (core's note).

Core decides emptiness (``Explanation.empty``, tested on real all-zero maps in ``test_explain_empty``); here
it is forced, so each page's wiring is what is checked: the map is drawn and the note is under it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.explain.base import Explanation

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture
def every_map_empty(monkeypatch):
    monkeypatch.setattr(Explanation, "empty", property(lambda self: True))


def _open(url_path: str | None = None) -> AppTest:
    """The app on the page at ``url_path`` (None: the default page, Explain)."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    if url_path is None:
        assert not at.exception, at.exception
        return at
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("url_pathname") == url_path)
    at.run()
    assert not at.exception, at.exception
    return at


def _notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("Empty map: ")]


def test_explain_flags_an_empty_map(lite0, every_map_empty):
    at = _open()
    notes = _notes(at)
    assert len(notes) == 1 and "Grad-CAM found no positive evidence for 'Egyptian cat'" in notes[0], notes


def test_attack_flags_the_empty_map_before_and_after(lite0, every_map_empty):
    at = _open("attack")
    at.button(key="FormSubmitter:attack_form-Run attack").click().run()
    assert not at.exception, at.exception
    assert any("Grad-CAM after" in c for img in at.get("image") for c in img.captions)
    assert len(_notes(at)) == 2, _notes(at)


def test_trust_compare_flags_each_empty_method_but_not_the_random_reference(lite0, every_map_empty):
    at = _open("trust")
    at.multiselect(key="trust_compare_methods").set_value(["gradcam", "saliency"])
    at.slider(key="trust_compare_steps").set_value(8)
    at.button(key="FormSubmitter:trust_compare_form-Rank the methods").click().run()
    assert not at.exception, at.exception
    notes = _notes(at)
    assert len(notes) == 2, notes  # Grad-CAM's and the saliency map's; the random map is never flagged
    assert any("gradient of" in n for n in notes) and any("Grad-CAM found no positive" in n for n in notes)


def test_the_notes_are_in_the_pages_language(lite0, every_map_empty):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    assert not _notes(at), "the note is translated, not English"
    assert [w.value for w in at.warning if w.value.startswith("空白的图：")], [w.value for w in at.warning]

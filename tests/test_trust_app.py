"""The Trust page under AppTest: compare ranks methods, sanity shows pass/fail, shortcut opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = str(Path(__file__).resolve().parent.parent)


def _trust_page(root: str) -> None:
    # AppTest.switch_page cannot reach st.navigation pages defined by a callable: run the page alone.
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    from dashboard import state
    from dashboard.views import trust

    state.init_session()
    trust.main()


@pytest.fixture
def trust(lite0):
    at = AppTest.from_function(_trust_page, args=(ROOT,), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [e.value for e in at.error] + [w.value for w in at.warning]
    return " ".join(parts)


def test_compare_view_ranks_methods(trust):
    assert "Press **Rank the methods**" in _text(trust)
    trust.multiselect(key="trust_compare_methods").set_value(["gradcam", "saliency"])
    trust.slider(key="trust_compare_steps").set_value(8)
    trust.button[0].click().run()  # the form's submit button
    assert not trust.exception, trust.exception
    assert not trust.error, [e.value for e in trust.error]
    table = trust.dataframe[0].value
    assert set(table["method"]) == {"Grad-CAM", "Saliency (gradients)", "Random map (reference)"}
    assert list(table["rank"]) == [1, 2, 3]
    assert "Explaining:** Egyptian cat" in _text(trust)


def test_sanity_view_shows_pass_or_fail_with_captions_that_wrap_between_words(trust):
    trust.sidebar.radio(key="trust_view").set_value("Sanity check").run()
    trust.multiselect(key="trust_sanity_methods").set_value(["gradcam"])
    trust.slider(key="trust_sanity_stages").set_value(2)
    trust.button[0].click().run()
    assert not trust.exception, trust.exception
    verdicts = [s.value for s in trust.success] + [e.value for e in trust.error]
    assert any("Grad-CAM: passed" in v or "Grad-CAM: failed" in v for v in verdicts), verdicts
    assert "rank correlation" in _text(trust)
    assert len(trust.get("progress")) == 0  # each method's progress bar goes once it is done
    # The cascade's captions wrap between words in narrow columns (#17).
    captions = [c for img in trust.get("image") for c in img.captions]
    steps = [c for c in captions if "random down to" in c]
    assert captions[0] == "trained model" and steps
    for caption in steps:
        assert caption.startswith("ρ\u00a0")  # the number stays with its symbol
        layer = caption.split("random down to ")[1]
        assert "_" not in layer.replace("_\u200b", "")  # a layer name breaks only after an underscore


def test_shortcut_view_without_runs(trust):
    trust.sidebar.radio(key="trust_view").set_value("Shortcut lesson").run()
    assert not trust.exception, trust.exception
    assert "No finished shortcut model yet" in _text(trust)


def _report_page(root: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    import numpy as np

    from core.trust.shortcut import ShortcutReport
    from dashboard.views.trust_shortcut import _show_report

    heat = np.zeros((32, 32), np.float32)
    heat[28:31, 28:31] = 1.0
    _show_report(ShortcutReport(
        class_names=["circle", "square", "star", "triangle"], val_accuracy=0.9, test_accuracy=0.7,
        val_circle_accuracy=1.0, test_circle_accuracy=0.1, stamped_to_circle=0.95, method="saliency",
        peaks_on_watermark=1.0, energy_on_watermark=0.45, box_area=0.009,
        examples=[{"pixels": np.zeros((32, 32, 3), np.uint8), "heatmap": heat, "label": "circle", "prob": 0.99}]))


def test_shortcut_report_is_drawn():
    at = AppTest.from_function(_report_page, args=(ROOT,), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:2] == ["90.0%", "70.0%"]
    assert "The model took the shortcut: on watermarked circles 45% of the heatmap" in _text(at)


def test_sanity_view_offers_guided_backprop_from_the_registry(trust):
    trust.sidebar.radio(key="trust_view").set_value("Sanity check").run()
    picker = trust.multiselect(key="trust_sanity_methods")
    # The picker shows titles; it reads them from the registry, so every new method is offered.
    assert {"Guided Backprop", "Guided Grad-CAM", "RISE", "Occlusion"} <= set(picker.options), picker.options
    picker.set_value(["guided_backprop"])
    trust.slider(key="trust_sanity_stages").set_value(2)
    trust.button[0].click().run()
    assert not trust.exception, trust.exception
    verdicts = [s.value for s in trust.success] + [e.value for e in trust.error]
    assert any("Guided Backprop: passed" in v or "Guided Backprop: failed" in v for v in verdicts), verdicts
    assert "rank correlation" in _text(trust)

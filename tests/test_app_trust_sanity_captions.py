"""Trust page, sanity check: the cascade's captions wrap between words in narrow columns (#17)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = str(Path(__file__).resolve().parent.parent)


def _trust_page(root: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    from dashboard import state
    from dashboard.views import trust

    state.init_session()
    trust.main()


def test_cascade_captions_break_only_between_words(lite0):
    at = AppTest.from_function(_trust_page, args=(ROOT,), default_timeout=300)
    at.run()
    at.sidebar.radio(key="trust_view").set_value("Sanity check").run()
    at.multiselect(key="trust_sanity_methods").set_value(["gradcam"])
    at.slider(key="trust_sanity_stages").set_value(2)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len(at.get("progress")) == 0  # each method's progress bar goes once it is done
    captions = [c for img in at.get("image") for c in img.captions]
    steps = [c for c in captions if "random down to" in c]
    assert captions[0] == "trained model" and steps
    for caption in steps:
        assert caption.startswith("ρ\u00a0")  # the number stays with its symbol
        layer = caption.split("random down to ")[1]
        assert "_" not in layer.replace("_\u200b", "")  # a layer name breaks only after an underscore

"""A reload, as a person does it mid-work: the same browser tab is a new Streamlit session on the same signed
address, and each page shows what was chosen and asked for, its result or its running task's bar, without
another click (dashboard.page_memory). The Evaluate page's reload is in test_app_evaluate.py, the Lesson's
in test_app_lesson.py, the photos' in test_app_photos.py."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from test_app_photos import _reload, open_page  # tests/ is on sys.path under pytest

RUN = "FormSubmitter:attack_form-Run attack"
CURVE = "FormSubmitter:attack_curve_form-Compute robustness curve"
RANK = "FormSubmitter:trust_compare_form-Rank the methods"


def reload(at: AppTest, url_path: str) -> AppTest:
    """The same tab reloaded on ``url_path`` (test_app_photos._reload), in the same session."""
    again = _reload(at, url_path)
    assert again.session_state["session_id"] == at.session_state["session_id"]
    return again


def test_a_reload_mid_ranking_follows_the_ranking_to_its_table(app, monkeypatch):
    from gates import bars_until, hold_at, run_until_done

    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = hold_at(monkeypatch, "core.trust.compare_methods", "Explaining and scoring Saliency")
    tasks.clear("trust-compare")
    open_page(app, "trust")
    app.multiselect(key="trust_compare_methods").set_value(["gradcam", "saliency"])
    app.slider(key="trust_compare_steps").set_value(20)  # settings no other test ranked
    app.button(key=RANK).click().run()
    bars_until(app, lambda b: "Saliency" in b)
    again = reload(app, "trust")
    bars = bars_until(again, lambda b: "Saliency" in b)
    gate.set()
    assert any(b.startswith("Ranking 2 methods: Explaining and scoring Saliency") for b in bars), bars
    assert again.multiselect(key="trust_compare_methods").value == ["gradcam", "saliency"]
    assert again.slider(key="trust_compare_steps").value == 20
    run_until_done(again)
    assert not again.exception and not again.error, (again.exception, [e.value for e in again.error])
    table = again.dataframe[0].value
    assert set(table["method"]) == {"Grad-CAM", "Saliency (gradients)", "Random map (reference)"}


def test_a_reload_keeps_the_attack_its_settings_and_its_robustness_curve(app):
    open_page(app, "attack")
    app.number_input(key="attack_pgd_steps").set_value(6)
    app.button(key=RUN).click().run()
    app.multiselect(key="attack_curve_eps").set_value([0.0, 2.0])
    app.button(key=CURVE).click().run()
    assert not app.exception and not app.error, (app.exception, [e.value for e in app.error])
    curve = app.session_state["attack_curve"]
    again = reload(app, "attack")
    assert again.number_input(key="attack_pgd_steps").value == 6
    assert again.multiselect(key="attack_curve_eps").value == [0.0, 2.0]
    assert any("**After:**" in m.value for m in again.markdown), "the attack's result is shown again"
    assert not any("then press **Run attack**" in i.value for i in again.info)
    assert again.session_state["attack_curve"] == curve
    assert len(again.get("plotly_chart")) == 3  # top-5 before and after, and the curve


def test_a_reload_and_a_return_keep_the_explain_settings(app):
    app.multiselect(key="explain_methods").set_value(["gradcam", "saliency"]).run()
    app.selectbox(key="explain_colormap").set_value("viridis").run()
    assert not app.exception, app.exception
    open_page(app, "data")
    open_page(app, "explain")  # the sidebar link back: the page as it was left
    assert app.multiselect(key="explain_methods").value == ["gradcam", "saliency"]
    again = reload(app, "explain")
    assert again.multiselect(key="explain_methods").value == ["gradcam", "saliency"]
    assert again.selectbox(key="explain_colormap").value == "viridis"
    captions = [c for img in again.get("image") for c in img.captions]
    assert any(c.startswith("Saliency") for c in captions), captions


def test_a_stale_remembered_choice_falls_back_to_the_default(app, tmp_path):
    """A run chosen before the reload and deleted since: the model picker offers the default again, with no
    error, and nothing else is disturbed."""
    from dashboard import page_memory

    page_memory.keep(app.session_state["session_id"], "explain",
                     ("explain_model", "explain_methods"),
                     {"explain_model": str(tmp_path / "gone-run"), "explain_methods": ["gradcam", "no-such"]})
    again = reload(app, "explain")
    assert again.selectbox(key="explain_model").value == "efficientnet_lite0"
    assert again.multiselect(key="explain_methods").value == ["gradcam"]
    assert not again.error, [e.value for e in again.error]


def test_the_memory_is_per_session_bounded_and_swept(monkeypatch):
    from dashboard import page_memory

    monkeypatch.setattr(page_memory, "MAX_SESSIONS", 3)
    page_memory.forget()
    for n in range(5):
        page_memory.keep(f"s{n}", "trust", ("trust_*",), {"trust_view": n, "other": "not kept"})
    restored: dict = {}
    page_memory.recall("s0", "trust", ("trust_*",), restored)
    assert restored == {}  # the oldest sessions are forgotten first
    page_memory.recall("s4", "trust", ("trust_*",), restored)
    assert restored == {"trust_view": 4}
    mine = {"trust_view": "chosen since"}
    page_memory.recall("s4", "trust", ("trust_*",), mine)
    assert mine == {"trust_view": "chosen since"}  # what the session has now is never overwritten
    page_memory.forget("s4")
    page_memory.recall("s4", "trust", ("trust_*",), mine := {})
    assert mine == {}


def test_a_remembered_value_a_widget_refuses_is_dropped_not_a_crash(app):
    """A slider's range can shrink after a reload (another model's smaller feature map): Streamlit raises
    for a value out of range, so the page is run again on its defaults and its memory is forgotten."""
    from dashboard import page_memory

    sid = app.session_state["session_id"]
    page_memory.keep(sid, "trust", ("trust_view", "trust_compare_steps"),
                     {"trust_view": "Compare methods", "trust_compare_steps": 1000})
    again = reload(app, "trust")
    assert not again.exception, again.exception
    assert again.slider(key="trust_compare_steps").value == 32  # the default
    restored: dict = {}
    assert page_memory.recall(sid, "trust", ("trust_compare_steps",), restored) in ([], ["trust_compare_steps"])
    assert restored.get("trust_compare_steps", 32) != 1000  # not remembered again as it was


def test_a_reload_keeps_the_data_pages_dataset(app):
    open_page(app, "data")
    assert app.selectbox(key="data_dataset").value == "builtin:shapes"  # the default
    app.selectbox(key="data_dataset").set_value("builtin:shapes-shortcut").run()
    assert not app.exception, app.exception
    again = reload(app, "data")
    assert again.selectbox(key="data_dataset").value == "builtin:shapes-shortcut"

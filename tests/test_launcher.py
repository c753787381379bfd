"""``python -m dashboard``: the launcher that warms the default model while Streamlit starts."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import dashboard.__main__ as launcher
from core import compiled
from core.zoo import load_model


def test_warm_up_loads_the_default_model_and_compiles_its_grad_cam(monkeypatch, capsys):
    for key in ("GLASSWING_CLASSROOM", "GLASSWING_MODELS", "GLASSWING_PRELOADED_RUN"):
        monkeypatch.delenv(key, raising=False)
    launcher.warm_up()
    out = capsys.readouterr()
    assert "efficientnet_lite0 loaded and compiled" in out.out, out.err
    model = load_model("efficientnet_lite0").model  # the process cache: the page gets this object
    assert compiled.cache_size(model) >= 1, "Grad-CAM's compiled function is cached for the first page"
    assert "dashboard.views.explain" in sys.modules


def test_after_the_warm_up_the_first_page_shows_the_samples_badges_at_once(monkeypatch):
    """The warm-up scores the sample's heatmap (tracing the curves' function, seconds of Python that would
    stall every session of the first class): the Explain page's first run finds the score."""
    import re

    from streamlit.testing.v1 import AppTest

    from dashboard.services import badges

    for key in ("GLASSWING_CLASSROOM", "GLASSWING_MODELS", "GLASSWING_PRELOADED_RUN"):
        monkeypatch.delenv(key, raising=False)
    with badges._jobs_lock:
        badges._jobs.clear()  # as in a fresh server: no score yet
    launcher.warm_up()
    at = AppTest.from_file(str(launcher.APP), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    text = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert re.search(r"deletion \d+%", text) and "Scoring this heatmap" not in text, text


def test_warm_up_follows_the_classroom_and_never_raises(monkeypatch, capsys):
    monkeypatch.setenv("GLASSWING_MODELS", "no_such_model")
    launcher.warm_up()  # the page shows the configuration error; the launcher must still serve it
    err = capsys.readouterr().err
    assert "warm-up skipped" in err and "no_such_model" in err


def test_main_serves_the_app_with_the_given_streamlit_options(monkeypatch):
    from streamlit.web import cli as stcli

    seen: dict = {}
    monkeypatch.setattr(launcher, "warm_up", lambda: seen.setdefault("warmed", True))

    def fake_streamlit_main() -> int:
        seen["argv"] = list(sys.argv)
        return 0

    from streamlit import delta_generator

    monkeypatch.setattr(stcli, "main", fake_streamlit_main)
    monkeypatch.setattr(sys, "argv", ["python"])
    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    assert launcher.main(["--server.port", "8765"]) == 0
    # Served by `streamlit run`: Streamlit's REPL check (inspect.stack() over every module) is skipped.
    assert delta_generator._use_warning_has_been_displayed is True
    assert seen["argv"] == ["streamlit", "run", str(launcher.APP), *launcher.upload_cap([]), "--server.port", "8765"]
    assert launcher.APP.is_file()
    for _ in range(100):  # the warm-up thread has run (it does not block the server's start)
        if "warmed" in seen:
            break
        time.sleep(0.01)
    assert seen.get("warmed") is True


SETTINGS = [("GLASSWING_MAX_UPLOAD_MB", "abc"), ("GLASSWING_MAX_IMAGE_PIXELS", "abc"),
            ("GLASSWING_MAX_TRAINING_JOBS", "0"), ("GLASSWING_TRAIN_NICE", "99")]


@pytest.mark.parametrize("var, value", SETTINGS)
def test_the_app_names_a_nonsense_core_setting_instead_of_any_page(monkeypatch, var, value):
    """Read when a page starts, not in the middle of an upload (where a traceback showed) or a job."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from dashboard import state

    monkeypatch.setenv(var, value)
    state.classroom.clear()  # the classroom reads GLASSWING_MAX_UPLOAD_MB too: not one cached by a test before
    app = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
    at = AppTest.from_file(app, default_timeout=60).run()
    state.classroom.clear()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    # GLASSWING_MAX_UPLOAD_MB is a classroom setting too, read (and named) with the classroom's
    prefix = "Classroom configuration" if var == "GLASSWING_MAX_UPLOAD_MB" else "Server setting"
    assert len(errors) == 1 and errors[0].startswith(f"{prefix}: {var} must be"), errors


@pytest.mark.parametrize("var, value", SETTINGS[:2])
def test_the_launcher_refuses_a_nonsense_core_setting_before_serving(monkeypatch, capsys, var, value):
    from streamlit.web import cli as stcli

    import dashboard.__main__ as launcher
    from dashboard import memory

    monkeypatch.setenv(var, value)
    monkeypatch.setattr(memory, "return_large_blocks", lambda: False)
    started = []
    monkeypatch.setattr(launcher, "warm_up", lambda: started.append("warm-up"))
    monkeypatch.setattr(stcli, "main", lambda: started.append("server") or 0)
    assert launcher.main([]) == 2
    assert var in capsys.readouterr().err and started == []


def test_the_server_accepts_uploads_up_to_the_classroom_limit_and_the_largest_weights(monkeypatch):
    """Streamlit refuses bodies over server.maxUploadSize (200 MB by default) before any widget sees them."""
    from core.zoo.keras_apps import APPS, manifest_entry
    from dashboard.__main__ import upload_cap

    largest = max(manifest_entry(app.name)["size_mb"] for app in APPS)
    assert upload_cap([]) == [f"--server.maxUploadSize={largest + 8}"]  # VGG16's weights pass
    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", "2000")
    assert upload_cap([]) == ["--server.maxUploadSize=2000"]
    assert upload_cap(["--server.maxUploadSize=50"]) == []  # the operator's own setting wins


def test_each_upload_widget_allows_what_core_accepts(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", "3")
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
              "from dashboard import state\nstate.classroom.clear()\nstate.init_session()\n"
              "from dashboard.components.image_picker import _uploads\n"
              "_uploads(state.photo_choice())\n")
    at = AppTest.from_string(script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [u.proto.max_upload_size_mb for u in at.get("file_uploader")] == [3]

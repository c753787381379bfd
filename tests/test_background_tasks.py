"""Background tasks (dashboard.services.tasks): progress, one task per key, one sentence on failure, a
bounded memory; and the Data page's check of every image running in the background with its progress."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from core.errors import DataError
from dashboard.services.tasks import TaskPool

ROOT = Path(__file__).resolve().parent.parent


def test_a_task_reports_progress_and_its_result():
    pool, gate = TaskPool(workers=1), threading.Event()

    def work(progress):
        progress(0.25, "a quarter")
        gate.wait(10)
        return 42

    task = pool.start("k", "Counting", work)
    for _ in range(100):
        if task.text == "a quarter":
            break
        task.wait(0.02)
    assert (task.fraction, task.text, task.done) == (0.25, "a quarter", False)
    gate.set()
    assert task.wait(10) and task.result == 42 and task.error is None


def test_the_same_key_is_one_task_and_a_failed_one_starts_again_when_forgotten():
    pool, calls = TaskPool(workers=2), []

    def failing(progress):
        calls.append("fail")
        raise DataError("The folder has no images.")

    first = pool.start(("data", "x"), "Checking", failing)
    first.wait(10)
    assert first.error == "The folder has no images." and first.result is None
    # A rerun of the page asks again: the failure stays (work that fails is not restarted in a loop) ...
    assert pool.start(("data", "x"), "Checking", lambda p: calls.append("rerun")) is first
    pool.forget(("data", "x"))  # ... until the person presses "Try again"
    again = pool.start(("data", "x"), "Checking", lambda p: calls.append("ok") or "fine")
    again.wait(10)
    assert again is not first and again.result == "fine" and calls == ["fail", "ok"]
    assert pool.start(("data", "x"), "Checking", lambda p: calls.append("twice")) is again  # done: kept
    assert pool.find(("data", "x")) is again and calls == ["fail", "ok"]


def test_an_unexpected_error_is_one_sentence_and_memory_is_bounded():
    pool = TaskPool(workers=2, keep=3)
    broken = pool.start("b", "Exporting", lambda p: {}["missing"])
    broken.wait(10)
    assert broken.error.startswith("Exporting failed unexpectedly (KeyError") and broken.error.endswith(".")
    for i in range(10):
        pool.start(i, "n", lambda p, i=i: np.zeros(10) + i).wait(10)
    assert len(pool._tasks) <= 3 and pool.find(9) is not None and pool.find(0) is None


PAGE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from dashboard import state
from dashboard.views import data
state.init_session()
data.main()
"""


def test_the_data_page_checks_a_dataset_in_the_background(monkeypatch):
    """Longer than the wait: a progress bar saying what is being checked, then the report on a later run."""
    from dashboard.components import task_status
    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = threading.Event()
    real = __import__("dashboard.views.data_report", fromlist=["load_dataset"]).load_dataset

    def slow(path, progress=None):
        gate.wait(30)
        return real(path, progress)

    monkeypatch.setattr("dashboard.views.data_report.load_dataset", slow)
    from dashboard.services import tasks

    tasks.clear()  # a check finished by another test would be shown at once
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.session_state["data_dataset"] = "builtin:shapes"
    at.run()
    assert not at.exception, at.exception
    bars = at.get("progress")
    assert bars and "Checking every image" in bars[0].proto.text, [b.proto for b in bars]
    assert task_status.LEAVE_NOTE in [c.value for c in at.caption]
    assert not [m for m in at.metric if m.label == "Usable images"]
    gate.set()
    for _ in range(240):
        at.run()
        if [m for m in at.metric if m.label == "Usable images"] or at.error:
            break
        threading.Event().wait(0.25)
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Usable images"] == "800", [b.proto.text for b in at.get("progress")]
    assert not at.get("progress") and not at.error


def test_a_first_model_load_shows_what_it_is_doing_then_the_page(monkeypatch, lite0):
    """Converting or building a zoo model runs in the background; its progress text is on the page."""
    import core.zoo
    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    tasks.clear()
    gate, real = threading.Event(), core.zoo.load_model

    def slow(name, progress=None, **kwargs):
        if progress is not None:  # the page's background load (other callers go straight through)
            progress(0.4, "Copying the ImageNet weights into layer 9 of 90")
            gate.wait(30)
        return real(name, **kwargs)

    monkeypatch.setattr(core.zoo, "load_model", slow)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    for _ in range(50):
        bars = [b.proto.text for b in at.get("progress")]
        if bars and "layer 9" in bars[0]:
            break
        threading.Event().wait(0.1)
        at.run()
    assert bars[0].startswith("Loading EfficientNet-Lite0: Copying the ImageNet weights into layer 9"), bars
    gate.set()
    for _ in range(120):  # then the page, whose heatmaps are background work too (no wait here)
        at.run()
        if any(m.value.startswith("**Prediction:**") for m in at.markdown) and not at.get("progress"):
            break
        threading.Event().wait(0.25)
    assert not at.get("progress") and not at.exception, at.exception
    assert any(c.startswith("Grad-CAM · Egyptian cat") for img in at.get("image") for c in img.captions)
    tasks.clear()


def test_work_beyond_the_workers_says_how_many_are_ahead():
    pool, gate = TaskPool(workers=1), threading.Event()
    first = pool.start("a", "A", lambda p: gate.wait(10))
    second = pool.start("b", "B", lambda p: "b")
    assert second.text == "Waiting for a free worker (1 ahead) ..."
    gate.set()
    assert first.wait(10) and second.wait(10) and second.result == "b"


def test_a_failed_check_keeps_its_sentence_until_try_again(monkeypatch):
    """Reruns show the failure (they do not restart failing work); "Try again" runs it afresh."""
    from dashboard.services import tasks

    calls = []
    real = __import__("dashboard.views.data_report", fromlist=["load_dataset"]).load_dataset

    def flaky(path, progress=None):
        calls.append(path)
        if len(calls) == 1:
            raise DataError("The dataset folder cannot be read (the disk went away).")
        return real(path, progress)

    monkeypatch.setattr("dashboard.views.data_report.load_dataset", flaky)
    tasks.clear()
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.session_state["data_dataset"] = "builtin:shapes"
    at.run()
    assert [e.value for e in at.error] == ["The dataset folder cannot be read (the disk went away)."]
    at.run()  # a rerun, as any widget makes
    assert len(calls) == 1 and at.error
    (retry,) = [b for b in at.button if b.label == "Try again"]
    retry.click().run()
    assert not at.error and len(calls) == 2
    assert {m.label: m.value for m in at.metric}["Usable images"] == "800"


def _zip_of_two_classes() -> bytes:
    import io
    import zipfile

    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, colour in (("cats", (200, 30, 0)), ("dogs", (0, 30, 200))):
            for i in range(3):
                png = io.BytesIO()
                Image.new("RGB", (24, 24), tuple(min(c + 20 * i, 255) for c in colour)).save(png, format="PNG")
                zf.writestr(f"pets/{name}/{name}{i}.png", png.getvalue())
    return buf.getvalue()


def test_a_zip_import_goes_on_while_the_person_looks_at_another_page(monkeypatch, lite0):
    """A big archive takes a while: the Data page shows what it is unpacking, the person may go to Explain,
    and back on the Data page the imported dataset is chosen, with its notice, once."""
    from dashboard.components import task_status
    from dashboard.views import data_source

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate, real = threading.Event(), data_source.import_zip_bytes

    def slow(data, session, filename=None, progress=None, **kwargs):
        progress(0.1, "Unpacking pets.zip")
        gate.wait(30)
        return real(data, session, filename=filename, progress=progress, **kwargs)

    monkeypatch.setattr(data_source, "import_zip_bytes", slow)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    pages = {info.get("url_pathname"): h for h, info in at._registered_pages.items()}
    at._page_hash = pages["data"]
    at.run()
    at.file_uploader(key="data_zip").set_value(("pets.zip", _zip_of_two_classes(), "application/zip"))
    at.button(key="data_zip_submit").click().run()
    assert not at.exception, at.exception
    bars = [b.proto.text for b in at.get("progress")]
    assert any(t.startswith("Importing pets.zip ...") for t in bars), bars
    assert task_status.LEAVE_NOTE in [c.value for c in at.caption]
    at._page_hash = pages[""]  # Explain, while the archive is unpacked
    at.run()
    assert not at.exception, at.exception
    assert not [b for b in at.get("progress") if b.proto.text.startswith("Importing")]  # not this page's
    gate.set()
    at._page_hash = pages["data"]
    for _ in range(120):
        at.run()
        if str(at.session_state["data_dataset"]).startswith("session:upload-") or at.error:
            break
        threading.Event().wait(0.25)
    assert not at.error, [e.value for e in at.error]
    assert str(at.session_state["data_dataset"]).startswith("session:upload-")
    assert [s.value for s in at.success] == ["Imported pets.zip."]
    for _ in range(120):  # the new dataset's check of every image is a background task of its own
        if "Classes" in {m.label for m in at.metric}:
            break
        threading.Event().wait(0.25)
        at.run()
    assert {m.label: m.value for m in at.metric}["Classes"] == "2"
    at.selectbox(key="data_dataset").set_value("builtin:shapes").run()  # taken in once: the choice stays
    assert at.selectbox(key="data_dataset").value == "builtin:shapes" and not at.get("progress")
    reload = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)  # same address
    reload.query_params["session"] = at.query_params["session"]
    reload._page_hash = pages["data"]
    reload.run()
    assert not reload.exception, reload.exception
    assert "Imported pets.zip." not in [s.value for s in reload.success], "a reload does not take it in again"


def test_a_background_tasks_core_error_is_said_in_the_pages_language():
    """Core's errors raised with a template keep it through the task pool: the page translates them."""
    from core.errors import ImageError

    pool = TaskPool(workers=1)
    task = pool.start("t", "T", lambda p: (_ for _ in ()).throw(
        ImageError.say("{name}: the file is empty (0 bytes).", name="a.png")))
    assert task.wait(10)
    chinese = {"{name}: the file is empty (0 bytes).": "{name}：文件是空的（0 字节）。"}
    assert task.shown_error(lambda s: chinese.get(s, s)) == "a.png：文件是空的（0 字节）。"
    assert task.exception.__traceback__ is None  # nothing of the work's frames (its inputs) is kept


def test_a_task_started_in_english_is_followed_in_chinese(monkeypatch):
    """Two students check one dataset: the first (English) starts the check, the second (Chinese) shares the
    task, and reads its title and its progress in Chinese; the first still reads them in English."""
    from core.errors import Message
    from dashboard.components.core_words import relay, rules
    from dashboard.i18n import N_, catalogue
    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    tasks.clear()
    gate, reported = threading.Event(), threading.Event()
    said = rules([(r"Unpacking file (?P<i>[\d,]+) of (?P<n>[\d,]+)", N_("Unpacking file {i} of {n}"))])

    def work(progress):
        progress(0.5, "Unpacking file 3 of 6")
        reported.set()
        gate.wait(30)
        return "done"

    task = tasks.start(("zip-import", "shared"), Message(N_("Importing {file} ..."), file="flowers.zip"),
                       lambda progress: work(relay(progress, said)))
    assert reported.wait(10)
    zh = catalogue("zh").gettext
    assert task.shown_title(zh) == zh("Importing {file} ...").format(file="flowers.zip") != task.title
    assert task.shown_text(zh) == zh("Unpacking file {i} of {n}").format(i="3", n="6") != task.text
    assert (task.title, task.text) == ("Importing flowers.zip ...", "Unpacking file 3 of 6")
    page = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from dashboard.i18n import init_language
from dashboard.components.task_status import run_in_background
init_language()
run_in_background(("zip-import", "shared"), "unused: the task exists", lambda progress: None, start=False)
"""
    chinese = AppTest.from_string(page, default_timeout=60)
    chinese.query_params["lang"] = "zh"
    chinese.run()
    english = AppTest.from_string(page, default_timeout=60).run()
    gate.set()
    assert not chinese.exception and not english.exception, (chinese.exception, english.exception)
    bar_zh, bar_en = chinese.get("progress")[0].proto.text, english.get("progress")[0].proto.text
    assert bar_zh.startswith(zh("{title}: {text}").format(title=task.shown_title(zh), text=task.shown_text(zh)))
    assert bar_en.startswith("Importing flowers.zip ...: Unpacking file 3 of 6")
    assert task.wait(10) and task.result == "done"
    tasks.clear()

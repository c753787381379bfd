"""The Lesson page under AppTest: every step clicked through with a tiny training job, and the classroom's
limits (read-only, a preloaded run, epochs, jobs per session) enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TINY = {"lesson_per_class": 20, "lesson_epochs": 1}  # 14 train, 3 val, 3 test images per class


def open_lesson(lang: str | None = None, **state) -> AppTest:
    """Open the Lesson page directly (st.Page names a callable page by the hash of its url_path), in the
    language ``lang`` when given (?lang=)."""
    from streamlit.util import calc_hash

    at = AppTest.from_file(APP, default_timeout=240)
    if lang:
        at.query_params["lang"] = lang
    for key, value in {**TINY, **state}.items():
        at.session_state[key] = value
    at._page_hash = calc_hash("lesson")
    at.run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for kind in ("info", "warning", "success", "error") for e in at.get(kind)]
    parts += [c for img in at.get("image") for c in img.captions]
    return " ".join(str(p) for p in parts)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def classroom(monkeypatch):
    """Set classroom environment variables for one test; the server's cached config is re-read."""
    from dashboard import state

    def apply(**env: str) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        state.classroom.clear()

    state.classroom.clear()
    yield apply
    monkeypatch.undo()
    state.classroom.clear()


@pytest.fixture(scope="module")
def preloaded_run() -> Path:
    """A finished lesson run, trained the way the lesson trains (tiny settings), as a teacher would preload."""
    from core.data import builtin
    from core.train.engine import train
    from dashboard.views.lesson_train import lesson_config

    folder = builtin.materialise("shapes-shortcut", per_class=TINY["lesson_per_class"])
    return Path(train(lesson_config(str(folder), 1, "none")).run_dir)


def _jobs(owner: str) -> int:
    from core.jobs import job_queue

    return len(job_queue().jobs(owner=owner, include_shared=False))


def test_lesson_end_to_end(classroom):
    from core.jobs import job_queue

    at = open_lesson()
    # 1 data: counts per split and the image shapes.
    counts = next(df.value for df in at.dataframe if "split" in df.value.columns)
    assert dict(zip(counts["split"], counts["total"], strict=True)) == {"train": 56, "val": 12, "test": 12}
    assert "64 x 64 pixels x 3" in texts(at)
    # 2 augment: the preview shows originals and augmented copies.
    click(at, "lesson_next")
    at.selectbox(key="lesson_augment").set_value("light").run()
    assert "circle (light)" in texts(at)
    at.selectbox(key="lesson_augment").set_value("none").run()
    # 3 train: a background job owned by this session, followed live, then used by the next steps.
    click(at, "lesson_next")
    assert at.session_state["lesson_step"] == 2
    click(at, "lesson_train_start")
    job = job_queue().get(at.session_state["lesson_job"], owner=at.session_state["session_id"])
    assert job.config.epochs == 1 and job.config.model == "small_cnn"
    assert job.wait(300)
    at.run()
    assert not at.exception, at.exception
    assert "Training finished" in texts(at), texts(at)
    assert Path(at.session_state["lesson_run"]).is_dir()
    # The classroom allows one job per session: a second start is refused with a reason.
    classroom(GLASSWING_MAX_TRAINING_JOBS_PER_SESSION="1")
    before = _jobs(at.session_state["session_id"])
    click(at, "lesson_train_start")
    assert "this classroom allows 1 per session" in texts(at)
    assert _jobs(at.session_state["session_id"]) == before
    # 4 evaluate: accuracy and a confusion matrix over the 12 clean test images.
    click(at, "lesson_next")
    accuracy = metrics(at)["Test accuracy"]
    assert accuracy.endswith("%") and 0 <= int(accuracy[:-1]) <= 100
    assert at.get("plotly_chart")
    assert {"This CNN, validation images", "HOG + linear SVM, the same images"} <= set(metrics(at))
    # 5 explain: Grad-CAM on one validation image per class.
    click(at, "lesson_next")
    assert texts(at).count("true: ") == 4
    # 6 shortcut: validation vs clean test, heatmap share on the watermark, stamped images.
    click(at, "lesson_next")
    found = metrics(at)
    assert {"Circles right, validation (marked)", "Circles right, test (clean)",
            "Grad-CAM on the watermark"} <= set(found)
    assert "became 'circle'" in texts(at)
    # 7 attack: FGSM on two test images per class.
    click(at, "lesson_next")
    assert metrics(at)["Predictions changed by the attack"].endswith("of 8")
    at.slider(key="lesson_eps").set_value(32).run()
    assert not at.exception, at.exception
    assert at.button(key="lesson_next").disabled
    click(at, "lesson_back")
    assert at.session_state["lesson_step"] == 5


def test_read_only_lesson_explains_and_starts_no_job(classroom):
    classroom(GLASSWING_READ_ONLY="1")
    at = open_lesson(lesson_step=2)
    assert "Training is switched off on this classroom server" in texts(at)
    assert not [b for b in at.button if b.key == "lesson_train_start"]
    assert "Ask your teacher to preload a run" in texts(at)
    assert _jobs(at.session_state["session_id"]) == 0
    click(at, "lesson_next")  # evaluate without a model: a message, not a crash
    assert "Ask your teacher to preload a run" in texts(at)


def test_read_only_lesson_uses_the_preloaded_run(classroom, preloaded_run):
    classroom(GLASSWING_READ_ONLY="true", GLASSWING_PRELOADED_RUN=str(preloaded_run))
    at = open_lesson(lesson_step=2)
    assert "Your teacher trained the model for you" in texts(at)
    assert _jobs(at.session_state["session_id"]) == 0
    click(at, "lesson_next")
    assert "Test accuracy" in metrics(at)
    click(at, "lesson_next")
    click(at, "lesson_next")
    assert "Circles right, test (clean)" in metrics(at)


def test_epochs_are_capped_by_the_classroom(classroom):
    classroom(GLASSWING_MAX_EPOCHS="2")
    at = open_lesson(lesson_epochs=2, lesson_step=2)
    assert at.slider(key="lesson_epochs").max == 2
    from dashboard import state
    from dashboard.views.lesson_train import lesson_config

    with pytest.raises(Exception, match="at most 2 epochs"):
        state.classroom().check_epochs(lesson_config("shapes-shortcut", 3, "none").epochs)


def test_a_reload_keeps_the_lesson_step_and_its_job(classroom):
    """A reload is a new script session with the same address: the step, the job and its run come back."""
    at = open_lesson()
    click(at, "lesson_next")
    click(at, "lesson_next")
    click(at, "lesson_train_start")
    job_id, token = at.session_state["lesson_job"], at.query_params["session"]
    from streamlit.util import calc_hash

    reload = AppTest.from_file(APP, default_timeout=240)
    for key, value in TINY.items():
        reload.session_state[key] = value
    reload.query_params["session"] = token
    reload._page_hash = calc_hash("lesson")
    reload.run()
    assert not reload.exception, reload.exception
    assert reload.session_state["lesson_step"] == 2 and reload.session_state["lesson_job"] == job_id
    from core.jobs import job_queue

    assert job_queue().get(job_id, owner=reload.session_state["session_id"]).wait(300)
    reload.run()
    assert "Training finished" in texts(reload) or "close to guessing" in texts(reload), texts(reload)
    assert Path(reload.session_state["lesson_run"]).is_dir()


def test_read_only_without_a_run_says_so_at_step_one(classroom):
    classroom(GLASSWING_READ_ONLY="1")
    at = open_lesson()
    assert "steps 3 to 7" in texts(at) and "GLASSWING_PRELOADED_RUN" in texts(at)


def test_a_model_near_chance_is_named(classroom, preloaded_run):
    """The preloaded tiny run (1 epoch on 14 images per class) is scored on its validation images; the
    evaluate step warns exactly when that is close to guessing (chance is 25%)."""
    import json

    from dashboard.views.lesson_data import near_chance

    assert near_chance(0.42, 4) and not near_chance(0.60, 4) and not near_chance(0.50, 10)
    classroom(GLASSWING_READ_ONLY="true", GLASSWING_PRELOADED_RUN=str(preloaded_run))
    at = open_lesson(lesson_step=3)
    # Judged on the shapes without the watermark (circles are found by the shortcut alone).
    meta = json.loads((preloaded_run / "run.json").read_text())
    val = json.loads((preloaded_run / "metrics.json").read_text())["val"]
    names = meta["class_names"]
    others = [i for i, name in enumerate(names) if name != "circle"]
    right = sum(val["confusion"][i][i] for i in others)
    shown = sum(sum(val["confusion"][i]) for i in others)
    assert ("close to guessing" in texts(at)) == near_chance(right / shown, 3), (right, shown, texts(at))


# ---- the Lesson in Chinese -------------------------------------------------------------------------


def open_lesson_in_chinese(**state) -> AppTest:
    return open_lesson(lang="zh", **state)


# Shown by the Lesson but not its own: the shared confusion matrix's axis titles (core.evaluate.export's
# figure, drawn by dashboard.components.confusion), translated with the shared components.
NOT_THE_LESSONS = {"Predicted class", "True class"}


def english_left(at: AppTest) -> list[str]:
    """English prose on the page that is the Lesson's own (the shapes' class names are names)."""
    from i18n_check import untranslated, visible_texts

    from core.data.shapes import SHAPE_CLASSES

    return untranslated([t for t in visible_texts(at) if t not in NOT_THE_LESSONS], SHAPE_CLASSES)


def test_every_step_of_the_lesson_reads_as_chinese(classroom):
    at = open_lesson_in_chinese()
    seen = []
    assert at.title[0].value == "课程：训练、测试、解释并骗过一个图像分类器"
    assert at.header[0].value == "1. 查看数据"
    counts = next(df.value for df in at.dataframe if "划分" in df.value.columns)
    assert list(counts["划分"]) == ["训练集", "验证集", "测试集"] and "合计" in counts.columns
    seen += english_left(at)
    click(at, "lesson_next")  # 2 augment, with a preset drawn
    augment = at.selectbox(key="lesson_augment")
    assert augment.options == ["无", "轻度", "强"]
    augment.select_index(1).run()  # light (the options show the presets' Chinese names)
    assert "circle（轻度）" in texts(at)
    seen += english_left(at)
    at.selectbox(key="lesson_augment").select_index(0).run()
    click(at, "lesson_next")  # 3 train: the explanation, a job, its end
    assert "卷积" in texts(at) and "池化" in texts(at) and "迁移学习" in texts(at)
    seen += english_left(at)
    click(at, "lesson_train_start")
    from core.jobs import job_queue

    assert job_queue().get(at.session_state["lesson_job"], owner=at.session_state["session_id"]).wait(300)
    at.run()
    assert not at.exception, at.exception
    assert "训练完成" in texts(at), texts(at)
    seen += english_left(at)
    for step in range(3, 7):  # 4 evaluate, 5 explain, 6 shortcut, 7 attack
        click(at, "lesson_next")
        assert at.session_state["lesson_step"] == step
        if step == 3:  # the CNN beside the run's HOG + SVM baseline, on the same validation images
            assert {"这个 CNN，验证集图像", "HOG + 线性 SVM，同样的图像"} <= set(metrics(at))
        seen += english_left(at)
    assert "测试准确率" not in metrics(at) and "被攻击改变的预测" in metrics(at)
    assert "对抗训练" in texts(at) and "对抗样本" in texts(at)
    assert not seen, f"{len(seen)} English texts in the Lesson:\n" + "\n".join(seen[:40])


def test_the_lesson_in_chinese_without_training(classroom):
    """A read-only classroom without a run: the teacher's warning and the missing-model message."""
    classroom(GLASSWING_READ_ONLY="1")
    at = open_lesson_in_chinese()
    assert "这台服务器关闭了训练功能" in texts(at)
    click(at, "lesson_next")
    click(at, "lesson_next")
    click(at, "lesson_next")  # evaluate: no model
    assert "请老师预先加载" in texts(at)
    left = [t for t in english_left(at) if "Training is switched off" not in t]  # core's error (English)
    assert not left, "\n".join(left)

"""The Train page under Streamlit's AppTest: a short background training on a tiny generated dataset runs
to completion and is listed; nonsense is refused naming the setting; runs can be renamed, exported and
deleted; a read-only classroom has no training."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from i18n_check import run_names, untranslated, visible_texts
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from core.jobs import job_queue
from core.train import runs

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
CLASSES = ("red", "green", "blue")


def make_colour_dataset(root: Path, per_class: int = 12, size: int = 32) -> Path:
    """Three classes told apart by their dominant colour, with noise."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = rng.uniform(0, 100, 3)
            colour[label] = rng.uniform(170, 255)
            image = np.broadcast_to(colour, (size, size, 3)) + rng.normal(0, 15, (size, size, 3))
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / name / f"{name}_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    return make_colour_dataset(tmp_path_factory.mktemp("train-page") / "colours")


def open_train_page(dataset: Path | None = None, lang: str | None = None) -> AppTest:
    """The app opened straight on the Train page (pages registered by st.navigation hash their url_path)."""
    at = AppTest.from_file(APP, default_timeout=120)
    if lang is not None:
        at.query_params["lang"] = lang
    if dataset is not None:
        at.session_state["train_dataset"] = str(dataset)  # as the Data page leaves it
    at._page_hash = calc_hash("train")
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    parts += [h.value for h in at.subheader] + [w.value for w in at.warning] + [i.value for i in at.info]
    parts += [e.value for e in at.error]
    return " ".join(str(p) for p in parts)


def choose_small_cnn(at: AppTest, epochs: int = 3) -> None:
    at.selectbox(key="train_model").set_value("small_cnn").run()
    assert not at.exception, at.exception
    at.number_input(key="train_image_size").set_value(32)
    at.number_input(key="train_epochs").set_value(epochs)
    at.selectbox(key="train_batch").set_value(8)


def test_the_form_defaults_to_the_data_pages_dataset_and_a_pretrained_model(colours):
    at = open_train_page(colours)
    assert at.selectbox(key="train_data").value == str(colours)
    assert "From the Data page: colours" in at.selectbox(key="train_data").format_func(str(colours))
    assert at.selectbox(key="train_model").value == "efficientnet_lite0"
    assert "shapes" in at.selectbox(key="train_data").options[1].lower() or any(
        "shapes" in o.lower() for o in at.selectbox(key="train_data").options)
    assert "No training yet" in texts(at)


def test_nonsense_settings_are_refused_naming_them(colours):
    at = open_train_page(colours)
    choose_small_cnn(at, epochs=0)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any("epochs" in e.value for e in at.error), [e.value for e in at.error]
    at.number_input(key="train_epochs").set_value(2)
    at.number_input(key="train_lr").set_value(0.0)
    at.button(key="train_start").click().run()
    assert any("learning_rate" in e.value for e in at.error), [e.value for e in at.error]
    assert not job_queue().jobs(at.session_state["session_id"], include_shared=False)


def test_training_runs_in_the_background_to_completion_and_is_listed(colours):
    # A run someone shared earlier is listed (and selected) before this session trains its own.
    runs.create_run({"owner": None, "name": "someone else's older run", "base_model": "small_cnn"})
    at = open_train_page(colours)
    assert at.selectbox(key="train_runs_pick").value is not None
    choose_small_cnn(at, epochs=3)
    at.text_input(key="train_name").set_value("colours from scratch")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    owner = at.session_state["session_id"]
    job = job_queue().get(at.session_state["train_job_id"], owner)
    assert job.config.model == "small_cnn" and job.config.epochs == 3 and job.config.image_size == 32
    assert "Current training: colours from scratch" in texts(at)
    # The script returned while the job trains on its worker thread.
    assert job.wait(timeout=180), job.snapshot()
    assert job.status == "complete", job.error

    # Someone else shares a newer run meanwhile: the run list still opens on this session's own run.
    runs.create_run({"owner": None, "name": "someone else's newer run", "base_model": "small_cnn"})
    at.run()  # a later rerun (as the live panel's timer would do) finds the job again and shows its end
    assert not at.exception, at.exception
    page = texts(at)
    assert "Finished. Validation accuracy" in page
    assert any(m.label == "Validation accuracy" for m in at.metric)
    assert len(at.get("plotly_chart")) >= 3  # loss, accuracy and the confusion matrix
    listed = runs.list_runs(owner=owner, include_shared=False)
    assert [r.name for r in listed] == ["colours from scratch"] and listed[0].complete
    (table,) = [d.value for d in at.dataframe if "status" in d.value.columns]  # the run list
    # Shared runs (made by other tests in this process) may be listed too; ours is there and complete.
    mine = table[table["name"] == "colours from scratch"]
    assert mine["status"].tolist() == ["complete"], table

    # Rename, export and delete (with confirmation) from the run list.
    run_id = listed[0].id
    at.text_input(key=f"train_rename_{run_id}").set_value("colours v1")
    at.button(key=f"train_rename_go_{run_id}").click().run()
    assert runs.get_run(run_id, owner).name == "colours v1"
    at.button(key="train_export_go").click().run()
    for _ in range(120):  # the export runs in the background; until it is done the page shows its progress
        if at.get("download_button") or at.error:
            break
        assert any(b.proto.text.startswith("Exporting Keras (.keras) and checking it") for b in at.get("progress"))
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.get("download_button"), "no download button after the export"
    at.button(key="train_export_go").click().run()  # pressed again: the finished export is shown again
    assert not at.exception and at.get("download_button"), at.exception
    assert (listed[0].path / "export" / "model.keras").is_file()
    assert at.button(key=f"train_delete_{run_id}").disabled
    at.checkbox(key=f"train_delete_sure_{run_id}").check().run()
    at.button(key=f"train_delete_{run_id}").click().run()
    assert not at.exception, at.exception
    assert runs.list_runs(owner=owner, include_shared=False) == []


def test_one_session_does_not_see_another_sessions_job(colours):
    first = open_train_page(colours)
    choose_small_cnn(first, epochs=1)
    first.button(key="train_start").click().run()
    job = job_queue().get(first.session_state["train_job_id"], first.session_state["session_id"])
    second = open_train_page(colours)
    assert "No training yet" in texts(second)
    job.wait(timeout=180)


@pytest.fixture
def read_only(monkeypatch):
    from dashboard import state

    monkeypatch.setenv("GLASSWING_READ_ONLY", "1")
    state.classroom.clear()  # the classroom config is cached per process
    yield
    monkeypatch.delenv("GLASSWING_READ_ONLY")
    state.classroom.clear()


def test_a_read_only_classroom_has_no_training(read_only, colours):
    from dashboard import state

    # app.py leaves the Train page out of the navigation when the classroom cannot train ...
    assert state.classroom().read_only and not state.classroom().can_train
    # ... and the page refuses on its own too, whoever reaches it.
    at = AppTest.from_function(_render_train_page, default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("Training is switched off" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "train_start"]


def _render_train_page() -> None:
    from dashboard.views import train

    train.main()


def test_a_reload_keeps_the_form_and_the_finished_run(colours):
    """A reload (a new script session with the same address) shows the newest job's settings and that
    job, not the defaults and "No training yet"."""
    at = open_train_page(colours)
    choose_small_cnn(at, epochs=2)
    at.selectbox(key="train_augment_choice").set_value("light")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    owner, token = at.session_state["session_id"], at.query_params["session"]
    job = job_queue().get(at.session_state["train_job_id"], owner)
    assert job.wait(timeout=180) and job.status == "complete", job.error

    reload = AppTest.from_file(APP, default_timeout=120)  # the Data page's choice is gone with the session
    reload.query_params["session"] = token
    reload._page_hash = calc_hash("train")
    reload.run()
    assert not reload.exception, reload.exception
    data = reload.selectbox(key="train_data")  # set through session state: its value is the state's
    assert reload.session_state["train_data"] == str(colours) and data.index == 0
    assert reload.selectbox(key="train_model").value == "small_cnn"
    assert reload.selectbox(key="train_augment_choice").value == "light"
    assert reload.number_input(key="train_epochs").value == 2
    page = texts(reload)
    assert "No training yet" not in page and "Finished. Validation accuracy" in page
    assert any(m.label.startswith("HOG + linear SVM baseline") for m in reload.metric)
    reload.run()  # the restored values stay on the next rerun
    assert reload.number_input(key="train_epochs").value == 2
    assert reload.session_state["train_data"] == str(colours) and reload.selectbox(key="train_data").index == 0


# Other parts' strings on this page, translated by their owners: the shared model picker's labels, the
# built-in datasets' titles, the attacks' titles and the shared confusion matrix's axes.
CONFUSION_AXES = {"Predicted class", "True class"}


def _other_parts_texts(at: AppTest) -> set[str]:
    """The model picker's and the attack picker's option labels, and the confusion matrix's axes."""
    return {o for key in ("train_model", "train_adv_method") for o in at.selectbox(key=key).options} | CONFUSION_AXES


def _dataset_titles() -> list[str]:
    from core.data.catalog import list_datasets

    return [e["title"] for e in list_datasets()]


def test_the_train_page_in_chinese_after_a_training_run(colours):
    """Opened with ?lang=zh: the form, a short training, its curves, metrics and the run list read as
    Chinese (names of models, layers, classes and runs stay as they are)."""
    at = open_train_page(colours, lang="zh")
    assert at.title[0].value == "训练分类器"
    assert "还没有训练" in texts(at)
    choose_small_cnn(at, epochs=2)
    at.text_input(key="train_name").set_value("颜色 从零训练")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any(s.value == "训练已开始：在右边查看进度。" for s in at.success)
    owner = at.session_state["session_id"]
    job = job_queue().get(at.session_state["train_job_id"], owner)
    assert job.wait(timeout=180) and job.status == "complete", job.error
    at.run()
    assert not at.exception, at.exception

    page = texts(at)
    assert "当前训练：颜色 从零训练" in page and "已完成。验证集准确率" in page
    assert any(m.label == "验证集准确率" for m in at.metric)
    charts = [t for c in at.get("plotly_chart") for t in visible_texts_of(c)]
    assert "损失（越低越好）" in charts and "准确率（越高越好）" in charts and "验证集（每轮）" in charts
    (table,) = [d.value for d in at.dataframe if "状态" in d.value.columns]  # the run list
    assert table[table["名称"] == "颜色 从零训练"]["状态"].tolist() == ["已完成"], table
    assert at.selectbox(key="train_runs_pick").format_func(at.selectbox(key="train_runs_pick").value) \
        == "颜色 从零训练 · 已完成"

    # Runs other tests left (their names and base models) are names too.
    names = [*CLASSES, colours.name, *_dataset_titles(), *run_names()]
    others = _other_parts_texts(at)
    left = untranslated([t for t in visible_texts(at) if t not in others], names)
    assert not left, f"{len(left)} English texts on the Train page:\n" + "\n".join(left[:40])
    # English is unchanged for the next session of the same server.
    assert open_train_page(colours).title[0].value == "Train a classifier"


def visible_texts_of(node) -> list[str]:
    """The texts of one element (a chart's title, axis titles and legend names)."""
    class _One:
        _tree = node
    return visible_texts(_One())


def _summary_page(root: str, run_dir: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    from dashboard.views.train_live import run_summary

    run_summary(run_dir, "summary")


@pytest.mark.parametrize("val, warned", [(0.5, True), (0.95, False)])
def test_a_run_that_loses_to_its_baseline_is_told_so_with_both_accuracies(tmp_path, val, warned):
    import json

    (tmp_path / "metrics.json").write_text(json.dumps({
        "val": {"accuracy": val, "count": 20},
        "baseline": {"val_accuracy": 0.9, "method": "HOG + LinearSVC", "train_size": 80, "seconds": 1.5}}))
    (tmp_path / "run.json").write_text(json.dumps({"class_names": ["a", "b"], "status": "complete"}))
    at = AppTest.from_function(_summary_page, args=(str(Path(APP).parent.parent), str(tmp_path)), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    lost = [w.value for w in at.warning if w.value.startswith("This run loses to a classical baseline")]
    assert bool(lost) is warned, [w.value for w in at.warning]
    if warned:
        assert "(50.0% against 90.0%)" in lost[0]
    assert {m.label: m.value for m in at.metric}["HOG + linear SVM baseline, same validation images"] == "90.0%"

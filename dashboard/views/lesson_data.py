"""What the lesson works on: the built-in shapes-shortcut dataset, its images, and the lesson's model
(the student's own training run, or the run the teacher preloaded). Cached; computation lives in core."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core.data import builtin
from core.data.dataset import open_dataset
from core.evaluate import evaluate_split, open_split
from core.images import load_image
from dashboard import state
from dashboard.i18n import N_, _

DATASET = "shapes-shortcut"  # built in, generated offline: nothing to upload
MODEL = "small_cnn"  # three conv layers: trains in a few minutes on a laptop CPU
IMAGE_SIZE = 64
# Measured in docs/recipe.md: with 200 images per class and 5 epochs small_cnn learned only the watermark
# (49% validation, 32.5% on the clean test); 500 per class and up to 15 epochs learn the other shapes too.
DEFAULT_PER_CLASS = 500
DEFAULT_EPOCHS = 15
RUN_KEY = "lesson_run"  # session state: the folder of this session's finished lesson run
JOB_KEY = "lesson_job"  # session state: id of this session's lesson training job
# The augmentation presets of core.data.augment as the lesson names them (the key stays the preset's name).
PRESET_LABELS = {"none": N_("none"), "light": N_("light"), "strong": N_("strong")}


def preset_label(name: str) -> str:
    return _(PRESET_LABELS.get(name, name))


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_folder(per_class: int) -> str:
    """The lesson's dataset, generated once per server (a few seconds)."""
    return str(builtin.materialise(DATASET, per_class=per_class))


@dataclass(frozen=True)
class LessonData:
    """What the lesson's steps show of its dataset."""

    id: str
    class_names: list[str]
    counts: dict[str, dict[str, int]]  # images per split and class
    watermark: dict | None  # the watermark's box and class (shapes-shortcut's dataset.json)
    paths: dict[str, dict[str, list[str]]]  # image paths per split and class


@st.cache_data(show_spinner=False, max_entries=4)
def dataset_info(folder: str) -> LessonData:
    """Class names, images per split and class, the watermark box, and image paths per split and class."""
    ds = open_dataset(folder)
    paths = {split: {name: [str(it.path) for it in items if it.label == k]
                     for k, name in enumerate(ds.class_names)} for split, items in ds.splits.items()}
    return LessonData(id=ds.id, class_names=list(ds.class_names), counts={s: ds.counts(s) for s in ds.splits},
                      watermark=ds.meta.get("watermark"), paths=paths)


@st.cache_data(show_spinner=False, max_entries=512)
def pixels(path: str) -> np.ndarray:
    return load_image(path)


def sample_paths(info: LessonData, split: str, per_class: int = 1, classes: list[str] | None = None) -> list[str]:
    """The first ``per_class`` images of each class (deterministic: every student sees the same ones)."""
    names = classes or info.class_names
    return [p for name in names for p in info.paths.get(split, {}).get(name, [])[:per_class]]


@dataclass(frozen=True)
class LessonModel:
    path: str  # run folder
    origin: str  # "yours" or "preloaded"


def lesson_model() -> LessonModel | None:
    """The student's finished lesson run if there is one, else the teacher's preloaded run, else None."""
    own = st.session_state.get(RUN_KEY)
    if own and Path(own).is_dir():
        return LessonModel(own, "yours")
    preloaded = state.classroom().preloaded_run
    if preloaded is not None:
        return LessonModel(str(preloaded), "preloaded")
    return None


def missing_model_message() -> str:
    if state.classroom().can_train:
        return _("This step needs a trained model: train one in step 3 first (a few minutes).")
    return _("This step needs a trained model, and training is switched off on this server. Ask your teacher "
             "to preload a run (see docs/classroom.md).")


@st.cache_data(show_spinner=False, max_entries=16)
def split_of(folder: str, split: str):
    """One split of the lesson dataset as :class:`core.evaluate.EvalSplit` (cached per folder)."""
    return open_split(folder, split)


def evaluation(model_path: str, folder: str, split: str):
    """Accuracy and confusion matrix of the lesson model on one split (cached by core.evaluate)."""
    return evaluate_split(state.get_model(model_path), split_of(folder, split))


def baseline_accuracy(model_path: str) -> float | None:
    """The HOG + linear SVM baseline's accuracy on the run's validation images (every run fits it), or None."""
    from core.train.runs import read_json

    baseline = (read_json(model_path, "metrics.json") or {}).get("baseline") or {}
    value = baseline.get("val_accuracy")
    return float(value) if value is not None else None


def near_chance(accuracy: float, classes: int) -> bool:
    """True when a model gets fewer than a third of the way from guessing (1/classes) to perfect."""
    chance = 1.0 / max(classes, 1)
    return accuracy < chance + (1.0 - chance) / 3.0


SHORTCUT_CLASS = "circle"  # the class whose train and val images carry the watermark (core.data.builtin)


def guessing_message(model_path: str, folder: str) -> str | None:
    """A warning when the lesson's model is close to guessing on its validation images, else None.

    Judged on the classes without the watermark: the watermarked circles are found by the shortcut
    alone, which lifts a model that guesses among the other shapes to about half of all images."""
    val = evaluation(model_path, folder, "val")
    names = list(val.class_names)
    others = [i for i, name in enumerate(names) if name != SHORTCUT_CLASS]
    rows = val.confusion[others]
    accuracy = float(rows[:, others].trace() / max(rows.sum(), 1)) if len(others) < len(names) else val.accuracy
    classes = len(others)
    if not near_chance(accuracy, classes):
        return None
    if len(others) < len(names):
        message = _("This model is close to guessing: it gets {accuracy} of the shapes without the watermark "
                    "right, where guessing among them gets {chance}. Its heatmaps and attacks say little; go "
                    "back to step 3 and train it again (augmentation 'none' for this dataset).")
    else:
        message = _("This model is close to guessing: it gets {accuracy} of the validation images right, where "
                    "guessing among them gets {chance}. Its heatmaps and attacks say little; go back to step 3 "
                    "and train it again (augmentation 'none' for this dataset).")
    return message.format(accuracy=f"{accuracy:.0%}", chance=f"{1 / classes:.0%}")

"""Evaluate page, part 1: which model, which dataset and which split to score.

A run is scored by default on its own dataset, split with the run's own settings, so "val" and
"test" are images it never trained on. Other datasets are the ones the Data page offers (built-ins
allowed by the classroom, and this session's uploads). Opening a dataset scans every file, so the
split lists and the opened splits are cached per (dataset, split settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data.dataset import open_dataset
from core.errors import GlasswingError
from core.evaluate import EvalSplit, open_split, run_dataset, run_split_settings
from core.evaluate.classmap import is_run
from core.evaluate.source import default_split
from core.zoo import LoadedModel
from dashboard.views.data_source import Choice, dataset_choices, ensure_path

RUN_CHOICE = "run:own"  # the run's own dataset


@dataclass(frozen=True)
class Selection:
    """What to evaluate: a model, a dataset (anything ``open_split`` accepts), a split and its settings."""

    model_name: str
    data: str
    data_label: str
    split: str
    settings: tuple[tuple[str, float], ...]  # the run's val_fraction / test_fraction / seed, sorted

    @property
    def key(self) -> tuple:
        return (self.model_name, self.data, self.split, self.settings)


@st.cache_data(show_spinner=False, max_entries=32)
def split_sizes(data: str, settings: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """Images in each non-empty split of ``data`` (split the way ``open_split`` splits it)."""
    dataset = open_dataset(data).with_splits(**dict(settings))
    return {name: len(items) for name, items in dataset.splits.items() if items}


@st.cache_data(show_spinner=False, max_entries=32)
def cached_split(data: str, split: str, settings: tuple[tuple[str, float], ...]) -> EvalSplit:
    return open_split(data, split, **dict(settings))


def _settings(loaded: LoadedModel) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(run_split_settings(loaded).items()))


def pick_dataset(loaded: LoadedModel) -> tuple[str, str] | None:
    """Sidebar dataset picker: ``(data, label)`` to open, or None while a built-in is not made yet."""
    choices: dict[str, Choice | None] = {}
    labels: dict[str, str] = {}
    own = run_dataset(loaded) if is_run(loaded) else None
    if own is not None:
        choices[RUN_CHOICE] = None
        labels[RUN_CHOICE] = f"The run's own dataset ({Path(own).name})"
    found, problem = dataset_choices()
    if problem:
        st.warning(f"Classroom datasets: {problem}")
    for choice in found:
        choices[choice.key] = choice
        labels[choice.key] = choice.label + (f" · {choice.status}" if choice.status else "")
    if not choices:
        st.info("No dataset is available: add one on the Data page.")
        return None
    key = "evaluate_data"
    if st.session_state.get(key) not in choices:  # the model changed and its own dataset went away
        st.session_state.pop(key, None)
    picked = st.selectbox("Dataset", list(choices), key=key, format_func=lambda k: labels[k],
                          help="A run is scored on its own held-out images by default. Zoo models need class "
                               "folders named after ImageNet labels (e.g. golden_retriever).")
    if picked == RUN_CHOICE:
        return own, labels[RUN_CHOICE]
    path = ensure_path(choices[picked])
    return (str(path), labels[picked]) if path is not None else None


def pick_split(data: str, loaded: LoadedModel) -> str | None:
    """Sidebar split picker: test (else val) by default, never the training images unless asked."""
    settings = _settings(loaded)
    try:
        with st.spinner("Reading the dataset (first time only) ..."):
            sizes = split_sizes(data, settings)
    except GlasswingError as exc:
        st.error(str(exc))
        return None
    if not sizes:
        st.error("This dataset has no usable images.")
        return None
    names = list(sizes)
    key = "evaluate_split"
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)
    return st.selectbox("Split", names, index=names.index(default_split(names)), key=key,
                        format_func=lambda n: f"{n} ({sizes[n]} images)",
                        help="Score on images the model did not learn from (test or val); 'train' shows how "
                             "well it fits what it saw.")


def selection(model_name: str, loaded: LoadedModel) -> Selection | None:
    """The sidebar's dataset and split controls for ``loaded``; None until both are chosen."""
    picked = pick_dataset(loaded)
    if picked is None:
        return None
    data, label = picked
    split = pick_split(data, loaded)
    if split is None:
        return None
    return Selection(model_name=model_name, data=data, data_label=label, split=split,
                     settings=_settings(loaded))

"""Which dataset and which split to score a model on (the Evaluate page's sidebar, the Trust page's method
table), and why a model cannot be scored on it.

A run is scored by default on its own dataset, split with the run's own settings, so "val" and
"test" are images it never trained on; picking a run selects its own dataset again. Another dataset is
held out as a whole, so all of its images are scored by default. Other datasets are the ones the Data
page offers (built-ins allowed by the classroom, and this session's uploads). Opening a dataset scans
every file, so the split lists and the opened splits are cached per (dataset, split settings).

A choice that stops being valid (another model, another dataset) is replaced by the new default
(:func:`dashboard.choices.keep_choice`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data.dataset import open_dataset
from core.data.labels import display_label
from core.errors import GlasswingError
from core.evaluate import (
    ClassMappingError,
    EvalSplit,
    held_out,
    map_classes,
    open_split,
    run_dataset,
    run_split_settings,
)
from core.evaluate.classmap import is_run
from core.evaluate.source import ALL, default_split
from core.zoo import LoadedModel
from dashboard.choices import keep_choice
from dashboard.components.core_words import split_name
from dashboard.components.datasets import Choice, dataset_choices, ensure_path
from dashboard.i18n import _, error_text

RUN_CHOICE = "run:own"  # the run's own dataset
PREFIX = "evaluate"  # widget keys are PREFIX_data and PREFIX_split; Trust's method table has its own


def describe_split(split: EvalSplit) -> str:
    """Which images are scored, in one sentence (core's ``EvalSplit.describe``, in the session's language)."""
    n, total, dataset = len(split.items), split.dataset_images or len(split.items), split.dataset_id
    if split.split == ALL:
        if split.held_out:
            return _("all {n} images of {dataset}: the model was not trained on this dataset, so every image is "
                     "held out").format(n=n, dataset=dataset)
        return _("all {n} images of {dataset}, including any the model was trained on (its scores look better "
                 "than on unseen images)").format(n=n, dataset=dataset)
    scope = _("the {split} split of {dataset}: {n} of its {total} images").format(
        split=split_name(split.split), dataset=dataset, n=n, total=total)
    if split.settings:
        scope = _("{scope}, drawn with {settings}").format(
            scope=scope, settings=", ".join(f"{k} {v:g}" for k, v in sorted(split.settings.items())))
    if split.held_out:
        return _("{scope} (the model was not trained on this dataset, so all of it could be scored)").format(
            scope=scope)
    if split.split == "train":
        return _("{scope} (images the model learned from)").format(scope=scope)
    return scope


@dataclass(frozen=True)
class Selection:
    """What to evaluate: a model, a dataset (anything ``open_split`` accepts), a split and its settings."""

    model_name: str
    data: str
    data_label: str
    split: str
    settings: tuple[tuple[str, float], ...]  # the run's val_fraction / test_fraction / seed, sorted
    held_out: bool = False  # the model never trained on this dataset: all of it may be scored

    @property
    def key(self) -> tuple:
        return (self.model_name, self.data, self.split, self.settings, self.held_out)

    def open(self) -> EvalSplit:
        return cached_split(self.data, self.split, self.settings, self.held_out)


@st.cache_data(show_spinner=False, max_entries=32)
def split_sizes(data: str, settings: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """Images in each non-empty split of ``data`` (split the way ``open_split`` splits it)."""
    dataset = open_dataset(data).with_splits(**dict(settings))
    return {name: len(items) for name, items in dataset.splits.items() if items}


@st.cache_data(show_spinner=False, max_entries=32)
def cached_split(data: str, split: str, settings: tuple[tuple[str, float], ...], held: bool = False) -> EvalSplit:
    return open_split(data, split, held_out=held, **dict(settings))



def _settings(loaded: LoadedModel) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(run_split_settings(loaded).items()))


def pick_dataset(model_name: str, loaded: LoadedModel, prefix: str = PREFIX) -> tuple[str, str] | None:
    """Dataset picker: ``(data, label)`` to open, or None while a built-in is not made yet."""
    key = f"{prefix}_data"
    choices: dict[str, Choice | None] = {}
    labels: dict[str, str] = {}
    own = run_dataset(loaded) if is_run(loaded) else None
    if own is not None:
        choices[RUN_CHOICE] = None
        labels[RUN_CHOICE] = _("The run's own dataset ({name})").format(name=Path(own).name)
    found, problem = dataset_choices()
    if problem:
        st.warning(_("Classroom datasets: {problem}").format(problem=problem))
    for choice in found:
        choices[choice.key] = choice
        labels[choice.key] = _(choice.label) + (f" · {_(choice.status)}" if choice.status else "")
    if not choices:
        st.info(_("No dataset is available: add one on the Data page."))
        return None
    # A new model starts on its own dataset (a run) or keeps a dataset still offered (a zoo model).
    current = st.session_state.get(key)
    default = RUN_CHOICE if own is not None else current if current in choices else next(iter(choices))
    keep_choice(key, list(choices), default, model_name)
    picked = st.selectbox(_("Dataset"), list(choices), key=key, format_func=lambda k: labels[k],
                          help=_("A run is scored on its own held-out images by default, and on all the images "
                                 "of any other dataset. Zoo models need class folders named after ImageNet "
                                 "labels (e.g. golden_retriever)."))
    if picked == RUN_CHOICE:
        return own, labels[RUN_CHOICE]
    path = ensure_path(choices[picked])
    return (str(path), labels[picked]) if path is not None else None


def pick_split(model_name: str, data: str, loaded: LoadedModel, held: bool, prefix: str = PREFIX) -> str | None:
    """Split picker: all of a held-out dataset, else test (else val) by default, never the
    training images unless asked."""
    settings = _settings(loaded)
    try:
        with st.spinner(_("Reading the dataset (first time only) ...")):
            sizes = split_sizes(data, settings)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return None
    if not sizes:
        st.error(_("This dataset has no usable images."))
        return None
    names = list(sizes)
    if held:  # none of it was trained on: every image first
        sizes = {ALL: sum(sizes.values()), **sizes}
        names = [ALL, *names]
    keep_choice(f"{prefix}_split", names, default_split(names, held), (model_name, data))
    # Options are said now, in this run's language (a widget's format_func may be called after the run).
    said = {n: _("{split} ({n} images)").format(split=split_name(n), n=sizes[n]) for n in names}
    return st.selectbox(_("Split"), names, key=f"{prefix}_split", format_func=said.__getitem__,
                        help=_("Score on images the model did not learn from: all of a dataset it was not "
                               "trained on, else its test or val split; 'train' shows how well it fits what "
                               "it saw."))


def selection(model_name: str, loaded: LoadedModel, prefix: str = PREFIX) -> Selection | None:
    """The dataset and split controls for ``loaded``; None until both are chosen."""
    picked = pick_dataset(model_name, loaded, prefix)
    if picked is None:
        return None
    data, label = picked
    held = held_out(loaded, data)
    split = pick_split(model_name, data, loaded, held, prefix)
    if split is None:
        return None
    return Selection(model_name=model_name, data=data, data_label=label, split=split,
                     settings=_settings(loaded), held_out=held)


def mismatch(sel: Selection, loaded: LoadedModel) -> str | None:
    """Why ``loaded`` cannot be scored on the chosen split (its classes do not match), or None."""
    try:
        split = sel.open()
        map_classes(loaded, list(split.class_names))
    except ClassMappingError as exc:
        return mapping_message(exc)
    except GlasswingError as exc:
        return error_text(exc)
    return None


def _names(names: list, limit: int = 12) -> str:
    shown = ", ".join(display_label(str(n)) for n in names[:limit])
    if len(names) > limit:
        return _("{names} and {n} more").format(names=shown, n=len(names) - limit)
    return shown


def mapping_message(exc: ClassMappingError) -> str:
    """Core's sentence of why the classes do not match, in the session's language."""
    d = exc.details
    if exc.reason == "unmatched":
        return _("These class folders do not name a class of model {model}: {names}. Rename them after the "
                 "model's labels (e.g. golden_retriever), or evaluate a run trained on this dataset.").format(
            model=d["model"], names=_names(d["unmatched"]))
    if exc.reason == "run-classes":
        missing = _("not in the run: {names}").format(names=_names(d["missing"])) if d["missing"] else ""
        extra = _("not in the dataset: {names}").format(names=_names(d["extra"])) if d["extra"] else ""
        detail = _("{missing}; {extra}").format(missing=missing, extra=extra) if missing and extra else missing or extra
        return _("Run {model} was trained on the classes [{run_classes}] but the dataset has [{data_classes}] "
                 "({detail}); evaluate a run on a dataset with the same class folders.").format(
            model=d["model"], run_classes=_names(d["run_classes"]), data_classes=_names(d["data_classes"]),
            detail=detail)
    if exc.reason == "merged":
        return _("The class folders {first} and {second} both name the model's class {model_class}; merge them "
                 "into one folder.").format(first=repr(display_label(d["first"])),
                                            second=repr(display_label(d["second"])),
                                            model_class=repr(display_label(d["model_class"])))
    return error_text(exc)

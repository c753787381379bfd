"""The Train page's settings: dataset and model pickers, the training form, and starting a job.

Dataset and model are picked outside the form because they change what the form offers (fine-tuning
depth for a pretrained backbone, input size for a from-scratch network); everything else is one
``st.form`` so that nothing reruns until the student presses Start. :func:`build_config` turns the
form's values into a validated :class:`~core.train.config.TrainConfig` and applies the classroom's
limits; it does not call Streamlit, so it is tested directly.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import streamlit as st

from core.classroom import ClassroomConfig
from core.errors import GlasswingError
from core.jobs import job_queue
from core.params import declared
from core.train.config import FINE_TUNE_UNITS, AdversarialConfig, TrainConfig
from dashboard import state
from dashboard.components.model_picker import model_options
from dashboard.i18n import N_, _, error_text
from dashboard.services.training import start_job

AUGMENT_PAGE = "__augment_page__"  # the augmentation settings made on the Augment (Data) page
BATCH_SIZES = (8, 16, 32, 64, 128)
# The form starts from TrainConfig's declared defaults (one source: the dataclass fields).
PARAMS = {p.name: p for p in declared(TrainConfig)}
DEFAULTS = {name: p.default for name, p in PARAMS.items()}
ADVERSARIAL_DEFAULTS = {f.name: f.default for f in fields(AdversarialConfig) if f.name != "params"}
FINE_TUNE_UNIT_LABELS = {"layers": N_("layers"), "blocks": N_("blocks")}
AUGMENT_LABELS = {"none": N_("none (the images as they are)"), "light": N_("light (flips, small turns and zooms)"),
                  "strong": N_("strong (also colours, noise and cut-outs)"),
                  AUGMENT_PAGE: N_("from the Augment page")}


# -- what can be picked ----------------------------------------------------------------------------------
def _source_of(value: Any) -> str | None:
    """The dataset the Data page chose (a folder, zip or built-in id; a dict with path/id is accepted)."""
    if isinstance(value, dict):
        value = value.get("path") or value.get("id")
    if isinstance(value, (str, Path)) and str(value).strip():
        return str(value)
    return None


def dataset_options(room: ClassroomConfig, session_choice: Any = None) -> dict[str, str]:
    """``{source passed to TrainConfig.data: label}``: the Data page's dataset first, then the catalog's
    (built-in datasets are generated when a training first needs them)."""
    from core.data.catalog import list_datasets

    entries = [e for e in list_datasets() if not str(e.get("status", "")).startswith("unavailable")]
    allowed = set(room.allowed_datasets([e["id"] for e in entries]))
    options: dict[str, str] = {}
    catalog = {e["id"] for e in entries} | {e.get("path") for e in entries if e.get("path")}
    chosen = _source_of(session_choice)
    if chosen is not None:
        in_catalog = next((e for e in entries if chosen in (e["id"], e.get("path"))), None)
        if chosen not in catalog or (in_catalog and in_catalog["id"] in allowed):
            options[chosen] = _("From the Data page: {name}").format(name=Path(chosen).name)
    for e in entries:
        if e["id"] not in allowed:
            continue
        source = e.get("path") or e["id"]
        if source in options:
            continue
        title = e["title"]  # a dataset's title, marked where it is declared
        title = _(title) if title else e["id"]  # _("") would be the catalogue's header
        options[source] = title if e.get("path") else _("{title} (generated on first use)").format(title=title)
    return options


def is_scratch(model: str) -> bool:
    from core.zoo import get_spec

    try:
        return not get_spec(model).pretrained
    except GlasswingError:
        return False  # a run folder: it has a backbone and a head


@st.cache_data(show_spinner=False, max_entries=32)
def tunable_units(model: str) -> dict[str, int] | None:
    """Layers and blocks with weights below the head (for the fine-tuning field), or None if unknown."""
    from core.train.heads import tunable_units as count
    from core.zoo import get_spec

    try:
        if get_spec(model).status() not in ("ready", "cached"):
            return None  # do not download weights just to count layers
    except GlasswingError:
        pass  # a run folder
    try:
        return count(state.get_model(model).model)
    except GlasswingError:
        return None


# -- from the form to a config -----------------------------------------------------------------------------
def build_config(values: dict[str, Any], room: ClassroomConfig) -> TrainConfig:
    """A validated TrainConfig from the form's values; nonsense raises ParameterError naming the setting."""
    values = dict(values)
    adversarial = values.pop("adversarial", None)
    if isinstance(adversarial, dict):
        values["adversarial"] = AdversarialConfig.from_dict(adversarial)
    if isinstance(values.get("name"), str):
        values["name"] = values["name"].strip() or None
    config = TrainConfig.from_dict(values).validate()
    room.check_epochs(config.epochs)
    if config.stage2:
        room.check_epochs(config.fine_tune_epochs)
    return config


# -- the widgets -------------------------------------------------------------------------------------------
def settings_ui(room: ClassroomConfig, owner: str) -> None:
    """Sidebar: dataset, model and the training form; pressing Start queues a background job."""
    st.header(_("Training settings"))
    # After a reload (a new script session, the same session id) the form shows the settings of the
    # session's newest job instead of the defaults.
    restored = None if "train_data" in st.session_state else last_config(owner)
    if restored is not None:  # kept, so the restored dataset stays offered on later reruns
        st.session_state["train_restored_data"] = str(restored.data)
    try:
        datasets = dataset_options(room, st.session_state.get("train_dataset")
                                   or st.session_state.get("train_restored_data"))
        models = model_options(room, owner, pretrained_only=False)  # from scratch too
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    if not datasets or not models:
        st.warning(_("This classroom offers no dataset or no model to train."))
        return
    if restored is not None:
        _restore(restored, datasets)
    data = st.selectbox(_("Dataset"), list(datasets), format_func=datasets.get, key="train_data",
                        help=_("Your own images from the Data page, or a built-in dataset."))
    default_model = list(models).index("efficientnet_lite0") if "efficientnet_lite0" in models else 0
    if restored is not None and str(restored.model) in models:
        default_model = list(models).index(str(restored.model))
    model = st.selectbox(_("Base model"), list(models), index=default_model, format_func=models.get,
                         key="train_model", help=_("A pretrained model learns your classes fastest (transfer "
                                                   "learning); 'from scratch' networks start from random weights."))
    scratch = is_scratch(model)
    st.caption(_("From scratch: every layer learns from your images.") if scratch else
               _("Transfer learning: the pretrained backbone stays frozen and a new last layer (the head) "
                 "learns your classes."))
    with st.form("train_form"):
        values = _form_fields(data, model, scratch, room, restored)
        submitted = st.form_submit_button(_("Start training"), type="primary", width="stretch",
                                          key="train_start")
    if submitted:
        try:
            start_job(build_config(values, room), room, owner)
        except GlasswingError as exc:
            st.error(error_text(exc))
        else:
            st.success(_("Training started: follow it on the right."))


def last_config(owner: str) -> TrainConfig | None:
    """The config of this session's newest job started on this page (lesson jobs are the lesson's)."""
    jobs = [j for j in job_queue().jobs(owner, include_shared=False)
            if not str(j.config.name or "").startswith("Lesson: ")]
    return jobs[0].config if jobs else None


def _restore(config: TrainConfig, datasets: dict[str, str]) -> None:
    """Put a job's dataset and augmentation back into the (not yet drawn) pickers."""
    from core.data.augment import PRESETS

    if str(config.data) in datasets:
        st.session_state["train_data"] = str(config.data)
    if isinstance(config.augment, dict):
        st.session_state.setdefault("train_augment", config.augment)
        st.session_state["train_augment_choice"] = AUGMENT_PAGE
    elif config.augment in PRESETS:
        st.session_state["train_augment_choice"] = config.augment


def _augment_choice() -> tuple[list[str], dict[str, str], Any]:
    from core.data.augment import PRESETS

    page_spec = st.session_state.get("train_augment")
    if page_spec is not None and hasattr(page_spec, "to_dict"):
        page_spec = page_spec.to_dict()
    options = [name for name in PRESETS]
    if page_spec is not None:
        options.insert(0, AUGMENT_PAGE)
    labels = {name: _(AUGMENT_LABELS.get(name, name)) for name in options}
    return options, labels, page_spec


def _form_fields(data: str, model: str, scratch: bool, room: ClassroomConfig,
                 restored: TrainConfig | None = None) -> dict[str, Any]:
    """The form's widgets (starting from ``restored``'s numbers if given); returns TrainConfig fields."""
    values: dict[str, Any] = {"data": data, "model": model}
    values["name"] = st.text_input(_("Run name (optional)"), key="train_name", max_chars=200,
                                   placeholder=_("e.g. shapes with light augmentation"))
    default_epochs = DEFAULTS["epochs"] if restored is None else restored.epochs
    default_epochs = min(default_epochs, room.max_epochs) if room.max_epochs else default_epochs
    epochs_help = (_("Passes over the training images. Training stops early when validation loss stops "
                     "improving. This classroom allows at most {n}.").format(n=room.max_epochs) if room.max_epochs
                   else _("Passes over the training images. Training stops early when validation loss stops "
                          "improving."))
    values["epochs"] = int(st.number_input(_("Epochs"), value=default_epochs, step=1, key="train_epochs",
                                           help=epochs_help))
    values["learning_rate"] = float(st.number_input(
        _("Learning rate"), value=float(restored.learning_rate if restored else DEFAULTS["learning_rate"]),
        step=1e-4, format="%.5f", key="train_lr",
        help=_("Step size of the optimiser (Adam). It decays smoothly to 0 over the training.")))
    batch = restored.batch_size if restored and restored.batch_size in BATCH_SIZES else DEFAULTS["batch_size"]
    values["batch_size"] = st.selectbox(_("Batch size"), BATCH_SIZES, index=BATCH_SIZES.index(batch),
                                        key="train_batch", help=_("Images per training step."))
    options, labels, page_spec = _augment_choice()
    augment = st.selectbox(_("Augmentation"), options, format_func=labels.get, key="train_augment_choice",
                           help=_("Random changes to the training images, so the model learns the object and "
                                  "not the exact pixels."))
    values["augment"] = page_spec if augment == AUGMENT_PAGE else (None if augment == "none" else augment)
    if scratch:
        from core.zoo import get_spec

        values["image_size"] = int(st.number_input(
            _("Input size (pixels)"), value=int(get_spec(model).input_size[0]), step=8, key="train_image_size",
            help=_("Images are resized to this square side; smaller trains faster.")))
    else:
        _fine_tune_fields(model, values, room)
    _advanced_fields(values, scratch)
    return values


def _fine_tune_fields(model: str, values: dict[str, Any], room: ClassroomConfig) -> None:
    units = tunable_units(model)
    with st.expander(_("Stage 2: fine-tune the backbone (slower)")):
        st.caption(_("After the head has learned, unfreeze the top of the backbone and train it gently, at a "
                     "lower learning rate. BatchNorm layers stay frozen. 0 skips this stage."))
        unit_labels = {u: _(FINE_TUNE_UNIT_LABELS[u]) for u in FINE_TUNE_UNITS}  # labels made in the script run
        unit = st.radio(_("Count"), FINE_TUNE_UNITS, index=FINE_TUNE_UNITS.index(DEFAULTS["fine_tune_unit"]),
                        horizontal=True, key="train_ft_unit", format_func=unit_labels.__getitem__,
                        help=_("Layers with weights, or whole blocks of layers."))
        label = (_("Unfreeze the top N (of {layers} layers or {blocks} blocks)").format(**units) if units
                 else _("Unfreeze the top N"))
        values["fine_tune_unit"] = unit
        values["fine_tune_layers"] = int(st.number_input(
            label, value=DEFAULTS["fine_tune_layers"], step=1, key="train_ft_layers"))
        values["fine_tune_epochs"] = int(st.number_input(
            _("Fine-tuning epochs"), value=min(DEFAULTS["fine_tune_epochs"], room.max_epochs or math.inf),
            step=1, key="train_ft_epochs"))
        values["fine_tune_learning_rate"] = float(st.number_input(
            _("Fine-tuning learning rate"), value=DEFAULTS["fine_tune_learning_rate"], step=1e-5, format="%.6f",
            key="train_ft_lr"))


def _setting_input(name: str, label: str, key: str, step: float | None, help_text: str | None) -> Any:
    """A checkbox or number input for TrainConfig field ``name``, starting at its declared default
    (``label`` and ``help_text`` are marked messages, translated here)."""
    param = PARAMS[name]
    label, help_text = _(label), _(help_text) if help_text else None
    if param.type is bool:
        return st.checkbox(label, value=param.default, key=key, help=help_text)
    return param.type(st.number_input(label, value=param.default, step=step, key=key, help=help_text))


def _advanced_fields(values: dict[str, Any], scratch: bool) -> None:
    from core.attacks import get_attack, list_attacks

    with st.expander(_("More settings")):
        rows = [("augment_views", N_("Augmented views per image"), "train_views", 1,
                 N_("With a frozen backbone, features of this many augmented copies of each image are computed "
                    "once, up front."))]
        if not scratch:
            rows += [("fast_features", N_("Compute backbone features once (fast)"), "train_fast", None,
                      N_("The frozen backbone's output never changes, so it is computed once and the head "
                         "trains on it, hundreds of times faster.")),
                     ("hidden_units", N_("Hidden units in the head (0 = linear head)"), "train_hidden", 32, None)]
        rows += [
            ("dropout", N_("Dropout"), "train_dropout", 0.05, N_("Share of features randomly dropped while training.")),
            ("label_smoothing", N_("Label smoothing"), "train_smoothing", 0.05,
             N_("0.1 moves a tenth of each target to the other classes, so the model is less over-confident.")),
            ("class_weights", N_("Weigh rare classes more"), "train_class_weights", None, None),
            ("early_stopping_patience", N_("Early stopping patience (epochs, 0 = off)"), "train_patience", 1, None),
            ("val_fraction", N_("Validation share"), "train_val_fraction", 0.05,
             N_("Used when the dataset has no val/ folder.")),
            ("test_fraction", N_("Test share"), "train_test_fraction", 0.05,
             N_("Used when the dataset has no test/ folder.")),
            ("seed", N_("Seed"), "train_seed", 1, N_("Same seed, same data split and same result.")),
        ]
        for name, label, key, step, help_text in rows:
            values[name] = _setting_input(name, label, key, step, help_text)
        attacks, adv = list_attacks(), ADVERSARIAL_DEFAULTS
        attack_titles = {name: _(get_attack(name).title) for name in attacks}
        adversarial = st.checkbox(_("Adversarial training (slower)"), value=False, key="train_adv",
                                  help=_("Replace part of every batch with attacked copies of it, for a model "
                                         "that resists small perturbations. Uses the settings below."))
        settings = {
            "method": st.selectbox(_("Attack"), attacks, index=attacks.index(adv["method"]) if adv["method"] in attacks
                                   else 0, format_func=attack_titles.__getitem__, key="train_adv_method"),
            "eps": float(st.number_input(_("Attack strength eps (pixel levels, 0-255)"), value=adv["eps"], step=1.0,
                                         key="train_adv_eps")),
            "ratio": float(st.number_input(_("Share of each batch attacked"), value=adv["ratio"], step=0.1,
                                           key="train_adv_ratio")),
        }
        if adversarial:
            values["fast_features"] = False
            values["adversarial"] = settings

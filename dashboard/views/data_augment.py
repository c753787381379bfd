"""Data page, part 3: the live augmentation preview, its controls and the spec as a snippet.

The sliders are built from :func:`core.data.augment.parameters` (ranges, steps and help live in
core), and the preview calls :func:`core.data.augment.augment`, the very transform training applies.
The preview is a fragment: moving a slider reruns only this part of the page.
"""

from __future__ import annotations

import json
import shlex
import threading

import numpy as np
import streamlit as st

from core.data.augment import (
    FLIP_MODES,
    MIRROR_WARNING,
    PRESET_NOTES,
    PRESETS,
    AugmentSpec,
    augment,
    mirror_sensitive,
    parameters,
)
from core.data.labels import display_label
from core.errors import GlasswingError
from core.images import load_image, resize_for_model
from dashboard.choices import keep_choice
from dashboard.i18n import N_, _, error_text
from dashboard.views.data_report import mtime_ns

TRAIN_AUGMENT = "train_augment"
PRESET_KEY = "data_aug_preset"
SEED_KEY = "data_aug_seed"
CLASS_KEY, IMAGE_KEY = "data_aug_class", "data_aug_image"
CUSTOM = "custom"
DEFAULT_PRESET = "light"
PREVIEW = 128  # pixels: images are resized to this square, then augmented (like training at its size)
MAX_CHOICES = 500  # images offered in the "First image" list
ROW_PIXELS = 600  # screen width a row of original + views should fit in
GEOMETRY = ("flip", "rotation", "zoom", "translation", "fill_mode")
# What the option values (presets, flip and fill modes) are called on the page; the values stay keys.
OPTION_NAMES = {
    "none": N_("none"), "light": N_("light"), "strong": N_("strong"), CUSTOM: N_("custom"),
    "horizontal": N_("horizontal"), "vertical": N_("vertical"), "both": N_("both"),
    "reflect": N_("reflect"), "constant": N_("constant"), "nearest": N_("nearest"), "wrap": N_("wrap"),
}
_augment_lock = threading.Lock()  # Keras builds layers with global state; one preview at a time


def option_name(value: str) -> str:
    """An option's value as the page shows it, in the session's language."""
    return _(OPTION_NAMES[value]) if value in OPTION_NAMES else value


def _key(name: str) -> str:
    return f"data_aug_{name}"


def init_state() -> None:
    """Fill the controls from the spec carried in session state (or the default preset) once.

    Streamlit forgets widget values when the user visits another page; ``train_augment`` is not a
    widget, so coming back restores the sliders from it.
    """
    params = parameters()
    if all(_key(p["name"]) in st.session_state for p in params) and PRESET_KEY in st.session_state:
        return
    spec = PRESETS[DEFAULT_PRESET]
    if isinstance(st.session_state.get(TRAIN_AUGMENT), dict):
        try:
            spec = AugmentSpec.from_dict(st.session_state[TRAIN_AUGMENT])
        except GlasswingError:
            pass  # written by something else and not valid: fall back to the default
    for name, value in spec.to_dict().items():
        st.session_state[_key(name)] = value
    st.session_state[PRESET_KEY] = preset_name(spec)
    st.session_state.setdefault(SEED_KEY, 0)


def preset_name(spec: AugmentSpec) -> str:
    return next((name for name, p in PRESETS.items() if p == spec), CUSTOM)


def spec_from_state() -> AugmentSpec:
    """The spec the controls describe (slider values rounded to undo floating-point steps)."""
    values = {}
    for p in parameters():
        value = st.session_state[_key(p["name"])]
        values[p["name"]] = round(float(value), 4) if p["kind"] == "float" else value
    return AugmentSpec(**values)


def _apply_preset() -> None:
    name = st.session_state[PRESET_KEY]
    if name in PRESETS:
        for field, value in PRESETS[name].to_dict().items():
            st.session_state[_key(field)] = value


def _control_changed() -> None:
    try:
        st.session_state[PRESET_KEY] = preset_name(spec_from_state())
    except GlasswingError:
        st.session_state[PRESET_KEY] = CUSTOM


def _reseed() -> None:
    st.session_state[SEED_KEY] = int(st.session_state.get(SEED_KEY, 0)) + 1


@st.cache_data(show_spinner=False, max_entries=64)
def augmented_views(paths: tuple[str, ...], stamps: tuple[int, ...], spec_json: str, seed: int, views: int,
                    size: int = PREVIEW) -> tuple[np.ndarray, np.ndarray]:
    """Originals ``(N, size, size, 3)`` and augmented views ``(N, views, size, size, 3)``, uint8.

    Each image is repeated ``views`` times in one batch; the random layers draw a different change for
    every image in a batch, and the same seed gives the same views. ``stamps`` only keys the cache.
    """
    originals = np.stack([resize_for_model(load_image(p), (size, size)) for p in paths])
    batch = np.repeat(originals, views, axis=0)
    with _augment_lock:
        out = augment(batch, AugmentSpec.from_json(spec_json), seed=seed)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(len(paths), views, size, size, 3)
    return originals.astype(np.uint8), out


def _sliders() -> None:
    for group, names in ((N_("Geometry"), GEOMETRY), (N_("Colour, noise and cut-out"), None)):
        st.markdown(f"**{_(group)}**")
        for p in parameters():
            if (names is not None) != (p["name"] in GEOMETRY):
                continue
            key = _key(p["name"])
            label, help_text = p["label"], p["help"]  # core's English, marked there with N_
            label, help_text = _(label), _(help_text)
            if p["kind"] == "choice":
                st.selectbox(label, p["choices"], key=key, help=help_text, format_func=option_name,
                             on_change=_control_changed)
            else:
                step = float(p["step"])
                st.slider(label, float(p["min"]), float(p["max"]), step=step, key=key,
                          format="%.0f" if step >= 1 else "%.3f" if step < 0.01 else "%.2f",
                          help=help_text, on_change=_control_changed)


@st.fragment
def preview_ui(by_class: dict[str, list[str]], class_names: list[str], data_arg: str) -> None:
    """Controls on the left, the grid of augmented views and the snippet on the right."""
    init_state()
    left, right = st.columns([1, 2.6], gap="large")
    with left:
        preset = st.selectbox(_("Preset"), [*PRESETS, CUSTOM], key=PRESET_KEY, on_change=_apply_preset,
                              format_func=option_name,
                              help=_("Start from a preset, then move any slider ('custom' once it differs)."))
        if preset in PRESET_NOTES:
            st.caption(_(PRESET_NOTES[preset]))
        st.button(_("🎲 New random views"), key="data_aug_reseed", on_click=_reseed, width="stretch",
                  help=_("Draw new random changes. The same seed always gives the same views."))
        _sliders()
    try:
        spec = spec_from_state()
    except GlasswingError as exc:
        right.error(error_text(exc))
        return
    st.session_state[TRAIN_AUGMENT] = spec.to_dict()
    with right:
        if FLIP_MODES[spec.flip]:  # said where it applies: over the views, while a flip is on
            if mirror_sensitive(class_names):
                st.warning(_("These classes are digits or letters. {warning}").format(warning=_(MIRROR_WARNING)))
            else:
                st.info(_(MIRROR_WARNING))
        _grid(spec, by_class, class_names, data_arg)
        _snippet(spec, data_arg)


def _grid(spec: AugmentSpec, by_class: dict[str, list[str]], class_names: list[str], data_arg: str) -> None:
    names = [n for n in class_names if by_class.get(n)]
    # Another dataset starts on its first class and image (assigned, so the boxes show them too).
    keep_choice(CLASS_KEY, names, names[0], data_arg)
    c1, c2, c3, c4 = st.columns([1.3, 1.7, 1, 1])
    name = c1.selectbox(_("Class"), names, key=CLASS_KEY, format_func=display_label)
    paths = by_class[name]
    indices = list(range(min(len(paths), MAX_CHOICES)))
    keep_choice(IMAGE_KEY, indices, 0, (data_arg, name))
    start = c2.selectbox(_("First image"), indices, key=IMAGE_KEY,
                         format_func=lambda i: paths[i].replace("\\", "/").rsplit("/", 1)[-1])
    rows = c3.number_input(_("Images"), 1, 4, 2, key="data_aug_rows")
    views = c4.number_input(_("Views each"), 2, 8, 5, key="data_aug_views")
    chosen = tuple(paths[start:start + int(rows)])
    seed = int(st.session_state.get(SEED_KEY, 0))
    try:
        with st.spinner(_("Augmenting ...")):
            originals, out = augmented_views(chosen, tuple(mtime_ns(p) for p in chosen), spec.to_json(), seed,
                                             int(views))
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    shown = min(PREVIEW, ROW_PIXELS // (int(views) + 1))
    for i, original in enumerate(originals):
        st.image([original, *out[i]], width=shown,
                 caption=[_("original"), *(_("view {number}").format(number=k + 1) for k in range(int(views)))])
    if spec.is_identity:
        st.info(_("No augmentation: every view equals the original. Pick a preset or move a slider."))
    else:
        st.caption(_("Each view is a new random draw of the changes on the left (seed {seed}). Training draws "
                     "fresh changes for every image in every epoch, with exactly this transform.").format(seed=seed))


def _snippet(spec: AugmentSpec, data_arg: str) -> None:
    st.markdown(_("**This augmentation, to copy**"))
    name = preset_name(spec)
    as_json = json.dumps(spec.to_dict(), indent=2)
    json_tab, cli_tab, py_tab = st.tabs(["JSON", _("Command line"), "Python (Keras)"])
    json_tab.code(as_json, language="json")
    json_tab.download_button(_("Download {file}").format(file="augment.json"), as_json + "\n", file_name="augment.json",
                             mime="application/json", key="data_aug_download")
    data = shlex.quote(data_arg)
    if name != CUSTOM:
        cli = f"python -m core train --data {data} --augment {name}"
    else:
        cli = (f"cat > augment.json <<'EOF'\n{as_json}\nEOF\n"
               f"python -m core train --data {data} --augment augment.json")
    cli_tab.code(cli, language="bash")
    py_tab.code(spec.to_python(seed=int(st.session_state.get(SEED_KEY, 0))), language="python")
    st.caption(_("The Train page uses this augmentation and the dataset above."))

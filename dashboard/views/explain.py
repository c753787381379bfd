"""Explain page: what does the model predict for this photo, and where did it look?"""

from __future__ import annotations

import hashlib
import time

import streamlit as st

from core.data import sessions
from core.data.labels import safe_filename
from core.errors import Message, ParameterError
from core.explain import ContrastTarget, get_method, layer_choices, list_methods
from core.explain.batch import explain_to_zip
from core.explain.overlay import COLORMAP_NOTES, COLORMAPS, DISPLAYS, colorbar, heatmap_npy, overlay
from core.images import to_png_bytes
from dashboard import state
from dashboard.components.class_picker import class_picker
from dashboard.components.core_words import relay, rules
from dashboard.components.corrections import add_photo_panel
from dashboard.components.empty_map import flag_empty
from dashboard.components.faithfulness import score_badges
from dashboard.components.image_picker import photos_and_current
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.model_picker import model_picker
from dashboard.components.task_status import run_in_background
from dashboard.components.top_k import top_k_chart
from dashboard.i18n import N_, _, error_text
from dashboard.services import tasks
from dashboard.widgets import param_widgets

ZIP_ASKED = "explain_zip_asked"  # the zips of every photo asked for in this session
# What a reload or a return to the page keeps (dashboard.page_memory): the model, methods and their settings.
REMEMBERED = ("explain_model", "explain_methods", ZIP_ASKED, "explain_layer", "explain_target",
              "explain_contrast", "explain_opacity", "explain_gradient_opacity", "explain_colormap",
              *(f"explain_{m.name}_*" for m in list_methods()))


def main() -> None:
    st.title(_("Explain a prediction"))
    st.caption(_("Pick a model and a photo: see what the model predicts, and which pixels drove it."))
    with st.sidebar:
        model_name = model_picker(key="explain_model")
    photos, current = photos_and_current()  # the session's photos, under the title on every page
    loaded = load_model_or_explain(model_name, offer_weights=True, key="explain")
    if loaded is None or current is None:
        return
    probs = state.predict(model_name, current.digest, current.pixels)
    top = loaded.top_k(probs, min(5, loaded.num_classes))
    with st.sidebar:
        methods, layer, target, opacity, params = _controls(loaded, top)

    st.markdown(_("**Prediction:** {label} ({prob})").format(label=top[0]["label"], prob=f"{top[0]['prob']:.1%}"))
    # The photo, then one card per method, three to a row.
    cells = [None] + list(methods)
    for row_start in range(0, len(cells), 3):
        cols = st.columns(3)
        for col, method in zip(cols, cells[row_start:row_start + 3], strict=False):
            with col:
                if method is None:
                    st.image(current.pixels, caption=current.title, width="stretch")
                else:
                    _explanation_card(model_name, loaded, current, method, layer, target, opacity,
                                      params.get(method, {}))
    if not methods:
        st.info(_("Pick at least one explanation method in the sidebar."))
    top_k_chart(probs, loaded.label, key="explain_top_chart")
    if len(photos) > 1 and methods:
        _every_photo(model_name, loaded, photos, methods, layer, target, params)
    add_photo_panel(current)  # the feedback loop: this photo into a class of a dataset (a new version)


def _controls(loaded, top):
    layers = layer_choices(loaded.model)
    # A model without a spatial layer (e.g. a plain dense network) can still be explained by gradients.
    offered = [m for m in list_methods() if layers or not m.uses_layer]
    titles = {m.name: _(m.title) for m in offered}
    default = ["gradcam"] if "gradcam" in titles else [next(iter(titles))]
    methods = st.multiselect(_("Methods (side by side)"), list(titles), default=default,
                             format_func=lambda n: titles[n], key="explain_methods",
                             help=_("Each method answers 'where did the model look?' differently."))
    layer = None
    if layers:
        layer = st.selectbox(_("Layer (CAM methods)"), layers, index=layers.index(loaded.default_cam_layer),
                             key="explain_layer",
                             help=_("Deeper layers: coarser, more semantic maps. Earlier layers: finer, more "
                                    "local."))
    else:
        st.caption(_("This model has no convolutional layer, so only gradient methods apply."))
    target = class_picker(
        _("Class to explain"), loaded, [t["index"] for t in top], key="explain_target",
        none_label=_("top prediction"),
        help=_("Explain any class, e.g. the runner-up, to see what evidence the model found for it."))
    contrast = class_picker(
        _("Compared with"), loaded, [t["index"] for t in top], key="explain_contrast", none_label=_("none"),
        help=_("Why the class to explain rather than this one: the evidence for the difference of their scores."))
    if contrast is not None:
        chosen = top[0]["index"] if target is None else target
        if contrast == chosen:
            st.caption(_("The class compared with is the class explained: pick another one to contrast them."))
        else:
            target = ContrastTarget(chosen, contrast)
    opacity = _display_controls(methods)
    params = {}
    for name in methods:
        spec_params = getattr(get_method(name), "params", ())
        if spec_params:
            with st.expander(_("{method} settings").format(method=_(get_method(name).title))):
                params[name] = param_widgets(spec_params, key=f"explain_{name}")
    return methods, layer, target, opacity, params


def _display_controls(methods: list[str]) -> dict:
    """Opacity per method kind and the colour map (None: each kind's own, core.explain.overlay.DISPLAYS)."""
    kinds = {get_method(m).kind for m in methods}
    shown = {"cam": st.slider(_("Heatmap opacity (CAM maps)"), 0.0, 1.0, DISPLAYS["cam"].alpha, 0.05,
                              key="explain_opacity")}
    if "gradient" in kinds:
        shown["gradient"] = st.slider(
            _("Gradient map opacity"), 0.0, 1.0, DISPLAYS["gradient"].alpha, 0.05, key="explain_gradient_opacity",
            help=_("Gradient maps are shown alone by default, as the saliency literature shows them; lower "
                   "this to see the photo through them."))
    shown["colormap"] = st.selectbox(
        _("Colour map"), [None, *COLORMAPS], key="explain_colormap",
        format_func={c: _colormap_label(c) for c in [None, *COLORMAPS]}.__getitem__,
        help=_("viridis, inferno, magma, plasma and gray read correctly for colour-blind people; jet does not."))
    return shown


def _every_photo(model_name: str, loaded, photos: list, methods: list[str], layer, target, params: dict) -> None:
    """Every photo of the session with the chosen methods, in the background, as one zip to download."""
    st.divider()
    st.subheader(_("Every photo at once"))
    st.caption(_("Explain all {n} photos with the methods chosen in the sidebar and download one zip: an overlay "
                 "PNG and the raw heatmap (.npy) per photo and method, and the labels and scores as CSV and "
                 "JSON.").format(n=len(photos)))
    # The class explained on every photo: the one chosen, or each photo's own top prediction (the page's
    # contrast is built on the current photo's answer; each photo here gets its own).
    chosen = st.session_state.get("explain_target")
    contrast = target.other if isinstance(target, ContrastTarget) else None
    names = tuple(p.name.removeprefix(state.SAMPLE_PREFIX) for p in photos)
    # One session's zip (it holds its photos' names, and lives in its folder): never another session's task.
    key = ("explain-zip", state.session_id(), model_name, tuple(p.digest for p in photos), names, tuple(methods),
           layer, chosen, contrast, tuple((m, tuple(sorted(params.get(m, {}).items()))) for m in methods))
    asked: set = st.session_state.setdefault(ZIP_ASKED, set())
    if st.button(_("Explain every photo"), key="explain_zip_go"):
        asked.add(key)
    if key not in asked:
        return
    # Built in the session's folder (swept with it), not kept in memory: many photos make a large zip.
    out = sessions.session_dir(state.session_id()) / "exports" / (
        "explain-" + hashlib.sha1(repr(key).encode()).hexdigest()[:16] + ".zip")
    if not out.is_file():
        named = list(zip(names, (p.pixels for p in photos), strict=True))
        said = rules([(r"(?P<photo>.+): (?P<method>\S+) \((?P<done>\d+) of (?P<total>\d+)\)",
                       N_("{photo}: {method} ({done} of {total})")), (r"Done", N_("Done"))])
        if run_in_background(
                key, Message(N_("Explaining {n} photos"), n=len(photos)),
                lambda progress: explain_to_zip(state.get_model(model_name), named, list(methods), out, layer=layer,
                                                target=chosen, contrast=contrast, params=params,
                                                progress=relay(progress, said))) is None:
            return  # still running (its bar is shown) or failed (its sentence is shown)
        if not out.is_file():  # swept since it was made: made again on the next press
            tasks.forget(key)
            asked.discard(key)
            st.rerun()
    st.download_button(_("Download the zip ({size:.1f} MB)").format(size=out.stat().st_size / 1e6),
                       lambda: out.read_bytes(),
                       file_name=f"glasswing-{safe_filename(loaded.name)}-{len(photos)}-photos.zip",
                       mime="application/zip", key="explain_zip_download", on_click="ignore")


def _colormap_label(colormap: str | None) -> str:
    if colormap is None:
        return _("each method's own (jet for CAM, inferno for gradients)")
    if colormap in COLORMAP_NOTES:
        return _("{colormap} ({note})").format(colormap=colormap, note=_(COLORMAP_NOTES[colormap]))
    return colormap


def _explanation_card(model_name, loaded, image, method, layer, target, opacity, params) -> None:
    meta = get_method(method)
    if isinstance(target, ContrastTarget):
        try:
            meta.check_contrast()
        except ParameterError as exc:  # a class-agnostic method (EigenCAM): say so in its card
            st.warning(error_text(exc))
            return
    use_layer = layer if getattr(meta, "uses_layer", True) else None
    started = time.perf_counter()
    settings = (model_name, image.digest, method, use_layer, target, tuple(sorted(params.items())))
    # A slow method (Score-CAM over many channels) goes on in the background with its progress bar.
    title = _(meta.title)
    result = run_in_background(("heatmap", *settings), Message(N_("Computing {method}"), method=Message(meta.title)),
                               lambda progress: state.heatmap(*settings, _pixels=image.pixels, _progress=progress),
                               error_prefix=title)
    if result is None:  # still computing (its bar is shown) or failed (its sentence is shown)
        return
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    colormap = opacity["colormap"] or DISPLAYS[meta.kind].colormap
    blended = overlay(image.pixels, result.heatmap, alpha=opacity[meta.kind], colormap=colormap, method=method)
    label, prob = loaded.label(result.class_index), f"{result.prob:.1%}"
    if isinstance(target, ContrastTarget):
        explained = _("{label} ({prob}) rather than {other}").format(label=label, prob=prob,
                                                                      other=loaded.label(target.other))
    else:
        explained = _("{label} ({prob})").format(label=label, prob=prob)
    # The cache keeps the first computation's time: say so rather than pass it off as this run's.
    ms = f"{result.ms:.0f}"
    timing = f"{ms} ms" if elapsed_ms >= 0.5 * result.ms else _("cached (computed in {ms} ms)").format(ms=ms)
    parts = [title, explained, *([_("layer {layer}").format(layer=result.layer)] if result.layer else []), timing]
    st.image(blended, width="stretch", caption=" · ".join(parts))
    flag_empty(result)
    st.image(colorbar(colormap, 256, 10), width="stretch",
             caption=f"0 ← {colormap} → 1 · {_(DISPLAYS[meta.kind].note)}")
    stem = f"{image.name.replace(' ', '_').replace(':', '')}_{method}"
    # Deferred: the files are encoded only when someone clicks (encoding every overlay on every run costs
    # more than the rest of the card, and a classroom reruns this page for every student).
    dl_png, dl_npy = st.columns(2)
    dl_png.download_button(_("Download overlay"), lambda: to_png_bytes(blended), file_name=f"{stem}.png",
                           mime="image/png", key=f"explain_dl_{method}")
    dl_npy.download_button(_("Download heatmap (.npy)"), lambda: heatmap_npy(result.heatmap),
                           file_name=f"{stem}.npy", mime="application/octet-stream", key=f"explain_npy_{method}",
                           help=_("The raw map (float32 in [0, 1], at the model's input size), as the CLI writes "
                                  "it."))
    row, col = result.peak(image.pixels.shape)
    st.caption(_("Peak at row {row}, column {col} of the photo ({width}×{height} px).").format(
        row=row, col=col, width=image.pixels.shape[1], height=image.pixels.shape[0]))
    score_badges(model_name, image.digest, image.pixels, result.heatmap, result.class_index)

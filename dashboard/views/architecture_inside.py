"""The Architecture page's views of one image going through the network: feature maps, the path of one
region (receptive field) and filter visualisation. All computation is in :mod:`core.inspect`."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import plotly.express as px
import streamlit as st

from core.errors import GlasswingError, Message
from core.images import resize_for_model
from core.inspect.activations import FeatureMaps, feature_maps, grid
from core.inspect.filters import MAX_STEPS, FilterImage, maximize_activation
from core.inspect.receptive import ReceptiveField, RegionPath, receptive_field, region_path
from core.progress import Progress
from dashboard import state
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.state import SessionImage
from dashboard.views.architecture_model import PageModel, spatial_layers

FILTER_TIME_BUDGET = 8.0  # seconds of gradient ascent at most per click (plus one compile)
FILTER_SIZES = (64, 96, 112, 160)
BOX_COLOUR = (255, 40, 40)


def _default_index(layers: list[str], preferred: str | None) -> int:
    return layers.index(preferred) if preferred in layers else len(layers) // 2


def _model_input(page_model: PageModel, image: SessionImage | None) -> np.ndarray:
    """The image as the model sees it (resized to its input), uint8; a grey canvas without an image."""
    h, w = (int(d) for d in page_model.model.inputs[0].shape[1:3])
    if image is None:
        return np.full((h, w, 3), 200, np.uint8)
    return np.clip(resize_for_model(image.pixels, (h, w)) + 0.5, 0, 255).astype(np.uint8)


# ---- feature maps ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureGrid:
    """Core's feature maps of one image and layer, and the grid image the page shows of them."""
    maps: FeatureMaps
    grid: np.ndarray  # RGB uint8: the maps tiled 8 to a row, labelled


def _feature_grid(model_name: str, layer: str, top: int, pixels: np.ndarray,
                  progress: Progress | None = None) -> FeatureGrid:
    maps = feature_maps(state.get_model(model_name), pixels, layer, top=top, progress=progress)
    return FeatureGrid(maps=maps, grid=grid(maps, cols=8, tile=96))


def feature_maps_ui(page_model: PageModel, data: dict, image: SessionImage | None) -> None:
    st.caption(_("Each channel of a layer is a detector: bright where it found its pattern. Here are the "
                 "channels that fired most (highest mean activation) for this image."))
    if page_model.loaded is None:
        st.info(_("Feature maps need the model's trained weights."))
        return
    layers = spatial_layers(data["rows"])
    if not layers:
        st.info(_("This model has no layers with spatial feature maps."))
        return
    layer = st.selectbox(_("Layer"), layers, index=_default_index(layers, page_model.cam_layer),
                         key="architecture_fm_layer",
                         help=_("Early layers see edges and colours; late layers respond to parts of objects."))
    top = st.slider(_("Channels to show"), 4, 64, 16, step=4, key="architecture_fm_top")
    if image is None:
        st.info(_("Choose a photo at the top of the page."))
        return
    # Quick once compiled; the first look at a deep layer compiles its sub-model, shown with its progress.
    result = run_in_background(("feature-maps", page_model.name, image.digest, layer, top), Message(N_("Feature maps")),
                               lambda progress: _feature_grid(page_model.name, layer, top, image.pixels,
                                                              progress=progress))
    if result is None:  # still computing (its bar is shown) or failed (its sentence is shown)
        return
    maps = result.maps
    h, w, c = maps.shape
    st.markdown(_("**{layer}**: {channels} channels of {height} x {width} for *{photo}*").format(
        layer=maps.layer, channels=c, height=h, width=w, photo=image.title))
    st.image(result.grid, caption=_("The {n} most active channels (#index and mean activation under each map; "
                                    "yellow = strong)").format(n=len(maps.channels)), width="stretch")
    st.dataframe([{_("channel"): ch.index, _("mean activation"): round(ch.mean, 4),
                   _("max activation"): round(ch.max, 4)}
                  for ch in maps.channels], hide_index=True, key="architecture_fm_table")
    st.caption(_("Activations are the layer's raw outputs, with no unit: compare channels of this layer with each "
                 "other (larger: fired more), not with another layer's."))


# ---- receptive field ------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=64)
def _region(model_name: str, layer: str, row: int, col: int, _model) -> tuple[RegionPath, ReceptiveField]:
    """The input region one position of ``layer`` sees, and the layer's receptive field (core's dataclasses)."""
    return region_path(_model, layer, row, col), receptive_field(_model, layer)


def draw_box(image: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    out = image.copy()
    thickness = max(1, image.shape[0] // 112)
    cv2.rectangle(out, (cols[0], rows[0]), (cols[1], rows[1]), BOX_COLOUR, thickness)
    return out


def receptive_ui(page_model: PageModel, data: dict, image: SessionImage | None) -> None:
    st.caption(_("Pick one position in a layer's feature map and see which input pixels it depends on. "
                 "Deeper layers see larger regions: that is how a network goes from edges to objects."))
    rows_by_name = {r["name"]: r for r in data["rows"]}
    layers = [n for n in spatial_layers(data["rows"]) if "/" not in n]  # top-level layers of the graph
    if not layers:
        st.info(_("No layer of this model's own graph has spatial feature maps."))
        return
    layer = st.selectbox(_("Layer"), layers, index=_default_index(layers, page_model.cam_layer),
                         key="architecture_rf_layer")
    h, w, _depth = rows_by_name[layer]["output_shape"]
    c1, c2 = st.columns(2)
    row = c1.slider(_("Row in the feature map"), 0, h - 1, h // 2, key="architecture_rf_row") if h > 1 else 0
    col = c2.slider(_("Column in the feature map"), 0, w - 1, w // 2, key="architecture_rf_col") if w > 1 else 0
    try:  # a walk over the graph: milliseconds
        path, field = _region(page_model.name, layer, int(row), int(col), _model=page_model.model)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    (r0, r1), (c0, c1) = path.rows, path.cols
    left, right = st.columns([1, 1])
    with left:
        st.image(draw_box(_model_input(page_model, image), path.rows, path.cols), width="stretch",
                 caption=_("Position ({row}, {col}) of {layer} sees input rows {r0}-{r1}, columns {c0}-{c1}").format(
                     row=row, col=col, layer=layer, r0=r0, r1=r1, c0=c0, c1=c1))
    with right:
        size, stride = field.size, field.stride
        seen = _("In pixels of the image as the model sees it (resized to its input), not of the original photo.")
        st.metric(_("Receptive field"), f"{size[0]} x {size[1]} px", help=seen)
        st.metric(_("Step between neighbouring positions"), f"{stride[0]} px", help=seen)
        st.caption(_("The field size ignores the image border; near an edge part of the field falls outside "
                     "the image (padding), so the box is smaller there."))
        if path.global_context:
            st.caption(_("This model also has global branches (squeeze-excite) that look at every pixel."))
    show_all = st.checkbox(_("Show every layer on the path"), key="architecture_rf_all")
    stage_ends = {s["last"] for s in data["stages"]}
    steps = [s for s in path.steps if show_all or s.layer in stage_ends or s.layer == layer]
    st.dataframe([{_("layer"): s.layer, _("output shape"): " x ".join(str(d) for d in s.output_shape),
                   _("rows"): f"{s.rows[0]}-{s.rows[1]}", _("columns"): f"{s.cols[0]}-{s.cols[1]}",
                   _("region"): f"{s.rows[1] - s.rows[0] + 1} x {s.cols[1] - s.cols[0] + 1}"} for s in steps],
                 hide_index=True, width="stretch", key="architecture_rf_table")
    st.caption(_("From input to output: the region of each layer that feeds the chosen position, in positions "
                 "of that layer's own feature map (its rows and columns, not the input's pixels)."))


# ---- filter visualisation -------------------------------------------------------------------------

def _filter_image(model_name: str, layer: str, channel: int, steps: int, size: int,
                  progress: Progress) -> FilterImage:
    loaded = state.get_model(model_name)
    return maximize_activation(loaded, layer, channel, steps=steps, size=size, time_budget=FILTER_TIME_BUDGET,
                               progress=progress)


# What a reload or a return to the page keeps (dashboard.page_memory): each section's settings and the
# gradient ascent asked for (its result is the background task's, found again by its key).
REMEMBERED = ("architecture_fm_layer", "architecture_fm_top", "architecture_rf_layer", "architecture_rf_row",
              "architecture_rf_col", "architecture_rf_all", "architecture_filter_layer", "architecture_filter_channel",
              "architecture_filter_steps", "architecture_filter_size", "architecture_filter_request")


def filters_ui(page_model: PageModel, data: dict) -> None:
    st.caption(_("What pattern makes a channel fire? Start from grey noise and change the pixels, step by "
                 "step, to raise the channel's activation (activation maximisation)."))
    if page_model.loaded is None:
        st.info(_("Filter visualisation needs the model's trained weights."))
        return
    rows_by_name = {r["name"]: r for r in data["rows"]}
    layers = [n for n in spatial_layers(data["rows"]) if rows_by_name[n]["type"].endswith("Conv2D")] \
        or spatial_layers(data["rows"])
    if not layers:
        st.info(_("This model has no layers with spatial feature maps."))
        return
    with st.form("architecture_filter_form"):
        layer = st.selectbox(_("Layer"), layers, index=_default_index(layers, page_model.cam_layer),
                             key="architecture_filter_layer")
        depth = rows_by_name[layer]["output_shape"][-1]
        channel = st.number_input(_("Channel (0 to {last})").format(last=depth - 1), min_value=0,
                                  max_value=int(depth) - 1, value=0, step=1, key="architecture_filter_channel")
        c1, c2 = st.columns(2)
        steps = c1.slider(_("Steps"), 8, min(128, MAX_STEPS), 48, step=8, key="architecture_filter_steps",
                          help=_("More steps give a clearer pattern; a run stops after {seconds:.0f} s.").format(
                              seconds=FILTER_TIME_BUDGET))
        size = c2.select_slider(_("Image size (px)"), FILTER_SIZES, value=112, key="architecture_filter_size",
                                help=_("Smaller images are faster; the model's input size is the upper limit."))
        go = st.form_submit_button(_("Visualise the channel"))
    if go:
        st.session_state["architecture_filter_request"] = (page_model.name, layer, int(channel), int(steps),
                                                           int(size))
    request = st.session_state.get("architecture_filter_request")
    if not request or request[0] != page_model.name:
        st.info(_("Choose a layer and channel, then press the button (a few seconds on a CPU)."))
        return
    result = run_in_background(("filter-image", *request),
                               Message(N_("Gradient ascent on channel {channel} of {layer}"), channel=request[2],
                                       layer=request[1]),
                               lambda progress: _filter_image(*request, progress=progress))
    if result is None:  # still computing (its bar is shown) or failed (its sentence is shown)
        return
    left, right = st.columns(2)
    with left:
        big = cv2.resize(result.image, (320, 320), interpolation=cv2.INTER_NEAREST)
        st.image(big, caption=_("{layer} · channel {channel}").format(layer=result.layer, channel=result.channel),
                 width="stretch")
    with right:
        fig = px.line(x=list(range(1, len(result.scores) + 1)), y=result.scores,
                      labels={"x": _("step"), "y": _("mean activation")}, title=_("The channel's activation rises"))
        fig.update_layout(height=300, margin=dict(l=0, r=0, t=40, b=0))
        st.plotly_chart(fig, width="stretch", key="architecture_filter_chart")
    if result.stopped_by_budget:
        done = _("{steps} steps in {seconds:.1f} s (stopped by the time limit). Results are cached: asking again "
                 "is instant.")
    else:
        done = _("{steps} steps in {seconds:.1f} s. Results are cached: asking again is instant.")
    st.caption(done.format(steps=result.steps, seconds=result.seconds))

"""Architecture page: the layer table textbooks draw by hand, the stages, and what happens inside."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.components.image_picker import current_image
from dashboard.components.model_picker import model_picker
from dashboard.i18n import N_, _
from dashboard.views import architecture_inside as inside
from dashboard.views.architecture_model import block_title, blocks_frame, layers_frame, load_page_model, table_data

ALL_BLOCKS = N_("All blocks")
REMEMBERED = ("architecture_model", "architecture_block", *inside.REMEMBERED)  # see dashboard.page_memory


def main() -> None:
    st.title(_("Inside the network"))
    st.caption(_("Every layer of a real model: what it computes, how the image shrinks and deepens stage by "
                 "stage, and what each channel responds to."))
    with st.sidebar:
        name = model_picker(key="architecture_model")
    st.caption(_("The photo for feature maps and the receptive field:"))
    image = current_image(hint=False)  # the session's photos, under the title on every page
    page_model = load_page_model(name)
    if page_model is None:
        return
    if page_model.loaded is None:
        st.info(_("This model's ImageNet weights are not downloaded, so Glasswing shows its architecture with "
                  "untrained weights: the table, the stages and receptive fields are exact; feature maps and "
                  "filters need the real weights (download them on the Explain page)."))
    data = table_data(name, page_model.loaded is not None, page_model.model)
    tabs = st.tabs([_("Layers"), _("Stages"), _("Feature maps"), _("Receptive field"), _("Filters")])
    with tabs[0]:
        _layers_ui(data)
    with tabs[1]:
        _stages_ui(data["stages"])
    with tabs[2]:
        inside.feature_maps_ui(page_model, data, image)
    with tabs[3]:
        inside.receptive_ui(page_model, data, image)
    with tabs[4]:
        inside.filters_ui(page_model, data)


def _layers_ui(data: dict) -> None:
    t = data["totals"]
    cols = st.columns(4)
    cols[0].metric(_("Layers"), f"{len(data['rows']):,}")
    cols[1].metric(_("Parameters"), f"{t['total']:,}")
    cols[2].metric(_("Trainable"), f"{t['trainable']:,}")
    cols[3].metric(_("Frozen (non-trainable)"), f"{t['non_trainable']:,}")
    st.caption(_("Parameters are the numbers training can change. Frozen ones (BatchNorm statistics, a "
                 "frozen backbone) are used but not updated."))
    st.subheader(_("Blocks"))
    st.dataframe(blocks_frame(data["blocks"]), hide_index=True, width="stretch", key="architecture_blocks")
    st.subheader(_("Layers"))
    names = [ALL_BLOCKS] + [b["name"] for b in data["blocks"]]
    block = st.selectbox(_("Show the layers of"), names, key="architecture_block",
                         format_func=lambda b: _(ALL_BLOCKS) if b == ALL_BLOCKS else block_title(b),
                         help=_("Layers are grouped into the blocks the model's authors named."))
    rows = data["rows"] if block == ALL_BLOCKS else [r for r in data["rows"] if r["block"] == block]
    st.dataframe(layers_frame(rows), hide_index=True, width="stretch", key="architecture_layers",
                 column_config={_("params"): st.column_config.NumberColumn(format="%d")})
    st.caption(_("Kernel: the window a convolution or pooling layer slides over its input. Stride: how far it "
                 "moves each step (2 halves the height and width). Output shape: height x width x channels."))


def stage_figure(stage_rows: list[dict]) -> go.Figure:
    """Bars for the spatial size of each stage, a line for its depth (channels)."""
    labels = [_("stage {index}").format(index=s["index"]) for s in stage_rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=labels, y=[s["height"] for s in stage_rows], name=_("height x width"),
                text=[f"{s['height']}x{s['width']}" for s in stage_rows], textposition="outside",
                hovertext=[_("{first} ... {last} · {layers} layers · {params:,} params").format(
                    first=s["first"], last=s["last"], layers=s["layers"], params=s["params"]) for s in stage_rows])
    fig.add_scatter(x=labels, y=[s["channels_out"] for s in stage_rows], name=_("channels"),
                    mode="lines+markers+text", text=[str(s["channels_out"]) for s in stage_rows],
                    textposition="top center", secondary_y=True)
    # Both axes from 0 with headroom for the labels; the right axis draws no grid of its own (its lines,
    # at other heights than the left's, crossed the bars) and only a few whole-number ticks.
    top_side = max(s["height"] for s in stage_rows)
    top_depth = max(s["channels_out"] for s in stage_rows)
    fig.update_yaxes(title_text=_("feature map side (positions)"), secondary_y=False, range=[0, top_side * 1.2])
    fig.update_yaxes(title_text=_("channels (depth)"), secondary_y=True, range=[0, top_depth * 1.25],
                     showgrid=False, zeroline=False, tickformat="d", nticks=5, ticklabelposition="outside")
    fig.update_layout(height=340, margin=dict(l=0, r=0, t=30, b=0), legend=dict(orientation="h", y=1.12))
    return fig


def _stages_ui(stage_rows: list[dict]) -> None:
    if not stage_rows:
        st.info(_("This model has no layers with spatial feature maps."))
        return
    st.caption(_("A CNN works at a few resolutions. At each stage the feature maps get smaller (bars) and "
                 "deeper (line): fewer positions, each described by more channels."))
    st.plotly_chart(stage_figure(stage_rows), width="stretch", key="architecture_stages_chart")
    st.dataframe([{_("stage"): s["index"], _("size"): f"{s['height']}x{s['width']}",
                   _("channels in"): s["channels_in"], _("channels out"): s["channels_out"],
                   _("downsampling"): f"1/{s['downsampling']}", _("layers"): s["layers"], _("params"): s["params"],
                   _("from"): s["first"], _("to"): s["last"]}
                  for s in stage_rows], hide_index=True, width="stretch", key="architecture_stages")
    st.caption(_("Size: the feature map's positions (height x width). Downsampling 1/32: each side is 32 times "
                 "shorter than the input image's."))

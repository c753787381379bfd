"""Which Keras model the Architecture page shows, and its layer table as plain, cached data.

The layer table, the stages and receptive fields depend only on the graph, not on the weights, so a
keras.applications model whose ImageNet weights are not downloaded is still shown: its architecture
is built with ``weights=None`` (no download). Feature maps and filters need the real weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import pandas as pd
import streamlit as st

from core.errors import GlasswingError
from core.inspect.architecture import HEAD_BLOCK, INPUT_BLOCK, block_summary, layer_table, stages, totals
from core.zoo import LoadedModel
from core.zoo.loaded import cam_layer
from dashboard.components.model_loader import load_model_or_explain, needs_download
from dashboard.i18n import N_, _, error_text

# Block names that are English words (core's input and head, and the stem/top prefixes of layer names).
BLOCK_WORDS = {INPUT_BLOCK: N_("input"), HEAD_BLOCK: N_("head"), "stem": N_("stem"), "top": N_("top")}


@dataclass(frozen=True)
class PageModel:
    name: str  # zoo name or run folder
    model: keras.Model
    loaded: LoadedModel | None  # None: architecture only, the weights are not available here

    @property
    def cam_layer(self) -> str | None:
        """The default layer, as core decides it for every page (for an architecture alone too)."""
        return self.loaded.default_cam_layer if self.loaded is not None else cam_layer(self.model)


@st.cache_resource(show_spinner=False, max_entries=2)
def _structure_only(name: str) -> keras.Model:
    """A keras.applications architecture with untrained weights (nothing downloaded)."""
    from core.zoo.keras_apps import APPS, build_flat

    return build_flat(next(a for a in APPS if a.name == name), None)


def load_page_model(name: str) -> PageModel | None:
    """The model to inspect; on failure an error is shown and None returned."""
    if needs_download(name) is not None:
        try:
            with st.spinner(_("Building the {model} architecture (no weights needed) ...").format(model=name)):
                return PageModel(name, _structure_only(name), None)
        except GlasswingError as exc:
            st.error(error_text(exc))
            return None
    loaded = load_model_or_explain(name)
    return None if loaded is None else PageModel(name, loaded.model, loaded)


@st.cache_data(show_spinner=False, max_entries=16)
def table_data(name: str, weights: bool, _model: keras.Model) -> dict:
    """Layer rows, block summaries, totals and stages for ``name`` (plain data, cached per model)."""
    rows = layer_table(_model)
    return {"rows": [r.to_dict() for r in rows], "blocks": [b.__dict__ for b in block_summary(rows)],
            "totals": totals(rows).__dict__, "stages": [s.__dict__ for s in stages(_model, rows)]}


def _shape_text(shape) -> str:
    return "" if shape is None else " x ".join("?" if d is None else str(d) for d in shape)


def block_title(name: str) -> str:
    """A block's name as the page shows it: core's words (input, head, stem, top) in the session's language,
    the names the model's authors gave (block2a, conv3_block1) as they are."""
    if name in BLOCK_WORDS:
        return _(BLOCK_WORDS[name])
    outer, _space, word = name.rpartition(" ")  # a nested model's own input and head: "efficientnet input"
    if outer and word == INPUT_BLOCK:
        return _("{model} input").format(model=outer)
    if outer and word == HEAD_BLOCK:
        return _("{model} head").format(model=outer)
    outer, slash, word = name.rpartition("/")  # a nested model's stem: "efficientnet/stem"
    return outer + slash + _(BLOCK_WORDS[word]) if slash and word in BLOCK_WORDS else name


def layers_frame(rows: list[dict]) -> pd.DataFrame:
    """The textbook table: one line per layer."""
    return pd.DataFrame({
        _("block"): [block_title(r["block"]) for r in rows],
        _("name"): [r["name"] for r in rows],
        _("type"): [r["type"] for r in rows],
        _("kernel"): [r["kernel"] or "" for r in rows],
        _("stride"): [r["stride"] or "" for r in rows],
        _("filters / units"): [r["units"] if r["units"] else None for r in rows],
        _("output shape"): [_shape_text(r["output_shape"]) for r in rows],
        _("params"): [r["params"] for r in rows],
        _("trainable"): [r["trainable"] for r in rows],
    })


def blocks_frame(blocks: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        _("block"): [block_title(b["name"]) for b in blocks],
        _("layers"): [b["layers"] for b in blocks],
        _("output shape"): [_shape_text(b["output_shape"]) for b in blocks],
        _("params"): [b["params"] for b in blocks],
        _("trainable params"): [b["trainable_params"] for b in blocks],
    })


def spatial_layers(rows: list[dict]) -> list[str]:
    """Layers with (H, W, C) feature maps, in graph order (the ones whose maps can be shown)."""
    return [r["name"] for r in rows if r["output_shape"] is not None and len(r["output_shape"]) == 3
            and r["type"] != "InputLayer"]

"""Trust page: can this explanation be trusted? Compare methods, sanity-check them, catch a shortcut."""

from __future__ import annotations

import streamlit as st

from dashboard.components.image_picker import current_image
from dashboard.components.model_picker import model_picker
from dashboard.views import trust_compare, trust_sanity, trust_shortcut, trust_table

VIEWS = {  # views over one model and one photo; the shortcut lesson trains its own model
    "Compare methods": trust_compare.show,
    "Sanity check": trust_sanity.show,
}
TABLE = "Method table"  # one model over a dataset
SHORTCUT = "Shortcut lesson"


def main() -> None:
    st.title("Can this explanation be trusted?")
    st.caption("Heatmaps look convincing whether or not they mean anything. Here they are put to the test: "
               "does removing the pixels they point at change the prediction, do they change when the "
               "model is scrambled, and do they reveal a model that learned the wrong thing?")
    with st.sidebar:
        view = st.radio("View", [*VIEWS, TABLE, SHORTCUT], key="trust_view",
                        help="Compare ranks every method on one photo; Sanity check scrambles the model; "
                             "Method table scores the methods over a dataset and recommends one; "
                             "Shortcut lesson trains a model that cheats and shows how to catch it.")
    if view == SHORTCUT:
        trust_shortcut.show()
        return
    with st.sidebar:
        model_name = model_picker(key="trust_model")
    if view == TABLE:
        trust_table.show(model_name)
        return
    image = current_image()  # the session's photos, under the title on every page
    if image is not None:
        VIEWS[view](model_name, image)

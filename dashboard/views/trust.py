"""Trust page: can this explanation be trusted? Compare methods, sanity-check them, catch a shortcut."""

from __future__ import annotations

import streamlit as st

from dashboard.components.image_picker import current_image
from dashboard.components.model_picker import model_picker
from dashboard.i18n import N_, _
from dashboard.views import trust_compare, trust_sanity, trust_shortcut, trust_table

VIEWS = {  # views over one model and one photo; the shortcut lesson trains its own model
    N_("Compare methods"): trust_compare.show,
    N_("Sanity check"): trust_sanity.show,
}
TABLE = N_("Method table")  # one model over a dataset
SHORTCUT = N_("Shortcut lesson")
# What a reload or a return to the page keeps (dashboard.page_memory): each view's settings and request.
REMEMBERED = ("trust_view", "trust_model", *trust_compare.REMEMBERED, *trust_sanity.REMEMBERED,
              *trust_table.REMEMBERED, *trust_shortcut.REMEMBERED)


def main() -> None:
    st.title(_("Can this explanation be trusted?"))
    st.caption(_("Heatmaps look convincing whether or not they mean anything. Here they are put to the test: "
                 "does removing the pixels they point at change the prediction, do they change when the "
                 "model is scrambled, and do they reveal a model that learned the wrong thing?"))
    with st.sidebar:
        view = st.radio(_("View"), [*VIEWS, TABLE, SHORTCUT], key="trust_view", format_func=_,
                        help=_("Compare ranks every method on one photo; Sanity check scrambles the model; "
                               "Method table scores the methods over a dataset and recommends one; "
                               "Shortcut lesson trains a model that cheats and shows how to catch it."))
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

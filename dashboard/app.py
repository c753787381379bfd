"""Glasswing dashboard entry point: ``streamlit run dashboard/app.py``."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit runs this file as a script: make the repository importable (core/, dashboard/).
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import state  # noqa: E402
from dashboard.views import explain  # noqa: E402

st.set_page_config(page_title="Glasswing", page_icon="🔍", layout="wide")
state.init_session()

PAGES = [
    st.Page(explain.main, title="Explain", icon="🔍", url_path="explain", default=True),
]

page = st.navigation(PAGES)
with st.sidebar:
    st.caption("Glasswing · see what an image classifier sees")
page.run()

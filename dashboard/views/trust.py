"""Trust page (placeholder until it is built)."""

from __future__ import annotations

import streamlit as st


def main() -> None:
    st.title("Trust")
    st.info("This page is being built.")

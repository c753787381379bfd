"""The Glasswing Streamlit dashboard: thin pages over ``core``."""

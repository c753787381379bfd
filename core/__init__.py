"""Glasswing core: models, explanations, data, training, evaluation and attacks.

This package never imports Streamlit; everything the dashboard shows can be produced from
``python -m core`` and tested without a browser.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter is noise for CLI users and in the dashboard's logs.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

"""Glasswing core: models, explanations, data, training, evaluation and attacks.

This package never imports Streamlit; everything the dashboard shows can be produced from
``python -m core`` and tested without a browser.
"""

__version__ = "0.1.0"

import os as _os

# Both must be set before TensorFlow is imported: entry points import ``core`` first.
# TensorFlow's C++ start-up chatter is noise for CLI users and in the dashboard's logs.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow 2.21's oneDNN kernels corrupt the heap on some AVX-512 CPUs (seen on one with AVX512_FP16:
# the input gradient of a 1x1 stride-2 convolution, as in ResNet's shortcuts, ends the process with
# "corrupted size vs. prev_size"; tests/test_tensorflow_env.py). TensorFlow's own kernels are as fast
# within ~15% for forward passes and Grad-CAM here. TF_ENABLE_ONEDNN_OPTS=1 turns oneDNN back on.
if "TF_ENABLE_ONEDNN_OPTS" not in _os.environ:
    import sys as _sys

    if "tensorflow" in _sys.modules:  # too late to take effect: say so once, where the user can act
        import warnings as _warnings

        _warnings.warn("TensorFlow was imported before glasswing's core, so its oneDNN kernels stay on; they "
                       "can crash on some AVX-512 CPUs. Import core first, or set TF_ENABLE_ONEDNN_OPTS.",
                       RuntimeWarning, stacklevel=2)
    _os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

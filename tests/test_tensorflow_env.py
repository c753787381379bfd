"""TensorFlow's environment as ``core`` sets it before TensorFlow loads: oneDNN's kernels are off by
default, because on some AVX-512 CPUs (this project's CI kind among them) they corrupt the heap, and a
user's explicit choice is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The smallest reproduction found: the input gradient of a 1x1 stride-2 convolution (ResNet's shortcut),
# which with oneDNN on ended 5 runs out of 5 with "corrupted size vs. prev_size" on an AVX512_FP16 CPU.
CRASHED_WITH_ONEDNN = """
import core
import keras, numpy as np, tensorflow as tf
keras.utils.set_random_seed(1)
pixels = keras.Input((32, 32, 3))
model = keras.Model(pixels, keras.layers.Conv2D(4, 1, strides=2)(pixels))
x = tf.constant(np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype(np.float32))
total = 0.0
for i in range(40):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x)[0, i % 16, i % 16, :])
    total += float(tf.reduce_sum(tape.gradient(y, x)))
print("ok", total)
"""


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True,
                          text=True, timeout=300)


def test_core_turns_onednn_off_unless_the_user_chose():
    code = ("import core\nfrom tensorflow.python.util import _pywrap_util_port\n"
            "print(_pywrap_util_port.IsMklEnabled())")  # what TensorFlow itself decided at import
    assert _python(code).stdout.strip() == "False"
    assert _python(code, TF_ENABLE_ONEDNN_OPTS="1").stdout.strip() == "True"


def test_the_gradient_that_crashed_the_process_with_onednn_runs():
    out = _python(CRASHED_WITH_ONEDNN)
    assert out.returncode == 0 and out.stdout.startswith("ok"), (out.returncode, out.stderr[-2000:])


def test_importing_tensorflow_first_is_reported():
    code = "import warnings\nwarnings.simplefilter('error')\nimport tensorflow\nimport core"
    out = _python(code)
    assert out.returncode != 0 and "Import core first" in out.stderr
    assert _python(code, TF_ENABLE_ONEDNN_OPTS="0").returncode == 0  # the user chose: nothing to say

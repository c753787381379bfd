"""A person's own ``.keras`` classifier, made into a run that every page and command can use.

The file is loaded in Keras' safe mode (no arbitrary code), within a size limit, and checked against
the model contract (:mod:`core.zoo.contract`). Glasswing feeds models raw pixels (0 to 255) and reads
class probabilities, so the model is wrapped when it needs it:

- input: a model that starts with a ``Rescaling`` or ``Normalization`` layer takes raw pixels already;
  otherwise its expected range cannot be told from the file and must be given (0-255, 0-1 or -1-1),
  and a ``Rescaling`` layer is put in front;
- output: when the last layer is not a softmax and a probe batch gives rows that are not probabilities,
  the outputs are logits and a softmax is put after them.

Class names come from an optional text file (one per line). The run is built in a hidden folder of the
runs folder and renamed into place, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from core import atomic
from core.errors import GlasswingError, ParameterError
from core.zoo.contract import check_contract
from core.zoo.files import MAX_MODEL_BYTES, load_keras_file

# Input ranges a model may expect, as (scale, offset) applied to raw 0..255 pixels.
INPUT_RANGES = {"0-255": None, "0-1": (1 / 255.0, 0.0), "-1-1": (1 / 127.5, -1.0)}
AUTO = "auto"
MAX_CLASS_NAME = 100


class ModelImportError(GlasswingError):
    """An uploaded model cannot be used; the message says why and what to do."""


class InputRangeUnknown(ModelImportError):
    """The model does not say which pixel range it expects; the person must choose one."""


def preprocessing_inside(model: keras.Model) -> bool:
    """True when one of the model's first layers rescales or normalises its input itself."""
    for layer in model.layers[:4]:
        if isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            return True
        if isinstance(layer, keras.Model) and preprocessing_inside(layer):
            return True
    return False


def outputs_probabilities(model: keras.Model) -> bool:
    """True when the model's output rows are probabilities: a final softmax, or a probe batch that
    gives non-negative rows summing to 1."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    if activation is not None and getattr(activation, "__name__", "") == "softmax":
        return True
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    probe = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype(np.float32)
    rows = np.asarray(model(probe, training=False), np.float64)
    return bool(np.all(rows >= -1e-6) and np.allclose(rows.sum(axis=1), 1.0, atol=1e-3))


def parse_class_names(text: str | None, classes: int) -> list[str] | None:
    """Class names from a text file (one per line, blank lines ignored), checked against the model."""
    if text is None:
        return None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != classes:
        raise ModelImportError(f"The class names file lists {len(names)} name{'s' if len(names) != 1 else ''} "
                               f"but the model has {classes} "
                               f"outputs; give one name per line, {classes} lines.")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ModelImportError(f"The class names file lists {', '.join(twice[:5])} more than once.")
    long = [n for n in names if len(n) > MAX_CLASS_NAME]
    if long:
        raise ModelImportError(f"Class names may be at most {MAX_CLASS_NAME} characters; "
                               f"{long[0][:40]!r}... is longer.")
    return names


def _wrap(model: keras.Model, input_range: tuple[float, float] | None, softmax: bool) -> keras.Model:
    if input_range is None and not softmax:
        return model
    inputs = keras.Input(tuple(int(d) for d in model.inputs[0].shape[1:]), name="pixels")
    x = inputs if input_range is None else keras.layers.Rescaling(*input_range, name="to_model_range")(inputs)
    x = model(x)
    if softmax:
        x = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, x, name=model.name)


def import_model(data: bytes, filename: str, owner: str | None, class_names: str | None = None,
                 input_range: str = AUTO, root: str | os.PathLike | None = None,
                 max_bytes: int = MAX_MODEL_BYTES) -> Path:
    """Make ``data`` (a ``.keras`` file's bytes) into a finished run of ``owner``; returns its folder.

    ``input_range`` is ``auto`` (the model must rescale its input itself) or one of
    :data:`INPUT_RANGES`; ``class_names`` the text of a names file, or None.
    """
    from core.train.runs import MODEL_FILE, RUN_META, new_run_id, now_iso, runs_root

    if input_range != AUTO and input_range not in INPUT_RANGES:
        raise ParameterError(f"Input range must be one of {AUTO}, {', '.join(INPUT_RANGES)}; got {input_range!r}.")
    name = Path(filename).name
    if not name.lower().endswith(".keras"):
        raise ModelImportError(f"{name}: upload a Keras 3 model saved as a .keras file (model.save('x.keras')).")
    if len(data) > max_bytes:
        raise ModelImportError(f"{name} is {len(data) / 2**20:.0f} MB; models up to {max_bytes / 2**20:.0f} MB "
                               "are accepted.")
    base = runs_root(root)
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=base))  # hidden: no listing sees it
    try:
        (staging / "upload").mkdir()  # apart from the run's own model.keras, whatever the upload is called
        uploaded = staging / "upload" / (re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-100:] or "model.keras")
        uploaded.write_bytes(data)  # under the person's own file name, which the errors then name
        model = load_keras_file(uploaded, max_bytes)
        check_contract(model, name)
        classes = int(model.outputs[0].shape[-1])
        names = parse_class_names(class_names, classes)
        inside = preprocessing_inside(model)
        if input_range == AUTO and not inside:
            raise InputRangeUnknown(f"{name} does not rescale its own input, so Glasswing cannot tell which "
                                    "pixel range it was trained on: choose 0-255, 0-1 or -1-1.")
        scale = None if input_range == AUTO else INPUT_RANGES[input_range]
        softmax = not outputs_probabilities(model)
        with atomic.atomic_path(staging / MODEL_FILE) as tmp:
            _wrap(model, scale, softmax).save(tmp)
        shutil.rmtree(staging / "upload")
        run_id = new_run_id(Path(name).stem)
        meta = {"id": run_id, "name": Path(name).stem[:60] or "uploaded model", "status": "complete",
                "base_model": "uploaded model", "owner": owner, "creator": owner, "created": now_iso(),
                "updated": now_iso(), "source": f"upload {name}",
                "input_range": "inside the model" if scale is None else input_range,
                "output": "logits (a softmax was added)" if softmax else "probabilities"}
        if names is not None:
            meta["class_names"] = names
        atomic.write_json(staging / RUN_META, meta)
        final = base / run_id
        os.rename(staging, final)
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

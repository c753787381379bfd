"""Input-transformation defences, and BPDA to attack straight through them.

A defence transforms the pixels before the model sees them: the defended classifier is
``model(defence.transform(x))``. JPEG re-compression and bit-depth reduction are not differentiable
(TensorFlow's gradient through them is zero), so a gradient attack computed through them sees nothing
and fails: the defence *masks* gradients rather than making the model robust. BPDA (Athalye et al.,
2018, "Obfuscated Gradients Give a False Sense of Security") runs the real transformation forward and
uses the identity's gradient backward, so the attack goes through and usually succeeds again.
The median filter is differentiable almost everywhere, but its gradient reaches only the pixels that
are some window's median (on noise, about half the pixels are no window's median), so sign-gradient
attacks through it leave those pixels alone and BPDA can still be stronger: compare both
(:func:`core.attacks.robustness.compare_defences` measures this).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow as tf

from core.attacks.registry import register_defence
from core.errors import ParameterError
from core.i18n import N_
from core.params import Configurable, Param


class Defence(Configurable):
    """A pixel-space transformation in front of the model: float32 0..255 in, float32 0..255 out."""

    differentiable: ClassVar[bool] = True  # False: TensorFlow's gradient through it is zero; use BPDA
    note: ClassVar[str] = ""  # one sentence shown next to results

    def transform(self, x: tf.Tensor) -> tf.Tensor:
        """The transformation on a batch ``(N, H, W, 3)`` of raw pixels, in TensorFlow ops."""
        raise NotImplementedError

    def apply(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """The transformation on numpy images (for previews): ``(N, H, W, 3)`` or one ``(H, W, 3)``."""
        x = np.asarray(images, dtype=np.float32)
        batch = x[None] if x.ndim == 3 else x
        out = np.concatenate([self.transform(tf.constant(batch[i:i + batch_size])).numpy()
                              for i in range(0, len(batch), batch_size)]) if len(batch) else batch
        return out[0] if x.ndim == 3 else out

    @classmethod
    def describe(cls) -> dict:
        return {**super().describe(), "differentiable": cls.differentiable, "note": cls.note}


def straight_through(transform, x: tf.Tensor) -> tf.Tensor:
    """BPDA with the identity as the approximation: forward ``transform(x)``, backward gradient 1."""
    return x + tf.stop_gradient(transform(x) - x)


def _to_uint8(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)


@register_defence
class JpegDefence(Defence):
    name = "jpeg"
    title = N_("JPEG re-compression")
    differentiable = False
    note = N_("Not differentiable: a naive gradient attack sees zero gradient; BPDA attacks straight through it.")
    params = (
        Param("quality", int, 75, N_("JPEG quality: lower removes more detail (and more of the attack)"),
              min=1, max=100, label=N_("quality")),
    )

    def transform(self, x: tf.Tensor) -> tf.Tensor:
        quality = self.values["quality"]

        def one(image: tf.Tensor) -> tf.Tensor:
            return tf.io.decode_jpeg(tf.io.encode_jpeg(image, quality=quality), channels=3)

        out = tf.map_fn(one, _to_uint8(x), fn_output_signature=tf.uint8)
        out = tf.cast(out, tf.float32)
        out.set_shape(x.shape)
        return out


@register_defence
class BitDepthDefence(Defence):
    name = "bit_depth"
    title = N_("Bit-depth reduction")
    differentiable = False
    note = N_("Rounding has zero gradient: a naive gradient attack sees nothing; BPDA attacks through it.")
    params = (
        Param("bits", int, 4, N_("bits kept per colour channel (8 keeps every level)"), min=1, max=8,
              unit="bits", label=N_("bits")),
    )

    def transform(self, x: tf.Tensor) -> tf.Tensor:
        levels = float(2 ** self.values["bits"] - 1)
        return tf.round(tf.clip_by_value(x, 0.0, 255.0) * (levels / 255.0)) * (255.0 / levels)


@register_defence
class MedianDefence(Defence):
    name = "median"
    title = N_("Median filter")
    differentiable = True
    note = N_("Differentiable almost everywhere, but the gradient reaches only each window's median pixel, "
               "so BPDA may still attack it better.")
    params = (
        Param("size", int, 3, N_("side of the square window (odd)"), min=1, max=9, unit="pixels",
              label=N_("size (pixels)")),
    )

    def _check_params(self) -> None:
        super()._check_params()
        if self.values["size"] % 2 == 0:
            raise ParameterError(f"size must be an odd number of pixels, got {self.values['size']}.")

    def transform(self, x: tf.Tensor) -> tf.Tensor:
        k = self.values["size"]
        if k == 1:
            return tf.identity(x)
        r = k // 2
        padded = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
        # Each output pixel's k*k window, flattened as (row, col, channel); then the median per channel.
        patches = tf.image.extract_patches(padded, sizes=[1, k, k, 1], strides=[1, 1, 1, 1],
                                           rates=[1, 1, 1, 1], padding="VALID")
        shape = tf.shape(x)
        patches = tf.reshape(patches, [shape[0], shape[1], shape[2], k * k, 3])
        patches = tf.transpose(patches, [0, 1, 2, 4, 3])
        # The median of an odd count is the (k*k//2 + 1)-th largest; top_k has a gradient (to that pixel).
        out = tf.math.top_k(patches, k=k * k // 2 + 1).values[..., -1]
        out.set_shape(x.shape)
        return out

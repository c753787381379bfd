"""What an attack returns, and the 8-bit rounding every saved adversarial image goes through."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rounded_to_uint8(adversarial: np.ndarray, original: np.ndarray | None = None,
                     eps: float | None = None) -> np.ndarray:
    """Round adversarial pixels to 8 bits, as a PNG stores them.

    With ``original`` and ``eps``, each pixel is kept on an 8-bit value inside the eps-ball when one
    exists there (always, when the original is 8-bit), so rounding never pushes ``linf`` above ``eps``.
    Rounding can still undo part of a small perturbation: check the rounded image's prediction.
    """
    out = np.rint(np.asarray(adversarial, dtype=np.float32))
    if original is not None and eps is not None:
        original = np.asarray(original, dtype=np.float32)
        out = np.clip(out, np.ceil(original - eps - 1e-4), np.floor(original + eps + 1e-4))
    return np.clip(out, 0, 255).astype(np.uint8)


def linf_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest absolute pixel difference of each image, in pixel levels."""
    diff = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))
    return diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(len(diff), np.float32)


def is_success(predicted: np.ndarray, labels: np.ndarray, targeted: bool) -> np.ndarray:
    """Targeted: the prediction is the target. Untargeted: the prediction left the attacked label."""
    return predicted == labels if targeted else predicted != labels


@dataclass
class AttackResult:
    """Adversarial images and how the classifier's predictions changed, per image.

    ``labels`` are the classes each image was attacked on: the true (or clean predicted) label for an
    untargeted attack, the target for a targeted one. Predictions are those of the defended
    classifier when ``defence`` is set.
    """

    method: str
    params: dict
    original: np.ndarray  # (N, H, W, 3) float32 pixels 0..255
    adversarial: np.ndarray  # (N, H, W, 3) float32 pixels 0..255
    labels: np.ndarray  # (N,) int
    targeted: bool
    probs_before: np.ndarray  # (N, C)
    probs_after: np.ndarray  # (N, C)
    defence: str | None = None
    bpda: bool = False

    @property
    def eps(self) -> float:
        return float(self.params["eps"])

    @property
    def perturbation(self) -> np.ndarray:
        return self.adversarial - self.original

    @property
    def linf(self) -> np.ndarray:
        return linf_per_image(self.adversarial, self.original)

    @property
    def before_index(self) -> np.ndarray:
        return self.probs_before.argmax(axis=1)

    @property
    def after_index(self) -> np.ndarray:
        return self.probs_after.argmax(axis=1)

    @property
    def before_prob(self) -> np.ndarray:
        return self.probs_before.max(axis=1)

    @property
    def after_prob(self) -> np.ndarray:
        return self.probs_after.max(axis=1)

    @property
    def success(self) -> np.ndarray:
        return is_success(self.after_index, self.labels, self.targeted)

    def rounded(self) -> np.ndarray:
        """The adversarial images as 8-bit pixels, kept inside the eps-ball (see :func:`rounded_to_uint8`)."""
        return rounded_to_uint8(self.adversarial, self.original, self.eps)

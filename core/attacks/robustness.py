"""Robustness over a labelled set: accuracy against epsilon, and defences compared honestly.

Both work batch by batch (attack a batch, predict it, count), so memory does not grow with the set.
``progress(fraction, text)`` (:mod:`core.progress`) is called after each batch, its text naming the
attack, epsilon or defence being run; a background job stops the work by raising from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.attacks.base import EPS_PARAM, as_pixels, check_batch_size, class_labels, num_classes, predict_probs
from core.attacks.defences import Defence
from core.attacks.registry import create_attack, create_defence, list_defences
from core.errors import ParameterError
from core.progress import Progress, report

# A defence "masks gradients" when BPDA brings accuracy under attack down by more than this much
# compared with the naive attack through the real (non-differentiable) transformation.
MASKING_GAP = 0.05


@dataclass
class RobustnessCurve:
    """Accuracy under attack at each epsilon, per method (epsilon 0 is the clean accuracy), and the mean
    probability of the label (for one image: its probability, the curve the Attack page draws)."""

    epsilons: list[float]
    accuracy: dict[str, list[float]]  # method -> accuracy at each epsilon
    clean_accuracy: float
    n_images: int
    defence: str | None = None
    bpda: bool = False
    params: dict[str, dict] = field(default_factory=dict)  # per method, parameters other than eps
    label_prob: dict[str, list[float]] = field(default_factory=dict)  # method -> mean P(label) at each epsilon

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DefenceComparison:
    """One defence under one attack: clean accuracy, accuracy under the naive and the BPDA attack."""

    defence: str  # "none" for the undefended model
    params: dict
    clean_accuracy: float
    naive_accuracy: float  # the attack differentiates the real transformation (zero gradient if masked)
    bpda_accuracy: float | None  # the attack goes straight through the transformation (None: no defence)
    robust_accuracy: float  # images that survive both attacks
    masks_gradients: bool  # observed: BPDA is clearly stronger than the naive attack
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def _check_inputs(model: Any, images: Any, labels: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    check_batch_size(batch_size)
    x = as_pixels(images, model)
    if len(x) == 0:
        raise ParameterError("images must hold at least one image.")
    return x, class_labels(labels, len(x), num_classes(model), "labels")


def _other_params(params: dict | None, where: str) -> dict:
    params = dict(params or {})
    if "eps" in params:
        raise ParameterError(f"{where} must not set eps (the epsilons are given separately).")
    return params


def _under_attack(attack, model: Any, x: np.ndarray, y: np.ndarray, defence: Defence | None, bpda: bool,
                  batch_size: int, tick: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """Per image, on its adversarial copy: is the (defended) classifier still right, and P(label)."""
    correct, prob = np.zeros(len(x), bool), np.zeros(len(x), np.float64)
    what = f"{attack.name.upper()} at epsilon {attack.eps:g}"
    if defence is not None:
        what += f" through {defence.title}" + (" (BPDA)" if bpda else " (naive)")
    batches = -(-len(x) // batch_size)
    for index, (rows, adversarial) in enumerate(attack.iter_batches(model, x, y, False, defence, bpda,
                                                                    batch_size), start=1):
        probs = predict_probs(model, adversarial, defence, batch_size)
        correct[rows] = probs.argmax(axis=1) == y[rows]
        prob[rows] = probs[np.arange(len(probs)), y[rows]]
        tick(f"{what}: batch {index} of {batches}")
    return correct, prob


def _correct_under_attack(attack, model: Any, x: np.ndarray, y: np.ndarray, defence: Defence | None,
                          bpda: bool, batch_size: int, tick: Callable[[str], None]) -> np.ndarray:
    """Per image: is the (defended) classifier still right on the adversarial image?"""
    return _under_attack(attack, model, x, y, defence, bpda, batch_size, tick)[0]


def _ticker(progress: Progress | None, total: int) -> Callable[[str], None]:
    """One call per attacked batch: ``progress(batches done / total, text)``."""
    done = 0

    def tick(text: str) -> None:
        nonlocal done
        done += 1
        report(progress, done / max(total, 1), text)
    return tick


def robustness_curve(model: Any, images: Any, labels: Any, epsilons: Sequence[float] = (0, 1, 2, 4, 8, 16),
                     methods: Sequence[str] = ("fgsm", "pgd"), defence: Defence | None = None,
                     bpda: bool = True, params: dict[str, dict] | None = None, batch_size: int = 32,
                     progress: Progress | None = None) -> RobustnessCurve:
    """Accuracy against epsilon for each method, optionally attacking through a defence.

    ``images``: float32 raw pixels ``(N, H, W, 3)`` at the model's size; ``labels``: ``(N,)`` ints.
    ``params``: per method, parameters other than eps (e.g. ``{"pgd": {"steps": 20}}``).
    """
    x, y = _check_inputs(model, images, labels, batch_size)
    epsilons = [EPS_PARAM.validate(e) for e in epsilons]
    if not epsilons:
        raise ParameterError("epsilons must hold at least one value.")
    params = {m: _other_params((params or {}).get(m), f"params[{m!r}]") for m in methods}
    attacks = {m: [create_attack(m, eps=e, **params[m]) for e in epsilons] for m in methods}
    batches = -(-len(x) // batch_size)
    tick = _ticker(progress, batches * sum(e > 0 for e in epsilons) * len(attacks))
    clean = predict_probs(model, x, defence, batch_size)
    clean_accuracy = float(np.mean(clean.argmax(axis=1) == y))
    clean_prob = float(np.mean(clean[np.arange(len(clean)), y]))
    accuracy, label_prob = {}, {}
    for method, per_eps in attacks.items():
        accuracy[method], label_prob[method] = [], []
        for attack in per_eps:
            correct, prob = ((clean_accuracy, clean_prob) if attack.eps == 0 else
                             _under_attack(attack, model, x, y, defence, bpda, batch_size, tick))
            accuracy[method].append(float(np.mean(correct)))
            label_prob[method].append(float(np.mean(prob)))
    return RobustnessCurve(epsilons=epsilons, accuracy=accuracy, clean_accuracy=clean_accuracy,
                           label_prob=label_prob,
                           n_images=len(x), defence=defence.name if defence is not None else None,
                           bpda=bool(bpda) and defence is not None,
                           params={m: {k: v for k, v in a[0].values.items() if k != "eps"}
                                   for m, a in attacks.items()})


def _verdict(title: str, clean: float, naive: float, bpda: float | None, robust: float, masks: bool) -> str:
    if bpda is None:
        return f"No defence: {clean:.0%} clean accuracy, {robust:.0%} under attack."
    if masks:
        return (f"{title} masks gradients: the naive attack leaves {naive:.0%} accuracy, but BPDA straight "
                f"through it leaves {bpda:.0%} ({clean:.0%} clean).")
    return (f"{title}: {robust:.0%} accuracy under attack (naive {naive:.0%}, BPDA {bpda:.0%}), "
            f"{clean:.0%} clean.")


def compare_defences(model: Any, images: Any, labels: Any, eps: float = 8.0, method: str = "pgd",
                     defences: Sequence[str | Defence] | None = None, params: dict | None = None,
                     batch_size: int = 32, progress: Progress | None = None) -> list[DefenceComparison]:
    """The undefended model and each defence under the same attack, naive and with BPDA.

    ``defences``: names (default parameters) or instances; default: every registered defence.
    A defence whose accuracy drops clearly when BPDA replaces the naive gradient only masked gradients.
    """
    x, y = _check_inputs(model, images, labels, batch_size)
    attack = create_attack(method, eps=eps, **_other_params(params, "params"))
    chosen = [create_defence(d) if isinstance(d, str) else d for d in (defences or list_defences())]
    batches = -(-len(x) // batch_size)
    tick = _ticker(progress, batches * (1 + 2 * len(chosen)))
    rows = []
    for defence in [None, *chosen]:
        clean = float(np.mean(predict_probs(model, x, defence, batch_size).argmax(axis=1) == y))
        naive = _correct_under_attack(attack, model, x, y, defence, False, batch_size, tick)
        through = None
        if defence is not None:
            through = _correct_under_attack(attack, model, x, y, defence, True, batch_size, tick)
        robust = float(np.mean(naive & through)) if through is not None else float(np.mean(naive))
        naive_acc = float(np.mean(naive))
        bpda_acc = float(np.mean(through)) if through is not None else None
        masks = bpda_acc is not None and naive_acc - bpda_acc > MASKING_GAP
        title = defence.title if defence is not None else "No defence"
        rows.append(DefenceComparison(
            defence=defence.name if defence is not None else "none",
            params=dict(defence.values) if defence is not None else {}, clean_accuracy=clean,
            naive_accuracy=naive_acc, bpda_accuracy=bpda_acc, robust_accuracy=robust, masks_gradients=masks,
            verdict=_verdict(title, clean, naive_acc, bpda_acc, robust, masks)))
    return rows

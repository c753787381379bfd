"""Attack page computations: thin, cached wrappers over core.attacks and core.explain.

Each result is core's dataclass (AttackResult in an AttackOutcome, Explanation, RobustnessCurve,
DefenceComparison), cached with ``st.cache_data`` by the model name, the image digest and the
parameters, so a rerun (or another session asking the same) is instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.attacks import (
    AttackResult,
    DefenceComparison,
    RobustnessCurve,
    compare_defences,
    create_attack,
    create_defence,
    get_attack,
    get_defence,
    list_attacks,
    list_defences,
    predict_probs,
    robustness_curve,
)
from core.explain.base import Explanation
from core.images import resize_for_model
from core.progress import Progress
from dashboard import state
from dashboard.components.core_words import Rules, rules
from dashboard.i18n import N_


@dataclass(frozen=True)
class AttackOutcome:
    """One attack on one photo: core's AttackResult (a batch of one) and what saving it as a file does."""

    result: AttackResult
    rounded: np.ndarray  # (H, W, 3) uint8: the adversarial image as a PNG keeps it
    probs_png: np.ndarray  # the model's probabilities on that PNG ...
    probs_jpeg: np.ndarray  # ... and on it saved as JPEG (quality 90)
    step_size: float | None  # PGD's step as it ran (None: FGSM)

    @property
    def original(self) -> np.ndarray:
        return self.result.original[0]

    @property
    def adversarial(self) -> np.ndarray:
        return self.result.adversarial[0]

    @property
    def probs_before(self) -> np.ndarray:
        return self.result.probs_before[0]

    @property
    def probs_after(self) -> np.ndarray:
        return self.result.probs_after[0]

    @property
    def label(self) -> int:
        return int(self.result.labels[0])

    @property
    def success(self) -> bool:
        return bool(self.result.success[0])

    @property
    def linf(self) -> float:
        return float(self.result.linf[0])

    @property
    def l2(self) -> float:
        return float(np.linalg.norm(self.result.perturbation[0]))

    @property
    def changed_fraction(self) -> float:
        """Share of pixel channels the attack moved (by more than 0.001 of a level)."""
        return float(np.mean(np.abs(self.result.perturbation[0]) > 1e-3))


def progress_words() -> tuple[Rules, set[str]]:
    """How the pages say core's progress texts of attacks (``core.attacks``: steps, batches, defences), and
    the attacks' and defences' titles, said in each viewer's language (:mod:`core_words`)."""
    said = rules([
        (r"(?P<what>.+): step (?P<done>\d+) of (?P<total>\d+), batch (?P<batch>\d+) of (?P<batches>\d+)",
         N_("{what}: step {done} of {total}, batch {batch} of {batches}")),
        (r"(?P<what>.+): step (?P<done>\d+) of (?P<total>\d+)", N_("{what}: step {done} of {total}")),
        (r"(?P<method>\w+) at epsilon (?P<eps>\S+) through (?P<defence>.+) \(BPDA\): batch (?P<batch>\d+) of "
         r"(?P<batches>\d+)", N_("{method} at epsilon {eps} through {defence} (BPDA): batch {batch} of {batches}")),
        (r"(?P<method>\w+) at epsilon (?P<eps>\S+) through (?P<defence>.+) \(naive\): batch (?P<batch>\d+) of "
         r"(?P<batches>\d+)", N_("{method} at epsilon {eps} through {defence} (naive): batch {batch} of {batches}")),
        (r"(?P<method>\w+) at epsilon (?P<eps>\S+): batch (?P<batch>\d+) of (?P<batches>\d+)",
         N_("{method} at epsilon {eps}: batch {batch} of {batches}")),
    ])
    titles = [get_attack(n).title for n in list_attacks()] + [get_defence(n).title for n in list_defences()]
    return said, set(titles)


def model_pixels(model_name: str, pixels: np.ndarray) -> np.ndarray:
    """The photo resized to the model's input, as float32 0..255 (what the attack perturbs)."""
    return resize_for_model(pixels, state.get_model(model_name).input_size)


def run_attack(model_name: str, digest: str, method: str, params: tuple, target: int | None,
               _pixels: np.ndarray, _progress: Progress | None = None) -> AttackOutcome:
    """One attack on one photo: images, predictions before/after (also after 8-bit and JPEG saving).

    Kept in the process-wide results (the attack's progress bar is drawn by its background task)."""
    return state.shared_results("attack", 64).get(
        (model_name, digest, method, params, target),
        lambda: _attack(model_name, method, params, target, _pixels, _progress))


def _attack(model_name: str, method: str, params: tuple, target: int | None, pixels: np.ndarray,
            progress: Progress | None) -> AttackOutcome:
    loaded = state.get_model(model_name)
    attack = create_attack(method, **dict(params))
    x = model_pixels(model_name, pixels)[None]
    result = attack.generate(loaded, x, target=target, progress=progress)
    rounded = result.rounded()
    # What a saved file does to the attack: PNG keeps the 8-bit pixels, JPEG re-compresses them.
    jpeg = create_defence("jpeg", quality=90).apply(rounded.astype(np.float32))
    probs_png = predict_probs(loaded, rounded.astype(np.float32))[0]
    probs_jpeg = predict_probs(loaded, jpeg)[0]
    return AttackOutcome(result, rounded[0], probs_png, probs_jpeg, getattr(attack, "step_size", None))


@st.cache_data(show_spinner=False, max_entries=64)
def adversarial_heatmap(model_name: str, run_key: tuple, _adversarial: np.ndarray) -> Explanation:
    """Grad-CAM of the adversarial image (its own top prediction), keyed by the run that made it."""
    from core.explain import explain

    loaded = state.get_model(model_name)
    (exp,) = explain(loaded, _adversarial[None], "gradcam")
    return exp


def other_params(method: str, chosen_method: str, chosen_params: dict) -> dict:
    """The page's parameters for the chosen method (minus eps); the declared defaults for the other."""
    if method != chosen_method:
        return {}
    return {k: v for k, v in chosen_params.items() if k != "eps"}


@dataclass(frozen=True)
class LabelledImages:
    """Images of a dataset's held-out split at the model's input size, labelled as the model's outputs."""

    x: np.ndarray
    y: np.ndarray
    dataset: str
    split: str


@st.cache_data(show_spinner=False, max_entries=8)
def dataset_images(model_name: str, data: str, limit: int) -> LabelledImages:
    """Up to ``limit`` labelled images of a dataset's held-out split, labels as the model's outputs."""
    from core.evaluate.classmap import map_classes
    from core.evaluate.service import run_split_settings
    from core.evaluate.source import open_split
    from core.images import load_image

    loaded = state.get_model(model_name)
    split = open_split(data, **run_split_settings(loaded))
    columns = map_classes(loaded, list(split.class_names)).columns
    items = list(split.items)
    stride = max(1, len(items) // limit)  # spread over the split rather than its first folder
    chosen = items[::stride][:limit]
    x = np.stack([resize_for_model(load_image(item.path), loaded.input_size) for item in chosen])
    y = np.array([columns[item.label] for item in chosen], np.int32)
    return LabelledImages(x, y, split.dataset_id, split.split)


def dataset_curve(model_name: str, x: np.ndarray, y: np.ndarray, epsilons: tuple, methods: tuple,
                  params: tuple, progress) -> RobustnessCurve:
    """Accuracy against epsilon over a labelled set (core.attacks.robustness_curve)."""
    loaded = state.get_model(model_name)
    curve = robustness_curve(loaded, x, y, epsilons=epsilons, methods=methods,
                             params={m: dict(p) for m, p in params}, batch_size=16, progress=progress)
    return curve


def defence_table(model_name: str, x: np.ndarray, y: np.ndarray, eps: float, method: str, params: dict,
                  defences: list, progress) -> list[DefenceComparison]:
    """Each defence under the attack, naive and BPDA (core.attacks.compare_defences)."""
    loaded = state.get_model(model_name)
    rows = compare_defences(loaded, x, y, eps=eps, method=method, defences=defences,
                            params={k: v for k, v in params.items() if k != "eps"}, batch_size=16,
                            progress=progress)
    return rows

"""The shortcut lesson: a model that learned a watermark instead of the shape, and how to catch it.

On ``shapes-shortcut`` every circle in ``train/`` and ``val/`` carries a small watermark in the
bottom-right corner; ``test/`` is clean. A model can reach a high validation accuracy by detecting the
watermark. :func:`shortcut_report` measures what gives it away:

- accuracy on the (watermarked) validation split against the clean test split, overall and on circles;
- how often stamping the watermark on a clean non-circle turns the prediction into "circle";
- where the explanations point on watermarked circles: the share of peaks on the watermark and the
  share of heatmap energy inside its box, against the box's share of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data import builtin, shapes
from core.errors import DataError
from core.explain import explain
from core.i18n import N_
from core.progress import Progress, report

DATASET = "shapes-shortcut"
RUN_NAME = N_("Shortcut lesson (small CNN on shapes-shortcut)")  # the lesson's runs, unless named otherwise

# The report's reading (ShortcutReport.reading), as templates the dashboard shows in its language.
TOOK_SHORTCUT = N_("The model took the shortcut: on watermarked circles {energy:.0%} of the heatmap sits on the "
                   "watermark, which covers only {box:.1%} of the image, and stamping the watermark on other "
                   "shapes makes {stamped:.0%} of them 'circles'. Circle accuracy falls from {val_circle:.0%} "
                   "(validation, watermarked) to {test_circle:.0%} on clean test images.")
NO_SHORTCUT = N_("The model does not rely much on the watermark: its heatmaps stay on the shapes and the watermark "
                 "alone rarely changes its mind. Try fewer epochs or another seed.")


def shortcut_config(epochs: int = 8, seed: int = 0, image_size: int = 64, name: str | None = None):
    """The training config of the lesson: the small CNN from scratch on ``shapes-shortcut``."""
    from core.train import TrainConfig

    return TrainConfig(data=DATASET, model="small_cnn", image_size=image_size, epochs=epochs,
                       learning_rate=0.002, batch_size=32, augment=None, early_stopping_patience=0,
                       seed=seed, name=name or RUN_NAME)


@dataclass
class ShortcutReport:
    class_names: list[str]
    val_accuracy: float  # watermarked circles, as in training
    test_accuracy: float  # clean test images
    val_circle_accuracy: float
    test_circle_accuracy: float
    stamped_to_circle: float  # clean non-circles predicted "circle" once the watermark is stamped on
    method: str
    peaks_on_watermark: float  # share of watermarked validation circles whose heatmap peak is on it
    energy_on_watermark: float  # mean share of heatmap energy inside the watermark box
    box_area: float  # the box's share of the image: what a heatmap blind to it would put there
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"pixels", "heatmap", "label", "prob"}

    @property
    def accuracy_drop(self) -> float:
        return self.val_accuracy - self.test_accuracy

    @property
    def circle_drop(self) -> float:
        return self.val_circle_accuracy - self.test_circle_accuracy

    def reading_message(self) -> tuple[str, dict[str, float]]:
        """The reading as a template (:data:`TOOK_SHORTCUT` or :data:`NO_SHORTCUT`) and its fields."""
        fields = {"energy": self.energy_on_watermark, "box": self.box_area, "stamped": self.stamped_to_circle,
                  "val_circle": self.val_circle_accuracy, "test_circle": self.test_circle_accuracy}
        if self.energy_on_watermark > 3 * self.box_area or self.stamped_to_circle > 0.3:
            return TOOK_SHORTCUT, fields
        return NO_SHORTCUT, fields

    def reading(self) -> str:
        template, fields = self.reading_message()
        return template.format(**fields)

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "examples"}
        return {**out, "accuracy_drop": self.accuracy_drop, "circle_drop": self.circle_drop,
                "reading": self.reading()}


def _load(dataset, split: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from core.images import load_image, resize_for_model

    items = dataset.items(split)
    if not items:
        raise DataError(f"Split {split!r} of {dataset.id!r} is empty.")
    return (np.stack([resize_for_model(load_image(it.path), size) for it in items]),
            np.array([it.label for it in items]))


def _accuracy(pred: np.ndarray, labels: np.ndarray, only: int | None = None) -> float:
    keep = labels == only if only is not None else np.ones(len(labels), bool)
    return float(np.mean(pred[keep] == labels[keep])) if keep.any() else 0.0


def shortcut_report(loaded: Any, source: str = DATASET, method: str = "saliency", examples: int = 6,
                    max_explained: int = 60, progress: Progress | None = None) -> ShortcutReport:
    """Measure the shortcut of ``loaded`` (a LoadedModel trained on ``source``).

    The default method is saliency (no layer to choose). The lesson's small CNN ends in Flatten + Dense,
    so its evidence is tied to positions; Grad-CAM keeps each position's gradient on such heads (see
    core.explain.gradcam), so it finds the watermark too.
    """
    from core.data import open_dataset
    from core.trust.ground_truth import energy_in_mask, pointing_hit

    dataset = open_dataset(source)
    if "circle" not in dataset.class_names or "test" not in dataset.splits or "val" not in dataset.splits:
        raise DataError(f"Dataset {dataset.id!r} is not a shapes-shortcut dataset "
                        "(a circle class, val and test splits).")
    if list(dataset.class_names) != list(loaded.class_names):
        raise DataError(f"The model's classes ({', '.join(loaded.class_names)}) are not those of "
                        f"{dataset.id!r}; train it on that dataset first.")
    circle = dataset.class_names.index(builtin.WATERMARK_CLASS)
    report(progress, 0.0, "Scoring the watermarked validation images and the clean test images")
    val_x, val_y = _load(dataset, "val", loaded.input_size)
    test_x, test_y = _load(dataset, "test", loaded.input_size)
    val_pred = np.argmax(loaded.predict(val_x), axis=-1)
    test_pred = np.argmax(loaded.predict(test_x), axis=-1)
    # Stamp the watermark on clean non-circles (drawn at the model's size, as in the dataset).
    report(progress, 0.4, "Stamping the watermark on clean test images")
    others = test_x[test_y != circle]
    stamped = np.stack([shapes.add_watermark(np.clip(x, 0, 255).astype(np.uint8)) for x in others]) \
        if len(others) else np.zeros((0, *test_x.shape[1:]), np.uint8)
    stamped_pred = np.argmax(loaded.predict(stamped.astype(np.float32)), axis=-1) if len(stamped) else []
    # Explanations of watermarked validation circles, for the circle class.
    circles = val_x[val_y == circle][:max_explained]
    h, w = loaded.input_size
    x0, y0, x1, y1 = shapes.watermark_box(h)
    box = np.zeros((h, w), bool)
    box[y0:y1, x0:x1] = True
    report(progress, 0.6, f"Explaining {len(circles)} watermarked circles")
    exps = explain(loaded, circles, method, target=circle) if len(circles) else []
    peaks = [pointing_hit(e.heatmap, box) for e in exps]
    energy = [energy_in_mask(e.heatmap, box) for e in exps]
    shown = [{"pixels": np.clip(x, 0, 255).astype(np.uint8), "heatmap": e.heatmap,
              "label": loaded.label(circle), "prob": e.prob}
             for x, e in zip(circles[:examples], exps[:examples], strict=False)]
    return ShortcutReport(
        class_names=list(dataset.class_names),
        val_accuracy=_accuracy(val_pred, val_y), test_accuracy=_accuracy(test_pred, test_y),
        val_circle_accuracy=_accuracy(val_pred, val_y, circle),
        test_circle_accuracy=_accuracy(test_pred, test_y, circle),
        stamped_to_circle=float(np.mean(np.asarray(stamped_pred) == circle)) if len(stamped) else 0.0,
        method=method, peaks_on_watermark=float(np.mean(peaks)) if peaks else 0.0,
        energy_on_watermark=float(np.mean(energy)) if energy else 0.0, box_area=float(box.mean()),
        examples=shown)

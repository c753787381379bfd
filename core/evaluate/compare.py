"""Two models on the same images: both accuracies, McNemar's exact test, and the images whose answer changed.

The A/B comparison of the feedback loop: a run retrained (on corrected labels, another recipe) is compared
with the one before it on the same held-out images. Accuracy alone cannot say whether a difference of a few
images is more than chance; McNemar's test looks only at the images on which the two disagree about being
right. ``b`` images only model A gets right, ``c`` only B: under "both are as good", each such image is a
fair coin, so the exact two-sided p-value is ``min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)])``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binom

from core.errors import ParameterError
from core.evaluate.evaluator import EvaluationResult
from core.i18n import N_
from core.zoo import LoadedModel

SIGNIFICANT = 0.05  # the level the reading uses


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the two discordant counts (1.0 when there are none)."""
    if only_a < 0 or only_b < 0:
        raise ParameterError(f"Discordant counts must not be negative, got {only_a} and {only_b}.")
    n = only_a + only_b
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), n, 0.5)))


@dataclass
class Comparison:
    """Model A against model B on the images both scored (paired by path)."""

    a: EvaluationResult
    b: EvaluationResult
    paired: int  # images both scored
    both_right: int
    only_a: int  # A right, B wrong
    only_b: int  # B right, A wrong
    both_wrong: int
    changed: list[dict]  # {path, true, a_pred, b_pred, a_confidence, b_confidence, change: better|worse|other}
    left_out: int = 0  # images of the split not scored because one of the models trained on them

    @property
    def accuracy_a(self) -> float:
        return (self.both_right + self.only_a) / self.paired

    @property
    def accuracy_b(self) -> float:
        return (self.both_right + self.only_b) / self.paired

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.only_a, self.only_b)

    def reading(self) -> tuple[str, dict]:
        """What the numbers say, as (template, fields) for the dashboard to translate."""
        fields = {"better": self.only_b, "worse": self.only_a, "p": f"{self.p_value:.3g}", "n": self.paired}
        if self.only_a == self.only_b == 0:
            return SAME, fields
        if self.p_value < SIGNIFICANT:
            return (B_BETTER if self.only_b > self.only_a else A_BETTER), fields
        return NOT_SIGNIFICANT, fields

    def to_dict(self) -> dict:
        template, fields = self.reading()
        return {
            "a": {"model": self.a.model, "accuracy": self.accuracy_a},
            "b": {"model": self.b.model, "accuracy": self.accuracy_b},
            "dataset": self.a.dataset_id, "split": self.a.split, "paired": self.paired, "left_out": self.left_out,
            "labels": list(self.a.class_names),
            "table": {"both_right": self.both_right, "only_a": self.only_a, "only_b": self.only_b,
                      "both_wrong": self.both_wrong},
            "mcnemar": {"p_value": self.p_value, "discordant": self.only_a + self.only_b, "exact": True},
            "reading": template.format(**fields),
            "changed": list(self.changed),
        }


# The reading's templates (marked for the dashboard's catalogue where it shows them).
SAME = N_("The two models are right and wrong on exactly the same {n} images.")
B_BETTER = N_("B is better: it fixes {better} images A gets wrong and breaks {worse}; McNemar's exact test gives "
            "p = {p}, so a difference this large is unlikely by chance.")
A_BETTER = N_("A is better: B breaks {worse} images A gets right and fixes {better}; McNemar's exact test gives "
            "p = {p}, so a difference this large is unlikely by chance.")
NOT_SIGNIFICANT = N_("B fixes {better} images and breaks {worse}; McNemar's exact test gives p = {p}: on these {n} "
                   "images the difference could be chance. Score more images before choosing.")


def compare_results(a: EvaluationResult, b: EvaluationResult, only: set[str] | None = None,
                    left_out: int = 0) -> Comparison:
    """Pair two evaluations of the same split by image path (``only`` those paths, when given) and count where
    they agree about being right."""
    if list(a.class_names) != list(b.class_names):
        raise ParameterError("The two evaluations are not on the same classes: score both models on one split.")
    by_path = {p["path"]: p for p in b.predictions}
    counts = {"both_right": 0, "only_a": 0, "only_b": 0, "both_wrong": 0}
    changed = []
    paired = 0
    for pa in a.predictions:
        pb = by_path.get(pa["path"])
        if pb is None or (only is not None and pa["path"] not in only):  # B could not read it, or left out
            continue
        paired += 1
        right_a, right_b = pa["pred"] == pa["true"], pb["pred"] == pb["true"]
        key = ("both_right" if right_b else "only_a") if right_a else ("only_b" if right_b else "both_wrong")
        counts[key] += 1
        if pa["pred"] != pb["pred"]:
            change = "worse" if key == "only_a" else "better" if key == "only_b" else "other"
            changed.append({"path": pa["path"], "true": pa["true"], "a_pred": pa["pred"], "b_pred": pb["pred"],
                            "a_confidence": pa["confidence"], "b_confidence": pb["confidence"], "change": change})
    if paired == 0:
        raise ParameterError("The two models scored no image in common: score both on the same split.")
    order = {"better": 0, "worse": 1, "other": 2}
    changed.sort(key=lambda c: (order[c["change"]], c["path"]))
    return Comparison(a, b, paired, changed=changed, left_out=left_out, **counts)


def explain_changes(a: LoadedModel, b: LoadedModel, comparison: Comparison, method: str = "gradcam",
                    limit: int = 20) -> list[tuple[dict, object, object]]:
    """For the first ``limit`` changed images: ``(change, A's explanation of A's answer, B's of B's)``."""
    from core.explain import explain
    from core.images import load_image, resize_for_model

    out = []
    for change in comparison.changed[:limit]:
        photo = load_image(change["path"])
        exps = []
        for loaded, result, pred in ((a, comparison.a, change["a_pred"]), (b, comparison.b, change["b_pred"])):
            target = int(result.class_map.columns[int(pred)])  # the dataset's class as the model's output
            (exp,) = explain(loaded, resize_for_model(photo, loaded.input_size)[None], method, target=target)
            exps.append(exp)
        out.append((change, *exps))
    return out

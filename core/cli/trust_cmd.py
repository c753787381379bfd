"""``python -m core trust``: can this explanation be trusted?

    python -m core trust --model NAME_OR_RUN --method gradcam IMAGE... [--json]
        deletion and insertion areas of each heatmap, and the method's sanity check on each image
    python -m core trust --model RUN --data shapes --method gradcam,saliency [--split test] [--json]
        pointing game and energy in mask over a split of a dataset with ground-truth masks
"""

from __future__ import annotations

import argparse

from core.cli import emit_json
from core.cli.common import positive_int
from core.errors import ParameterError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trust", help="score explanations: deletion/insertion, sanity check, ground truth")
    p.add_argument("--model", default="efficientnet_lite0", help="zoo name, run folder or .keras file")
    p.add_argument("--method", default="gradcam",
                   help="explanation method, or several separated by commas (default: gradcam)")
    p.add_argument("--layer", help="layer to explain (CAM methods; default: the model's last conv layer)")
    p.add_argument("--target", help="class index or name to explain (default: the top prediction)")
    p.add_argument("--baseline", default="blur", help="what deleted pixels become: blur, mean or black")
    p.add_argument("--steps", type=positive_int("--steps"), default=32,
                   help="points on the deletion and insertion curves (default: 32)")
    p.add_argument("--no-sanity", action="store_true", help="skip the weight-randomisation sanity check")
    p.add_argument("--data", help="dataset folder, zip or built-in id with masks (dataset-level scores)")
    p.add_argument("--split", default="test", help="split to score with --data (default: test)")
    p.add_argument("--limit", type=positive_int("--limit"), default=200,
                   help="images scored with --data, balanced over classes (default: 200)")
    p.add_argument("--tolerance", type=int, default=0, help="pointing-game tolerance in pixels (default: 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.set_defaults(run=run)


def add_entry_flags(p: argparse.ArgumentParser) -> None:
    """The methods' parameters as --method-PARAM (--method-steps is Integrated Gradients' steps, --steps the
    curves'), added only when ``trust`` runs; with several methods each flag goes to the methods declaring it."""
    import core.explain  # noqa: F401 - registers the methods
    from core.cli.explain_cmd import method_flags

    method_flags("method-").add_to(p, "method parameters, prefixed --method- so they do not clash with "
                                      "trust's own --steps and --baseline")


def _methods(text: str) -> list[str]:
    from core.explain import get_method

    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise ParameterError("--method must name at least one explanation method.")
    for name in names:
        get_method(name)  # unknown: fail before loading anything, listing the known ones
    return names


def run(args: argparse.Namespace) -> int:
    from core.trust.faithfulness import BASELINES, MAX_STEPS

    methods = _methods(args.method)
    if bool(args.images) == bool(args.data):
        raise ParameterError("Give either images to score or --data with a dataset, not both or neither.")
    if args.baseline not in BASELINES:
        raise ParameterError(f"--baseline must be one of {', '.join(BASELINES)}, got {args.baseline!r}.")
    if args.tolerance < 0:
        raise ParameterError(f"--tolerance must be 0 or more pixels, got {args.tolerance}.")
    if not 2 <= args.steps <= MAX_STEPS:
        raise ParameterError(f"--steps must be from 2 to {MAX_STEPS}, got {args.steps}.")
    from core.cli.explain_cmd import method_flags

    params = method_flags("method-").per_entry(args, methods)
    if args.data and any(params.values()):
        raise ParameterError("--method-PARAM flags apply to scoring images; --data scores each method with its "
                             "defaults.")
    from core.zoo import load_model

    loaded = load_model(args.model)
    if args.data:
        return _dataset(args, loaded, methods)
    return _images(args, loaded, methods, params)


def _images(args: argparse.Namespace, loaded, methods: list[str], params: dict[str, dict]) -> int:
    from core.images import load_image
    from core.trust.service import score_image

    target = loaded.class_index(args.target, "--target") if args.target is not None else None
    results = []
    for path in args.images:
        image = load_image(path)
        for method in methods:
            score = score_image(loaded, image, method, layer=args.layer, target=target,
                                baseline=args.baseline,
                                steps=args.steps, sanity=not args.no_sanity, **params[method])
            results.append({"image": path, "model": loaded.name, **score.to_json()})
    if args.json:
        emit_json(results)
        return 0
    for r in results:
        f, t = r["faithfulness"], r["target"]
        line = (f"{r['image']}: {r['method']} for {t['label']} ({t['prob']:.1%}): deletion AUC "
                f"{f['deletion_auc']:.3f} (lower is better), insertion AUC {f['insertion_auc']:.3f} "
                f"(higher is better), {f['baseline']} baseline")
        if "sanity" in r:
            s = r["sanity"]
            line += f"; sanity check {'PASSED' if s['passed'] else 'FAILED'}"
            final = s["steps"][-1]
            line += f" (all layers randomised: Spearman {final['spearman']:.2f}, SSIM {final['ssim']:.2f})"
        print(line)
    return 0


def _dataset(args: argparse.Namespace, loaded, methods: list[str]) -> int:
    from core.trust.ground_truth import score_dataset

    target = "label" if args.target is None else args.target
    if target not in ("label", "predicted"):
        raise ParameterError("--target with --data must be 'label' (the true class) or 'predicted'.")
    report = score_dataset(loaded, args.data, methods, split=args.split, limit=args.limit, target=target,
                           tolerance=args.tolerance)
    if args.json:
        emit_json({"model": loaded.name, **report.to_json()})
        return 0
    print(f"{loaded.name} on {report.dataset}/{report.split} ({report.score(methods[0]).images} images, "
          f"model accuracy {report.accuracy:.1%}, explaining the {report.target} class)")
    print(f"  {'method':14s} {'pointing game':>14s} {'energy in mask':>15s}")
    for s in report.scores:
        pointing = f"{s.pointing:.1%}" if s.method != "uniform" else "-"
        print(f"  {s.method:14s} {pointing:>14s} {s.energy:15.1%}")
    print("  (centre-bias and uniform use no model: a method should beat them)")
    return 0

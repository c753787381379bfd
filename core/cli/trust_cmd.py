"""``python -m core trust``: can this explanation be trusted?

    python -m core trust --model NAME_OR_RUN --method gradcam IMAGE... [--json]
        deletion and insertion areas of each heatmap, and the method's sanity check on each image
    python -m core trust --model RUN --data DATA --method all [--split SPLIT] [--json]
        a method table over a split of a dataset: deletion, insertion, Average Drop and Increase in
        Confidence on --curves images, the pointing game and energy in mask where the dataset has
        masks, and the method to use with the reason
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
                   help="explanation method, several separated by commas, or 'all' (default: gradcam)")
    p.add_argument("--layer", help="layer to explain (CAM methods; default: the model's last conv layer)")
    p.add_argument("--target", help="class index or name to explain (default: the top prediction)")
    p.add_argument("--baseline", default="blur", help="what deleted pixels become: blur, mean or black")
    p.add_argument("--steps", type=positive_int("--steps"), default=32,
                   help="points on the deletion and insertion curves (default: 32)")
    p.add_argument("--no-sanity", action="store_true", help="skip the weight-randomisation sanity check")
    p.add_argument("--data", help="dataset folder, zip or built-in id with masks (dataset-level scores)")
    p.add_argument("--split", default=None,
                   help="split to score with --data (default: test, else val, drawn with a run's own split "
                        "settings; all of a dataset the run never trained on; 'all' for every image)")
    p.add_argument("--limit", type=positive_int("--limit"), default=200,
                   help="images scored with --data, balanced over classes (default: 200)")
    p.add_argument("--curves", type=positive_int("--curves"), default=16,
                   help="images of --data whose heatmaps get deletion/insertion and Average Drop "
                        "(default: 16; each costs about 2 x --steps forward passes per method)")
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
    from core.explain import get_method, method_names

    if text.strip() == "all":
        return method_names()
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
    from core.trust.ground_truth import load_scored_images, report_for
    from core.trust.table import method_table

    target = "label" if args.target is None else args.target
    if target not in ("label", "predicted"):
        raise ParameterError("--target with --data must be 'label' (the true class) or 'predicted'.")
    data = load_scored_images(loaded, args.data, split=args.split, limit=args.limit, need_masks=False)
    report = report_for(data, loaded, methods, target, args.tolerance) if data.masks is not None else None
    curves = min(args.curves, len(data.labels))
    table = method_table(loaded, data.pixels[:curves], data.targets(target)[:curves], methods,
                         baseline=args.baseline, steps=args.steps, layer=args.layer)
    if args.json:
        out = {"model": loaded.name, "dataset": data.dataset, "split": data.split, "target": target,
               "images": len(data.labels), "scored": data.scope, "curve_images": curves,
               "accuracy": data.accuracy}
        if report is not None:
            out.update(report.to_json())
        else:
            out["notes"] = [f"Dataset {data.dataset!r} has no ground-truth masks: the pointing game and "
                            "energy in mask are not measured."]
        emit_json({**out, **table.to_json()})
        return 0
    print(f"Scored: {data.scope}")
    print(f"{loaded.name} on {data.dataset}/{data.split} ({len(data.labels)} images, model accuracy "
          f"{data.accuracy:.1%}, explaining the {target} class)")
    print(f"  faithfulness on {curves} images ({args.baseline} baseline, areas relative to the clean probability)")
    print(f"  {'method':16s} {'deletion ↓':>10s} {'insertion ↑':>11s} {'ins − del ↑':>11s} {'Avg Drop ↓':>10s} "
          f"{'Incr Conf ↑':>11s}")
    for r in table.rows:
        print(f"  {r.method:16s} {r.deletion:10.3f} {r.insertion:11.3f} {r.score:11.3f} {r.average_drop:9.1f}% "
              f"{r.increase_in_confidence:10.1f}%")
    if report is not None:
        print(f"  ground truth on {report.score(methods[0]).images} images")
        print(f"  {'method':16s} {'pointing game':>14s} {'energy in mask':>15s}")
        for s in report.scores:
            pointing = f"{s.pointing:.1%}" if s.method != "uniform" else "-"
            print(f"  {s.method:16s} {pointing:>14s} {s.energy:15.1%}")
        print("  (centre-bias and uniform use no model: a method should beat them)")
    else:
        print("  (no ground-truth masks in this dataset: no pointing game)")
    print(f"Recommended: {table.reason}")
    return 0

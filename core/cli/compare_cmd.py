"""``python -m core compare RUN_A RUN_B``: two models on the same images, McNemar's exact test, what changed."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import emit_json
from core.cli.common import check_out_folder, make_out_folder, positive_int, terminal_progress

MAX_EXPLAINED = 200  # changed images explained into --out at most


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two models on the same images (A/B: McNemar's exact test)")
    p.add_argument("model_a", metavar="RUN_A", help="run folder, .keras file or zoo name (the one before)")
    p.add_argument("model_b", metavar="RUN_B", help="run folder, .keras file or zoo name (the one after)")
    p.add_argument("--data", help="dataset folder, zip file or built-in id (default: RUN_A's own)")
    p.add_argument("--split", help="split to score, or all (default: all of a dataset neither model trained on, "
                                   "else test if there is one, else val)")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=32, help="images per batch")
    p.add_argument("--out", help="folder for one PNG per changed image: the photo, A's and B's Grad-CAM")
    p.add_argument("--explained", type=positive_int("--explained"), default=20,
                   help=f"changed images explained into --out (default 20, at most {MAX_EXPLAINED})")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)



def _write_changes(out: Path, a, b, comparison, limit: int) -> None:
    """One PNG per changed image (up to ``limit``): the photo beside A's and B's Grad-CAM of their answers."""
    import numpy as np

    from core.atomic import atomic_path
    from core.evaluate import explain_changes
    from core.explain.overlay import overlay
    from core.images import load_image, resize_for_model, to_png_bytes

    make_out_folder(out)
    for i, (change, exp_a, exp_b) in enumerate(explain_changes(a, b, comparison, limit=limit)):
        photo = np.clip(resize_for_model(load_image(change["path"]), (224, 224)), 0, 255).astype(np.uint8)
        row = np.concatenate([photo, overlay(photo, exp_a.heatmap, method="gradcam"),
                              overlay(photo, exp_b.heatmap, method="gradcam")], axis=1)
        path = out / f"{i:03d}-{change['change']}-{Path(change['path']).stem}.png"
        with atomic_path(path) as tmp:
            tmp.write_bytes(to_png_bytes(row))
        change["gradcam_png"] = str(path)


def _print(report: dict) -> None:
    from core.data.labels import display_label

    labels = [display_label(n) for n in report["labels"]]
    t = report["table"]
    print(f"{report['paired']} images of {report['dataset']} ({report['split']}) scored by both"
          + (f"; {report['left_out']} left out, as one of the models trained on them" if report["left_out"] else ""))
    print(f"A {report['a']['model']}: accuracy {report['a']['accuracy']:.1%}")
    print(f"B {report['b']['model']}: accuracy {report['b']['accuracy']:.1%}")
    print(f"both right {t['both_right']}, only A right {t['only_a']}, only B right {t['only_b']}, "
          f"both wrong {t['both_wrong']}; McNemar exact p = {report['mcnemar']['p_value']:.3g}")
    print(report["reading"])
    for c in report["changed"]:
        print(f"  {c['change']:<6} {c['path']}: true {labels[c['true']]}, A {labels[c['a_pred']]}, "
              f"B {labels[c['b_pred']]}" + (f" -> {c['gradcam_png']}" if "gradcam_png" in c else ""))


def run(args: argparse.Namespace) -> int:
    from core.errors import ParameterError
    from core.evaluate import compare_split, comparison_split, run_dataset
    from core.zoo import load_model

    if args.explained > MAX_EXPLAINED:
        raise ParameterError(f"--explained must be at most {MAX_EXPLAINED}, got {args.explained}.")
    if args.out:
        check_out_folder(args.out)  # said before the work
    a, b = load_model(args.model_a), load_model(args.model_b)
    data = args.data or run_dataset(a) or run_dataset(b)
    if data is None:
        raise ParameterError("--data is required: a dataset folder, zip file or built-in id such as shapes.")
    split, left_out = comparison_split(a, b, data, args.split)
    comparison = compare_split(a, b, split, batch_size=args.batch_size, left_out=left_out,
                               progress=terminal_progress())
    if args.out:
        _write_changes(Path(args.out), a, b, comparison, args.explained)
    report = {**comparison.to_dict(), "scored": split.scope()}
    if args.json:
        emit_json(report)
    else:
        _print(report)
    return 0

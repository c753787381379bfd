"""``python -m core evaluate``: accuracy, confusion matrix, per-class scores and calibration on a split."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import emit_json
from core.cli.common import check_out_folder, make_out_folder, non_negative_float, positive_int, terminal_progress


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model on a dataset split (accuracy, confusion matrix, ...)")
    p.add_argument("--model", required=True, help="zoo name, run folder or .keras file")
    p.add_argument("--data", help="dataset folder, zip file or built-in id, e.g. shapes (default: a run's own)")
    p.add_argument("--split", help="split to score, or all (default: all of a dataset that is not the run's "
                                   "own, else test if the dataset has one, else val)")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=32, help="images per batch")
    p.add_argument("--bins", type=positive_int("--bins"), default=15, help="calibration bins (default 15)")
    p.add_argument("--baseline", action="store_true", help="also train and score HOG + linear SVM")
    p.add_argument("--out", help="folder for predictions.csv, confusion.png and confusion.html")
    p.add_argument("--val-fraction", type=non_negative_float("--val-fraction", 0.95),
                   help="for a pool of class folders (default: the run's setting, else 0.2)")
    p.add_argument("--test-fraction", type=non_negative_float("--test-fraction", 0.95),
                   help="for a pool of class folders (default: the run's setting, else 0)")
    p.add_argument("--seed", type=int, help="split seed for a pool of class folders (default: the run's, else 0)")
    p.add_argument("--json", action="store_true", help="print JSON (with every prediction)")
    p.set_defaults(run=run)



def _write_exports(out: Path, result, baseline) -> dict[str, str]:
    from core.evaluate import export

    make_out_folder(out)
    title = f"{result.model} on {result.dataset_id} ({result.split})"
    paths = {"predictions_csv": out / "predictions.csv", "confusion_png": out / "confusion.png",
             "confusion_html": out / "confusion.html"}
    export.write_predictions_csv(result, paths["predictions_csv"])
    export.write_confusion_png(result, paths["confusion_png"], title)
    export.write_confusion_html(result, paths["confusion_html"], title)
    if baseline is not None:
        paths["baseline_confusion_png"] = out / "baseline_confusion.png"
        export.write_confusion_png(baseline, paths["baseline_confusion_png"], f"HOG + linear SVM ({result.split})")
    return {name: str(path) for name, path in paths.items()}


def _print_report(report: dict) -> None:
    from core.data.labels import display_label

    labels = [display_label(n) for n in report["labels"]]
    print(f"{report['model']} on {report['dataset']} ({report['split']}): {report['num_items']} images "
          f"in {report['seconds']:.1f} s")
    if "scored" in report:
        print(f"scored: {report['scored']['description']}")
    scores = [f"accuracy {report['accuracy']:.1%}"]
    scores += [f"top-{k} {v:.1%}" for k, v in report["top_k_accuracy"].items() if k != "1"]
    scores += [f"macro F1 {report['macro_avg']['f1']:.3f}", f"ECE {report['calibration']['ece']:.3f}"]
    print("  ".join(scores))
    outside = report["class_mapping"].get("outside_fraction")
    if outside:
        print(f"({outside:.1%} of images had a top class outside the dataset's classes; scores use only "
              "the dataset's classes)")
    width = max(len(n) for n in labels + ["class"])
    print(f"\n{'class':<{width}}  precision  recall     f1  support")
    for name, row in zip(labels, report["per_class"], strict=True):
        print(f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  {row['support']:7d}")
    print("\nconfusion matrix (rows: true class, columns: predicted, in the order above)")
    cells = max(len(str(v)) for row in report["confusion_matrix"] for v in row)
    for name, row in zip(labels, report["confusion_matrix"], strict=True):
        print(f"{name:<{width}}  " + " ".join(f"{v:>{cells}}" for v in row))
    if report.get("skipped"):
        print(f"\n{len(report['skipped'])} images could not be read, e.g. {report['skipped'][0]['reason']}")
    if "baseline" in report:
        b = report["baseline"]
        print(f"\nbaseline ({b['method']}, trained on {b['train_size']} images of {b['trained_on']}): "
              f"accuracy {b['accuracy']:.1%}")
    for name, path in report.get("exports", {}).items():
        print(f"{name}: {path}")


def run(args: argparse.Namespace) -> int:
    from core.errors import ParameterError
    from core.evaluate import (
        baseline_source,
        baseline_split,
        evaluate_split,
        held_out,
        open_split,
        run_dataset,
        run_split_settings,
    )
    from core.zoo import load_model

    if args.out:
        check_out_folder(args.out)  # say so before the work
    loaded = load_model(args.model)
    data = args.data or run_dataset(loaded)
    if data is None:
        raise ParameterError("--data is required: a dataset folder, zip file or built-in id such as shapes.")
    settings = run_split_settings(loaded)
    for key in ("val_fraction", "test_fraction", "seed"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    split = open_split(data, args.split, held_out=held_out(loaded, data), **settings)
    progress = terminal_progress()
    result = evaluate_split(loaded, split, batch_size=args.batch_size, n_bins=args.bins, progress=progress)
    learnt = baseline_source(loaded, split) if args.baseline else None
    baseline = baseline_split(learnt) if learnt is not None else None
    report = result.to_dict(include_predictions=args.json)
    report["scored"] = split.scope()  # which images: the whole held-out dataset, or which split of it
    if baseline is not None:
        report["baseline"] = {**baseline.to_dict(), "trained_on": learnt.train_source or split.dataset_id}
    if args.out:
        report["exports"] = _write_exports(Path(args.out), result, baseline)
    if args.json:
        emit_json(report)
    else:
        _print_report(report)
    return 0

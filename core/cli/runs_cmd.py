"""``python -m core runs``: list, show, rename, delete and export training runs.

    python -m core runs list [--json]
    python -m core runs show RUN [--json]
    python -m core runs rename RUN NEW_NAME
    python -m core runs delete RUN [--yes]
    python -m core runs import MODEL.keras [--classes NAMES.txt] [--input-range auto|0-255|0-1|-1-1]
    python -m core runs export RUN [--formats keras,savedmodel,tflite-float16,tflite-int8]
                                   [--out DIR] [--json]

RUN is a run id (a folder name under the runs folder) or a path. The CLI sees every run, whoever
owns it. ``--root DIR`` points at another runs folder (like ``train --out``).
"""

from __future__ import annotations

import argparse
import sys

from core.cli import emit_json
from core.cli.common import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list, rename, delete and export training runs")
    parser.add_argument("--root", metavar="DIR", help="the runs folder (default: GLASSWING_RUNS, runs/)")
    sub = parser.add_subparsers(dest="runs_command", required=True)

    listing = sub.add_parser("list", help="list runs, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)

    show = sub.add_parser("show", help="a run's status, config and metrics")
    show.add_argument("run_ref", metavar="RUN", help="run id or folder")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=run_show)

    rename = sub.add_parser("rename", help="change a run's display name")
    rename.add_argument("run_ref", metavar="RUN", help="run id or folder")
    rename.add_argument("new_name", metavar="NEW_NAME")
    rename.add_argument("--json", action="store_true", help="print JSON")
    rename.set_defaults(run=run_rename)

    delete = sub.add_parser("delete", help="delete a run folder")
    delete.add_argument("run_ref", metavar="RUN", help="run id or folder")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(run=run_delete)

    imported = sub.add_parser("import", help="make your own .keras classifier a run every command can use")
    imported.add_argument("model_file", metavar="MODEL.keras", help="a Keras 3 model file")
    imported.add_argument("--classes", metavar="NAMES.txt", help="class names, one per line")
    imported.add_argument("--input-range", default="auto", choices=["auto", "0-255", "0-1", "-1-1"],
                          help="pixel range the model was trained on (default auto: the model must rescale "
                               "its own input)")
    imported.add_argument("--json", action="store_true", help="print JSON")
    imported.set_defaults(run=run_import)

    export = sub.add_parser("export", help="export a run (.keras, SavedModel, TFLite) with parity checks")
    export.add_argument("run_ref", metavar="RUN", help="run id or folder")
    export.add_argument("--formats", default="keras,savedmodel,tflite-float16,tflite-int8",
                        help="comma-separated formats (default: all four)")
    export.add_argument("--out", metavar="DIR", help="output folder (default: RUN/export)")
    export.add_argument("--parity-images", type=positive_int("--parity-images"), default=500,
                        help="validation images compared with the Keras model (default 500)")
    export.add_argument("--json", action="store_true", help="print JSON")
    export.set_defaults(run=run_export)


def run_list(args: argparse.Namespace) -> int:
    from core.train.runs import EVERYONE, list_runs

    infos = list_runs(EVERYONE, root=args.root)
    if args.json:
        emit_json([info.to_dict() for info in infos])
        return 0
    if not infos:
        print("No runs yet: python -m core train --data shapes --model efficientnet_lite0")
        return 0
    for info in infos:
        acc = info.metrics.get("val_accuracy")
        score = f"val {acc:.1%}" if isinstance(acc, (int, float)) else ""
        owner = "" if info.owner is None else f"  (session {info.owner[:8]})"
        print(f"{info.id:<48} {info.status:<11} {score:<10} {info.name}{owner}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from core.train.runs import get_run

    info = get_run(args.run_ref, root=args.root)
    data = {**info.meta, **info.to_dict()}
    if args.json:
        emit_json(data)
        return 0
    print(f"{info.name}  [{info.status}]\n  folder: {info.path}\n  base model: {info.base_model}")
    for key in ("created", "finished", "error"):
        if data.get(key):
            print(f"  {key}: {data[key]}")
    for key, value in info.metrics.items():
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


def run_rename(args: argparse.Namespace) -> int:
    from core.train.runs import rename_run

    info = rename_run(args.run_ref, args.new_name, root=args.root)
    if args.json:
        emit_json(info.to_dict())
    else:
        print(f"Renamed {info.id} to {info.name!r}.")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from core.train.runs import delete_run, get_run

    info = get_run(args.run_ref, root=args.root)
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: pass --yes to delete without a terminal to confirm on.", file=sys.stderr)
            return 2
        answer = input(f"Delete run {info.id} ({info.name})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Not deleted.")
            return 1
    delete_run(info.path, root=args.root)
    print(f"Deleted {info.id}.")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.errors import GlasswingError
    from core.smallfiles import read_small_text
    from core.train.runs import get_run
    from core.zoo.files import MAX_MODEL_BYTES
    from core.zoo.upload import import_model

    path = Path(args.model_file)
    if not path.is_file():
        raise GlasswingError(f"{path}: no such model file.")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise GlasswingError(f"{path.name} is larger than {MAX_MODEL_BYTES // 2**20} MB.")
    names = read_small_text(Path(args.classes), 1 << 20, "the class names file") if args.classes else None
    run = import_model(path.read_bytes(), path.name, None, names, args.input_range, root=args.root)
    info = get_run(run, root=args.root)
    if args.json:
        emit_json(info.to_dict())
    else:
        print(f"Imported {path.name} as run {info.id}; use it with --model {info.path}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from core.errors import ParameterError
    from core.train.export import FORMATS, export_run

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        raise ParameterError(f"--formats must list some of {', '.join(FORMATS)}, got {args.formats!r}.")
    report = export_run(args.run_ref, formats, args.out, parity_images=args.parity_images, root=args.root)
    if args.json:
        emit_json(report)
        return 0
    for item in report["exports"]:
        print(f"{item['format']:<15} {item['path']}  {item['bytes'] / 1e6:.1f} MB  top-1 agreement "
              f"{item['top1_agreement']:.1%} on {item['count']} validation images (max |diff| "
              f"{item['max_abs_diff']:.2g})")
    return 0


"""``python -m core data``: inspect a dataset, list datasets, materialise a built-in one.

    python -m core data inspect PATH [--json]     # folder, .zip or built-in id; exits 0 with a report
    python -m core data list [--json]
    python -m core data builtin NAME [--image-size N] [--per-class N] [--seed N] [--offline]
    python -m core data correct DATA [--relabel IMAGE=CLASS ...] [--remove IMAGE ...] [--add PHOTO=CLASS ...]
    python -m core data versions [--json]
"""

from __future__ import annotations

import argparse
import sys

from core.cli import emit_json
from core.cli.common import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="inspect, list and create datasets")
    sub = parser.add_subparsers(dest="data_command", required=True)

    inspect = sub.add_parser("inspect", help="report on a dataset folder, zip or built-in id")
    inspect.add_argument("path", help="a folder of class folders, a .zip of them, or a built-in id")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument("--min-per-class", type=positive_int("--min-per-class"), default=2,
                         help="fewest usable images a class may have (default 2)")
    inspect.add_argument("--strict", action="store_true", help="exit with code 2 if the dataset is unusable")
    inspect.set_defaults(run=run_inspect)

    listing = sub.add_parser("list", help="list built-in and stored datasets")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(run=run_list)

    build = sub.add_parser("builtin", help="create a built-in dataset and print its folder")
    build.add_argument("name", help="shapes, shapes-shortcut, faces or fashion-mnist")
    build.add_argument("--image-size", type=positive_int("--image-size"), default=None,
                       help="side in pixels (shapes only; default 64)")
    build.add_argument("--per-class", type=positive_int("--per-class"), default=None,
                       help="images per class across all splits")
    build.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    build.add_argument("--offline", action="store_true", help="never download (Fashion-MNIST)")
    build.add_argument("--json", action="store_true", help="print the folder and id as JSON")
    build.set_defaults(run=run_builtin)

    correct = sub.add_parser("correct", help="make a new version of a dataset with corrections (never edits it)")
    correct.add_argument("path", help="the dataset: a folder, a .zip, a built-in id or a version's folder")
    correct.add_argument("--relabel", action="append", default=[], metavar="IMAGE=CLASS",
                         help="an image of the dataset that belongs to CLASS (repeatable)")
    correct.add_argument("--remove", action="append", default=[], metavar="IMAGE",
                         help="an image of the dataset to leave out (repeatable)")
    correct.add_argument("--add", action="append", default=[], metavar="PHOTO=CLASS",
                         help="a photo to copy in as CLASS (repeatable)")
    correct.add_argument("--note", default="", help="what the corrections are for (kept with the version)")
    correct.add_argument("--json", action="store_true", help="print the version as JSON")
    correct.set_defaults(run=run_correct)

    versions = sub.add_parser("versions", help="list dataset versions and what changed in each")
    versions.add_argument("--json", action="store_true", help="print the list as JSON")
    versions.set_defaults(run=run_versions)


def run_inspect(args: argparse.Namespace) -> int:
    from core.data.inspect import inspect_dataset

    report = inspect_dataset(args.path, min_per_class=args.min_per_class)
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.summary())
    if args.strict and report.errors:
        print(f"error: {report.errors[0]}", file=sys.stderr)
        return 2
    return 0


def run_list(args: argparse.Namespace) -> int:
    from core.data.catalog import list_datasets

    entries = [{k: v for k, v in e.items() if k != "status_message"} for e in list_datasets()]
    if args.json:
        emit_json(entries)
        return 0
    for entry in entries:
        state = entry.get("path") or entry.get("status", "")
        print(f"{entry['id']:<28} {entry['kind']:<8} {entry.get('title', '')}  [{state}]")
    return 0


def _progress(done: int, total: int, message: str) -> None:
    if total:
        print(f"\r{message}: {done * 100 // total}%", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)


def run_builtin(args: argparse.Namespace) -> int:
    from core.data.builtin import materialise

    path = materialise(args.name, image_size=args.image_size, per_class=args.per_class, seed=args.seed,
                       allow_download=not args.offline, progress=None if args.json else _progress)
    if args.json:
        emit_json({"id": path.name, "path": str(path)})
    else:
        print(path)
    return 0


def _pair(value: str, option: str) -> tuple[str, str]:
    from core.errors import ParameterError

    path, sep, label = value.rpartition("=")
    if not sep or not path or not label:
        raise ParameterError(f"{option} takes IMAGE=CLASS, got {value!r}.")
    return path, label


def run_correct(args: argparse.Namespace) -> int:
    from core.data.versions import Change, make_version

    changes = [Change("relabel", *_pair(v, "--relabel")) for v in args.relabel]
    changes += [Change("remove", v) for v in args.remove]
    changes += [Change("add", *_pair(v, "--add")) for v in args.add]
    version = make_version(args.path, changes, owner=None, note=args.note)
    if args.json:
        emit_json(version.to_dict())
    else:
        counts = ", ".join(f"{n} {kind}" for kind, n in version.summary().items() if n)
        print(f"{version.id} ({counts}) -> {version.path}")
    return 0


def run_versions(args: argparse.Namespace) -> int:
    from core.data.versions import list_versions

    versions = list_versions()
    if args.json:
        emit_json([v.to_dict() for v in versions])
        return 0
    for v in versions:
        counts = ", ".join(f"{n} {kind}" for kind, n in v.summary().items() if n)
        print(f"{v.id:<32} v{v.number} of {v.origin}  ({counts})  by {v.owner or 'the command line'}  {v.path}")
    return 0

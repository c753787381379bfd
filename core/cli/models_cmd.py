"""``python -m core models``: the zoo, with where each model's weights come from and its status."""

from __future__ import annotations

import argparse

from core.cli import emit_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model zoo and each model's status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--prepare", metavar="NAME", action="append", default=[],
                   help="build (download or convert) this model now and write its .keras file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.zoo import list_models

    for name in args.prepare:
        from core.zoo import get_spec, load_model

        spec = get_spec(name)
        if spec.status() != "ready":
            print(f"Preparing {name}: {spec.weights_source} ...", flush=True)
            load_model(name, progress=_print_progress(name))
            print(f"{name} is ready: {spec.model_file}", flush=True)
    rows = []
    for spec in list_models():
        status = spec.status()
        rows.append({
            "name": spec.name, "title": spec.title, "input_size": list(spec.input_size),
            "weights_source": spec.weights_source, "status": status, "offline": spec.offline,
            "path": str(spec.model_file) if status == "ready" else None,
        })
    if args.json:
        emit_json(rows)
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        size = "x".join(map(str, r["input_size"]))
        print(f"{r['name']:<{width}}  {size:>7}  {r['status']:<14}  {r['weights_source']}")
    return 0


def _print_progress(name: str):
    import sys

    last = [""]

    def progress(fraction: float, text: str) -> None:
        line = f"  {name}: {text}" + (f" ({fraction:.0%})" if 0 < fraction < 1 else "")
        if line != last[0]:
            last[0] = line
            sys.stderr.write(f"\r{line}\033[K")
            sys.stderr.flush()
    return progress

"""``python -m core compress``: quantised variants of a run, each measured against the original.

    python -m core compress --model RUN [--data DATA] --variants float16,int8,int8-full [--out DIR] [--json]

RUN is a run id or folder; DATA re-roots the run's split.json when its dataset moved. Variants are
written to RUN/variants/NAME (or DIR/NAME). Nonsense variants are refused in one sentence before any work.
"""

from __future__ import annotations

import argparse

from core.cli import emit_json
from core.cli.common import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("compress", help="quantised variants of a run: size, latency, accuracy")
    parser.add_argument("--model", required=True, metavar="RUN", dest="run_ref", help="run id or folder")
    parser.add_argument("--data", metavar="DATA", help="the run's dataset folder, if it moved")
    parser.add_argument("--variants", required=True, help="comma-separated: float16, int8, int8-full, prune:SPARSITY")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN/variants)")
    parser.add_argument("--root", metavar="DIR", help="the runs folder (default: GLASSWING_RUNS, runs/)")
    parser.add_argument("--eval-images", type=positive_int("--eval-images"), default=500,
                        help="test (or validation) images measured at most (default 500)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.compress import compress_run, parse_variants

    parse_variants(args.variants)  # one sentence for nonsense, before the model is loaded
    report = compress_run(args.run_ref, args.variants, args.out, data=args.data,
                          eval_images=args.eval_images, root=args.root)
    if args.json:
        emit_json(report)
        return 0
    for item in [report["original"], *report["variants"]]:
        agreement = "" if item["agreement"] is None else f", agreement {item['agreement']:.1%}"
        print(f"{item['name']:<10} {item['format']:<15} {item['size_bytes'] / 1e6:.2f} MB "
              f"({item['compressed_bytes'] / 1e6:.2f} MB deflated), {item['latency_ms']:.2f} ms/image, "
              f"accuracy {item['accuracy']:.1%} on {report['split']}{agreement}")
    return 0

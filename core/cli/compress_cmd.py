"""``python -m core compress``: quantised, pruned and distilled variants of a run, measured against it.

    python -m core compress --model RUN [--data DATA] --variants float16,int8,int8-full,prune:0.5,distil:small_cnn
        [--temperature T] [--alpha A] [--distil-epochs N] [--out DIR] [--json]

RUN is a run id or folder; DATA re-roots the run's split.json when its dataset moved. Variants are
written to RUN/variants/NAME (or DIR/NAME). Nonsense variants are refused in one sentence before any work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import emit_json
from core.cli.common import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("compress", help="quantised, pruned and distilled variants of a run, measured")
    parser.add_argument("--model", required=True, metavar="RUN", dest="run_ref", help="run id or folder")
    parser.add_argument("--data", metavar="DATA", help="the run's dataset folder, if it moved")
    parser.add_argument("--variants", required=True,
                        help="comma-separated: float16, int8, int8-full, prune:SPARSITY, distil:STUDENT")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN/variants)")
    parser.add_argument("--root", metavar="DIR", help="the runs folder (default: GLASSWING_RUNS, runs/)")
    parser.add_argument("--eval-images", type=positive_int("--eval-images"), default=500,
                        help="test (or validation) images measured at most (default 500)")
    parser.add_argument("--temperature", type=float, help="distillation temperature (default 4)")
    parser.add_argument("--alpha", type=float, help="distillation weight of the teacher's soft targets (default 0.7)")
    parser.add_argument("--distil-epochs", type=int, help="epochs a distilled student trains (default 8)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.compress import compress_run, parse_variants
    from core.compress.distil import PARAMS
    from core.errors import ParameterError
    from core.params import validate_params

    distil = {name: value for name, value in (("temperature", args.temperature), ("alpha", args.alpha),
                                              ("epochs", args.distil_epochs)) if value is not None}
    parse_variants(args.variants)  # one sentence for nonsense, before the model is loaded
    if args.data is not None and not Path(args.data).exists():
        raise ParameterError(f"--data {args.data}: no such dataset folder or zip.")
    validate_params("Distillation", PARAMS, distil)
    report = compress_run(args.run_ref, args.variants, args.out, data=args.data,
                          eval_images=args.eval_images, root=args.root, distil=distil)
    if args.json:
        emit_json(report)
        return 0
    for item in [report["original"], *report["variants"]]:
        agreement = "" if item["agreement"] is None else f", agreement {item['agreement']:.1%}"
        print(f"{item['name']:<10} {item['format']:<15} {item['size_bytes'] / 1e6:.2f} MB "
              f"({item['compressed_bytes'] / 1e6:.2f} MB deflated), {item['latency_ms']:.2f} ms/image, "
              f"accuracy {item['accuracy']:.1%} on {report['split']}{agreement}")
    return 0

"""The compression lab's table: every variant's build time, size (stored and deflated), latency per image,
accuracy, agreement and Grad-CAM agreement, side by side with the original as ratios.

    .venv/bin/python -m bench.bench_compress [--run RUN --root DIR] [--data shapes] [--size 64] [--epochs 6]
                                             [--variants float16,int8,int8-full,prune:0.5,distil:lenet5]

Without ``--run`` a small_cnn is trained first on ``--data`` (a folder or a built-in dataset). The issue's
goal (int8 at most a third of the size, at least 1.5x faster per image, agreement >= 0.95) is stated for
EfficientNet-Lite0; pass such a run with ``--run``. Machines are noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run")
    parser.add_argument("--root")
    parser.add_argument("--data", default="shapes")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--variants", default="float16,int8,int8-full,prune:0.5,distil:lenet5")
    args = parser.parse_args()

    from core.compress import compress_run, parse_variants

    parse_variants(args.variants)  # nonsense refused before the training
    with tempfile.TemporaryDirectory() as scratch:
        run, root = args.run, args.root
        if run is None:
            from core.train.config import TrainConfig
            from core.train.engine import train

            started = time.monotonic()
            result = train(TrainConfig(data=args.data, model="small_cnn", image_size=args.size, epochs=args.epochs),
                           runs_root=scratch)
            run, root = str(result.run_dir), scratch
            print(f"trained small_cnn on {args.data} at {args.size} px in {time.monotonic() - started:.0f} s "
                  f"(val accuracy {result.val_accuracy:.3f})")
        rows, report = [], None
        for text in args.variants.split(","):  # one at a time, to time each build
            started = time.monotonic()
            report = compress_run(run, [text], f"{scratch}/variants", root=root)
            rows.append((time.monotonic() - started, report["variants"][0]))
    original = report["original"]
    print(f"\nsplit: {report['split']}; latency = median of single-image calls in the variant's runtime")
    print(f"{'variant':<18}{'build s':>8}{'KB':>9}{'x size':>8}{'KB defl':>9}{'x defl':>8}{'ms':>8}{'x faster':>9}"
          f"{'acc':>7}{'agree':>7}{'cam':>7}{'sparse':>8}")
    for seconds, item in [(0.0, original), *rows]:
        sparsity = "" if item["sparsity"] is None else f"{item['sparsity']:.3f}"
        cam = "n/a" if item["cam_agreement"] is None else f"{item['cam_agreement']:.3f}"
        print(f"{item['name']:<18}{seconds:>8.1f}{item['size_bytes'] / 1e3:>9.1f}"
              f"{item['size_bytes'] / original['size_bytes']:>8.2f}{item['compressed_bytes'] / 1e3:>9.1f}"
              f"{item['compressed_bytes'] / original['compressed_bytes']:>8.2f}{item['latency_ms']:>8.3f}"
              f"{original['latency_ms'] / item['latency_ms']:>9.2f}{item['accuracy']:>7.3f}{item['agreement']:>7.3f}"
              f"{cam:>7}{sparsity:>8}")


if __name__ == "__main__":
    main()

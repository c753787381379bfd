"""Time to score one heatmap (deletion + insertion curves) against the one-forward-per-step loop.

    .venv/bin/python -m bench.bench_trust [--models efficientnet_lite0,resnet50] [--steps 32] [--repeats N]

Per model, on the same photo and in the same run (median ms after a warm-up call, interleaved):

- ``batched compiled``: :func:`core.trust.deletion_insertion`, the steps' images built inside one
  compiled function, 16 steps of both curves per forward pass;
- ``naive eager``: :func:`core.trust.naive_curves`, one eager ``model(x)`` per step and curve, the
  loop most implementations write;
- ``naive compiled``: the same loop over a compiled single-image forward pass (what compiling alone
  gives, without batching);
- ``one compiled forward``: a single compiled forward pass, the unit of cost.

Models are built with random weights (speed does not depend on them), as in bench_explain.
"""

from __future__ import annotations

import argparse

import core  # noqa: F401 - sets TensorFlow's environment (core/__init__.py) before TensorFlow loads

# isort: split

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.bench_explain import APPLICATIONS, calibrate_batchnorm, contract_model, median_times, photo  # noqa: E402
from core.explain import explain  # noqa: E402
from core.trust.faithfulness import (  # noqa: E402
    deletion_insertion,
    importance_ranks,
    make_baseline,
    naive_curves,
    step_counts,
)


def naive_compiled(model: keras.Model, image: np.ndarray, heatmap: np.ndarray, class_index: int, steps: int):
    """One compiled forward pass per step and curve."""
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32)
    forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    base = make_baseline(image, "blur")
    ranks = importance_ranks(heatmap)

    def run() -> tuple[list[float], list[float]]:
        deletion, insertion = [], []
        for count in step_counts(heatmap.size, steps):
            mask = (ranks < count)[..., None]
            deletion.append(float(forward(tf.constant(np.where(mask, base, image)[None]))[0, class_index]))
            insertion.append(float(forward(tf.constant(np.where(mask, image, base)[None]))[0, class_index]))
        return deletion, insertion

    return run, forward


def bench_model(name: str, steps: int, repeats: int, eager: bool = True) -> list[tuple[str, float]] | None:
    model = contract_model(name)
    if model is None:
        return None
    size = int(model.inputs[0].shape[1])
    batch = photo(size)
    calibrate_batchnorm(model, np.concatenate([batch, batch[:, ::-1], np.full_like(batch, 127.0)]))
    image = batch[0]
    (exp,) = explain(model, batch, "gradcam")
    heat, index = exp.heatmap, exp.class_index
    loop, forward = naive_compiled(model, image, heat, index, steps)
    x = tf.constant(batch)
    fast = deletion_insertion(model, image, heat, index, "blur", steps)
    slow = naive_curves(model, image, heat, index, "blur", steps)
    gap = max(abs(fast.deletion_auc - slow.deletion_auc), abs(fast.insertion_auc - slow.insertion_auc))
    print(f"  {name}: batched and naive AUCs agree to {gap:.1e}")
    candidates = [
        ("one compiled forward", lambda: forward(x).numpy()),
        ("batched compiled", lambda: deletion_insertion(model, image, heat, index, "blur", steps)),
        ("naive compiled", loop),
    ]
    if eager:
        candidates.append(("naive eager", lambda: naive_curves(model, image, heat, index, "blur", steps)))
    return median_times(candidates, repeats)


def print_table(name: str, rows: list[tuple[str, float]], steps: int) -> None:
    ms = dict(rows)
    fast = ms["batched compiled"]
    print(f"\n{name}  ({steps} steps = {2 * (steps + 1)} images; median ms; x = time / batched compiled)")
    print(f"  {'':24s} {'ms':>9s} {'x batched':>10s} {'x forward':>10s}")
    for label, value in rows:
        print(f"  {label:24s} {value:9.1f} {value / fast:10.2f} {value / ms['one compiled forward']:10.1f}")
    eager = f"naive eager / batched compiled: {ms['naive eager'] / fast:.1f}x   " if "naive eager" in ms \
        else ""
    print(f"  {eager}naive compiled / batched compiled: {ms['naive compiled'] / fast:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="efficientnet_lite0,resnet50",
                        help=f"comma-separated: {', '.join([*APPLICATIONS, 'efficientnet_lite0'])}")
    parser.add_argument("--steps", type=int, default=32, help="points per curve (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (after warm-up)")
    parser.add_argument("--no-eager", action="store_true", help="skip the (slow) eager one-by-one loop")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in APPLICATIONS and n != "efficientnet_lite0"]
    if unknown or args.repeats < 1 or not 2 <= args.steps <= 512:
        parser.error(f"unknown model(s): {', '.join(unknown)}" if unknown else "bad --repeats or --steps")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Grad-CAM heatmap, blur baseline, "
          f"{args.repeats} interleaved repeats")
    for name in names:
        rows = bench_model(name, args.steps, args.repeats, not args.no_eager)
        if rows is not None:
            print_table(name, rows, args.steps)
        keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m core predict``: top-k predictions for images."""

from __future__ import annotations

import argparse

from core.cli import emit_json
from core.cli.common import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="top-k predictions for one or more images")
    p.add_argument("--model", default="efficientnet_lite0", help="zoo name, run folder or .keras file")
    p.add_argument("--weights", help="ImageNet .h5 weights file for a keras.applications model")
    p.add_argument("--top", type=positive_int("--top"), default=5, help="how many classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from core.images import load_image, resize_for_model
    from core.zoo import load_model

    loaded = load_model(args.model, weights=args.weights)
    batch = np.stack([resize_for_model(load_image(path), loaded.input_size) for path in args.images])
    probs = loaded.predict(batch)
    top = min(args.top, loaded.num_classes)
    results = [{"image": path, "top": loaded.top_k(row, top)} for path, row in zip(args.images, probs, strict=False)]
    if args.json:
        emit_json(results)
        return 0
    for result in results:
        print(result["image"])
        for item in result["top"]:
            print(f"  {item['prob']:6.1%}  {item['label']} ({item['index']})")
    return 0

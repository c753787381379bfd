"""``python -m core explain``: a heatmap per image, as an overlay PNG and a raw ``.npy``."""

from __future__ import annotations

import argparse

from core.cli import emit_json
from core.cli.common import ParamFlags, check_out_folder, make_out_folder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a model's prediction with a heatmap")
    p.add_argument("--model", default="efficientnet_lite0", help="zoo name, run folder or .keras file")
    p.add_argument("--weights", help="ImageNet .h5 weights file for a keras.applications model")
    p.add_argument("--method", default="gradcam", help="explanation method (see the list in the README)")
    p.add_argument("--layer", help="layer to explain (CAM methods; default: the model's last conv layer)")
    p.add_argument("--target", help="class index or name to explain (default: the top prediction)")
    p.add_argument("--contrast", help="with --target: why that class rather than this one (index or name)")
    p.add_argument("--out", default=".", help="folder for the overlay PNG and heatmap .npy (default: here)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(run=run)


def method_flags(prefix: str = "") -> ParamFlags:
    """Every registered explanation method's declared parameters as flags (``trust`` prefixes them)."""
    from core.explain.registry import METHODS

    return ParamFlags.of(METHODS, prefix=prefix)


def add_entry_flags(p: argparse.ArgumentParser) -> None:
    """The methods' parameters (--max-channels, --samples, --steps, ...), added only when ``explain`` runs."""
    import core.explain  # noqa: F401 - registers the methods

    method_flags().add_to(p, "method parameters (each method takes only its own)")


def run(args: argparse.Namespace) -> int:
    import functools

    from core.atomic import write_bytes
    from core.errors import ParameterError
    from core.explain import get_method
    from core.explain.batch import explain_photos
    from core.images import load_image
    from core.zoo import load_model

    method = get_method(args.method)  # unknown method: fail before loading anything
    params = method_flags().values(args, args.method)
    if args.contrast is not None:
        if args.target is None:
            raise ParameterError("--contrast needs --target: the class to explain rather than the contrast.")
        method.check_contrast()
    out = check_out_folder(args.out)
    loaded = load_model(args.model, weights=args.weights)
    target = loaded.class_index(args.target, "--target") if args.target is not None else None
    contrast = loaded.class_index(args.contrast, "--contrast") if args.contrast is not None else None
    if contrast is not None and contrast == target:
        raise ParameterError(f"--contrast must name another class than --target ({loaded.label(target)}).")
    make_out_folder(out)

    def write(file: str, data: bytes) -> str:
        write_bytes(out / file, data)  # whole or not there
        return str(out / file)

    # Each photo is read when its turn comes: many large photos never sit in memory at once.
    photos = [(path, functools.partial(load_image, path)) for path in args.images]
    results = explain_photos(loaded, photos, [args.method], write, layer=args.layer, target=target,
                             contrast=contrast, params={args.method: params})
    if args.json:
        emit_json(results)
        return 0
    for r in results:
        t = r["target"]
        rather = f" rather than {r['contrast']['label']}" if "contrast" in r else ""
        print(f"{r['image']}: {t['label']} ({t['prob']:.1%}){rather} via {r['method']} on {r['layer'] or 'input'} "
              f"in {r['ms']:.0f} ms -> {r['overlay_png']}")
    return 0

"""``python -m core attack``: adversarial images (FGSM, PGD) saved as 8-bit PNGs at model resolution."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import emit_json
from core.cli.common import ParamFlags, check_out_folder, make_out_folder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attack", help="make adversarial images that change a model's prediction")
    p.add_argument("--model", default="efficientnet_lite0", help="zoo name, run folder or .keras file")
    p.add_argument("--weights", help="ImageNet .h5 weights file for a keras.applications model")
    p.add_argument("--method", default="pgd", help="a registered attack (default pgd; `attack --help` lists them)")
    p.add_argument("--target", help="class index or name to push the prediction to (default: any other class)")
    p.add_argument("--defence", help="attack the model behind a registered input defence (`attack --help` lists "
                   "them), tuned by its --defence-PARAM flags")
    p.add_argument("--no-bpda", action="store_true",
                   help="with --defence: use the defence's own gradient, not BPDA (shows gradient masking)")
    p.add_argument("--out", default=".", help="folder for the adversarial PNGs (default: here)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(run=run)


def _flags() -> tuple[ParamFlags, ParamFlags]:
    from core.attacks.registry import ATTACKS, DEFENCES

    return ParamFlags.of(ATTACKS), ParamFlags.of(DEFENCES, prefix="defence-")


def add_entry_flags(p: argparse.ArgumentParser) -> None:
    """Every registered attack's and defence's declared parameters as flags (only when ``attack`` is run)."""
    from core.attacks import list_attacks, list_defences

    attacks, defences = _flags()
    attacks.add_to(p, f"attack parameters ({', '.join(list_attacks())}; each takes only its own)",
                   required=("eps",))
    defences.add_to(p, f"defence parameters, with --defence ({', '.join(list_defences())})")


def _png_path(out: Path, image: str, method: str, eps: float, taken: set[Path]) -> Path:
    """``<stem>_<method>_eps<E>.png``; a second input with the same stem gets a numbered name."""
    base = f"{Path(image).stem}_{method}_eps{eps:g}"
    path, n = out / f"{base}.png", 1
    while path in taken:
        n += 1
        path = out / f"{base}_{n}.png"
    taken.add(path)
    return path


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from core.atomic import atomic_path
    from core.attacks import create_attack, create_defence, get_attack, get_defence, predict_probs
    from core.attacks.result import is_success, linf_per_image
    from core.images import load_image, resize_for_model, to_png_bytes
    from core.zoo import load_model

    # Check the attack, the defence and the output folder before loading anything.
    out = check_out_folder(args.out)
    attack_flags, defence_flags = _flags()
    get_attack(args.method)  # an unknown name lists the known ones before any flag is checked against it
    attack = create_attack(args.method, **attack_flags.values(args, args.method))
    if args.defence:
        get_defence(args.defence)
        defence = create_defence(args.defence, **defence_flags.values(args, args.defence))
    else:
        defence = defence_flags.values(args, None)  # a --defence-PARAM without --defence is refused
    bpda = not args.no_bpda
    loaded = load_model(args.model, weights=args.weights)
    target = loaded.class_index(args.target, "--target") if args.target is not None else None
    images = np.stack([resize_for_model(load_image(path), loaded.input_size) for path in args.images])

    result = attack.generate(loaded, images, target=target, defence=defence, bpda=bpda, batch_size=16)
    # A PNG stores 8-bit pixels: check that the rounded image still does what the float one did.
    rounded = result.rounded()
    probs_rounded = predict_probs(loaded, rounded.astype(np.float32), defence, batch_size=16)
    success_rounded = is_success(probs_rounded.argmax(axis=1), result.labels, result.targeted)
    linf_rounded = linf_per_image(rounded, result.original)

    make_out_folder(out)
    taken: set[Path] = set()
    results = []
    for i, path in enumerate(args.images):
        png = _png_path(out, path, attack.name, attack.eps, taken)
        with atomic_path(png) as tmp:
            tmp.write_bytes(to_png_bytes(rounded[i]))
        results.append({
            "image": path, "model": loaded.name, "method": attack.name, "eps": attack.eps,
            "params": dict(attack.values),
            "target": None if target is None else {"index": target, "label": loaded.label(target)},
            "defence": defence.name if defence is not None else None,
            "defence_params": dict(defence.values) if defence is not None else None, "bpda": result.bpda,
            "before": loaded.top_k(result.probs_before[i], 1)[0],
            "after": loaded.top_k(result.probs_after[i], 1)[0],
            "linf": float(result.linf[i]), "success": bool(result.success[i]),
            "adversarial_png": str(png),
            "after_rounding": loaded.top_k(probs_rounded[i], 1)[0],
            "linf_after_rounding": float(linf_rounded[i]),
            "success_after_rounding": bool(success_rounded[i]),
        })
    if args.json:
        emit_json(results)
        return 0
    for r in results:
        b, a, ar = r["before"], r["after"], r["after_rounding"]
        goal = f"reached {r['target']['label']}" if r["target"] else "fooled"
        outcome = goal if r["success"] else ("did not reach the target" if r["target"] else "not fooled")
        kept = "still works" if r["success_after_rounding"] else "no longer works"
        print(f"{r['image']}: {b['label']} ({b['prob']:.1%}) -> {a['label']} ({a['prob']:.1%}), "
              f"{r['method']} eps {r['eps']:g}, L-inf {r['linf']:.2f}: {outcome}; as 8-bit PNG it {kept} "
              f"({ar['label']} {ar['prob']:.1%}) -> {r['adversarial_png']}")
    return 0

"""Many photos, several methods: each photo explained by each method, written as files as it goes.

What the CLI's ``explain IMAGE ...`` writes into a folder and the dashboard's "explain every photo" puts in
one zip: per photo and method an overlay PNG and the raw heatmap ``.npy`` (float32 in [0, 1] at the model's
input size), and one row of results (label, probability, layer, milliseconds). Memory stays bounded: one
photo's arrays at a time, and an overlay in a zip is at most :data:`ZIP_SIDE` pixels on its long side.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.atomic import atomic_path
from core.errors import ParameterError
from core.explain import ContrastTarget, explain, get_method
from core.explain.overlay import heatmap_npy, overlay
from core.i18n import N_
from core.images import resize_for_model, to_png_bytes
from core.progress import Progress, report
from core.zoo import LoadedModel

ZIP_SIDE = 1024  # pixels on an overlay's long side in a zip (a 12-megapixel photo's overlay is 36 MB raw)
MAX_ITEMS = 200  # photos times methods in one batch: beyond it, a worker would be held for many minutes
COLUMNS = ("image", "method", "label", "prob", "layer", "contrast", "ms", "overlay_png", "heatmap_npy")


def stem(name: str, method: str, taken: set[str]) -> str:
    """``<photo>_<method>``, numbered when taken, so that cat.jpg and cat.png (or a/cat.jpg and b/cat.jpg)
    never overwrite each other's files; ``taken`` is updated."""
    base = "".join(c if c.isprintable() and c not in "\\/:" else "_" for c in f"{Path(name).stem}_{method}")
    chosen, n = base, 1
    while chosen in taken:
        n += 1
        chosen = f"{base}_{n}"
    taken.add(chosen)
    return chosen


def explain_photos(loaded: LoadedModel, photos: Sequence[tuple[str, np.ndarray | Callable[[], np.ndarray]]],
                   methods: Sequence[str], write: Callable[[str, bytes], str], layer: str | None = None,
                   target: int | None = None, contrast: int | None = None, params: Mapping[str, dict] | None = None,
                   side: int | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Explain every ``(name, uint8 pixels)`` photo (or ``(name, loader)``, read when its turn comes) with
    every method; ``write(file name, bytes)`` stores each overlay and heatmap and returns where it went.
    ``target`` is a class for every photo (default: each photo's own top prediction); ``contrast``, a class
    to explain it against (skipped for a photo whose explained class it is). One row of results per photo
    and method, as ``python -m core explain --json`` prints them."""
    for method in methods:  # an unknown method or a contrast it cannot take: refused before any work
        spec = get_method(method)
        if contrast is not None:
            spec.check_contrast()
    rows, taken, total = [], set(), len(photos) * len(methods)
    for i, (name, pixels) in enumerate(photos):
        pixels = pixels() if callable(pixels) else pixels
        batch = resize_for_model(pixels, loaded.input_size)[None]
        shown = _within(pixels, side)
        explained = target
        if contrast is not None and target is None:  # this photo's own answer, against the contrast class
            explained = int(np.argmax(loaded.predict(batch)[0]))
        against = contrast if contrast is not None and contrast != explained else None
        photo_target = ContrastTarget(explained, against) if against is not None else explained
        for j, method in enumerate(methods):
            done = i * len(methods) + j
            report(progress, done / max(total, 1), f"{name}: {method} ({done + 1} of {total})")
            use_layer = layer if get_method(method).uses_layer else None
            (exp,) = explain(loaded, batch, method, layer=use_layer, target=photo_target,
                             **dict((params or {}).get(method, {})))
            file = stem(name, method, taken)
            versus = {"contrast": {"index": against, "label": loaded.label(against)}} if against is not None else {}
            rows.append({
                "image": name, "model": loaded.name, "method": method, "layer": exp.layer,
                "target": {"index": exp.class_index, "label": loaded.label(exp.class_index), "prob": exp.prob},
                **versus, "heatmap_npy": write(f"{file}.npy", heatmap_npy(exp.heatmap)),
                "overlay_png": write(f"{file}.png", to_png_bytes(overlay(shown, exp.heatmap, method=method))),
                "ms": round(exp.ms, 2)})
        del pixels, batch, shown
    report(progress, 1.0, "Done")
    return rows


def explain_to_zip(loaded: LoadedModel, photos: Sequence[tuple[str, np.ndarray]], methods: Sequence[str],
                   out: str | os.PathLike, layer: str | None = None, target: int | None = None,
                   contrast: int | None = None, params: Mapping[str, dict] | None = None,
                   progress: Progress | None = None) -> Path:
    """One zip at ``out`` (written whole, or not at all): ``overlays/``, ``heatmaps/``, ``results.json`` and
    ``results.csv`` (the same rows). Built on disk, not in memory; at most :data:`MAX_ITEMS` explanations
    (a server's worker is not held for an hour)."""
    if len(photos) * len(methods) > MAX_ITEMS:
        raise ParameterError.say(N_("At most {most} explanations at once (photos times methods), asked for "
                                    "{asked}: choose fewer photos or methods."),
                                 most=MAX_ITEMS, asked=len(photos) * len(methods))
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        def write(file: str, data: bytes) -> str:
            folder = "overlays" if file.endswith(".png") else "heatmaps"
            # PNGs are compressed already; heatmaps (float32) deflate well.
            archive.writestr(f"{folder}/{file}", data,
                             compress_type=zipfile.ZIP_STORED if file.endswith(".png") else zipfile.ZIP_DEFLATED)
            return f"{folder}/{file}"

        rows = explain_photos(loaded, photos, methods, write, layer=layer, target=target, contrast=contrast,
                              params=params, side=ZIP_SIDE, progress=progress)
        archive.writestr("results.json", json.dumps({"model": loaded.name, "results": rows}, indent=1))
        archive.writestr("results.csv", _csv(rows))
    return Path(out)


def _csv(rows: Iterable[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r["image"], r["method"], r["target"]["label"], f"{r['target']['prob']:.6f}", r["layer"] or "",
                         r.get("contrast", {}).get("label", ""), r["ms"], r["overlay_png"], r["heatmap_npy"]])
    return out.getvalue()


def _within(pixels: np.ndarray, side: int | None) -> np.ndarray:
    """The photo shrunk so that its long side is at most ``side`` (as it is when smaller, or without one)."""
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    longest = max(pixels.shape[:2])
    if side is None or longest <= side:
        return pixels
    scale = side / longest
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)

"""Data page, part 2: the cached dataset report and example thumbnails, and how they are shown.

A scan decodes every image, so its result is cached per dataset folder and a cheap fingerprint of
the folder tree (modification times of the dataset root, its split and class folders); thumbnails are
cached per file path and modification time.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.data.dataset import open_dataset
from core.data.labels import display_label
from core.data.report import DatasetReport
from core.errors import DataError, ImageError
from core.images import load_image
from core.progress import Progress
from dashboard.charts import class_axis

THUMB = 80  # pixels, longest side of an example thumbnail
EXAMPLES_PER_CLASS = 8
MAX_CLASS_ROWS = 12
SPLIT_ORDER = ("train", "all", "val", "test")  # examples come from the training images first


@dataclass(frozen=True)
class LoadedDataset:
    report: DatasetReport
    class_names: list[str]
    by_class: dict[str, list[str]]  # class -> image paths (training split first)


def md(text: str) -> str:
    """A user's label as literal Markdown text (no emphasis, links or code from ``*_[]`#``)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~])", r"\\\1", display_label(text))


def fingerprint(path: str | os.PathLike) -> tuple:
    """Modification times of the folder, its ``dataset.json`` and folders two levels down.

    Adding or removing an image changes its folder's time; our datasets are written once, so this
    is enough to notice a changed folder without touching every file.
    """
    root = Path(path)
    stamps = [(".", root.stat().st_mtime_ns)]
    meta = root / "dataset.json"
    if meta.is_file():
        stamps.append(("dataset.json", meta.stat().st_mtime_ns))
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.is_symlink():
            stamps.append((child.name, child.stat().st_mtime_ns))
            for grandchild in sorted(child.iterdir()):
                if grandchild.is_dir() and not grandchild.is_symlink():
                    stamps.append((f"{child.name}/{grandchild.name}", grandchild.stat().st_mtime_ns))
    return tuple(stamps)


def load_dataset(path: str, progress: Progress | None = None) -> LoadedDataset:
    """Scan and validate the folder (every image is decoded; ``progress`` hears of them)."""
    try:
        ds = open_dataset(path, strict=False, progress=progress)
    except OSError as exc:
        raise DataError(f"The dataset folder cannot be read ({exc}).") from None
    by_class: dict[str, list[str]] = {name: [] for name in ds.class_names}
    for split in sorted(ds.splits, key=lambda s: SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 9):
        for item in ds.splits[split]:
            by_class[ds.class_names[item.label]].append(str(item.path))
    return LoadedDataset(report=ds.report, class_names=list(ds.class_names), by_class=by_class)


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(path: str, mtime_ns: int, side: int = THUMB) -> np.ndarray | None:
    """A small RGB copy of one image (aspect kept), or None if it no longer decodes."""
    try:
        pixels = load_image(path)
    except ImageError:
        return None
    pil = Image.fromarray(pixels)
    pil.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(pil)


def mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


# ---- rendering ---------------------------------------------------------------------------------


def report_ui(report: DatasetReport) -> None:
    """Counts, sizes, imbalance, problems and skipped files, in that order of importance."""
    sizes = report.image_sizes
    cols = st.columns(5)
    cols[0].metric("Usable images", f"{report.num_images:,}")
    cols[1].metric("Classes", len(report.classes))
    cols[2].metric("Skipped files", len(report.skipped))
    cols[3].metric("Typical size", f"{sizes.median_width:g}×{sizes.median_height:g}" if sizes.count else "–",
                   help=f"Median width × height. Widths {sizes.min_width}–{sizes.max_width}, heights "
                        f"{sizes.min_height}–{sizes.max_height} pixels." if sizes.count else None)
    ratio = report.imbalance.get("ratio")
    cols[4].metric("Imbalance", f"{ratio:.1f}×" if ratio else "–",
                   help="Largest class divided by the smallest. Above 3 the model may favour the big "
                        "classes; training weighs classes to compensate.")
    for problem in report.errors:
        st.error(problem)
    for warning in report.warnings:
        st.warning(warning)
    if report.classes:
        _counts_chart(report)
    if report.duplicates:
        with st.expander(f"Exact duplicates: {len(report.duplicates)} groups"):
            st.caption("Byte-identical files. Copies across train/val/test make validation scores look "
                       "better than they are; copies in different classes confuse the model.")
            cross = {tuple(g) for g in report.cross_split_duplicates}
            conflict = {tuple(g) for g in report.label_conflicts}
            rows = [{"files": " = ".join(g), "across splits": tuple(g) in cross,
                     "different classes": tuple(g) in conflict} for g in report.duplicates]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if report.skipped:
        by_reason = pd.Series([s.code for s in report.skipped]).value_counts()
        with st.expander(f"Skipped files: {len(report.skipped)} ("
                         + ", ".join(f"{n} {code}" for code, n in by_reason.items()) + ")"):
            st.caption("Files left out of the dataset, each with the reason. "
                       "One bad file never stops the rest.")
            st.dataframe(pd.DataFrame([{"file": s.path, "reason": s.reason} for s in report.skipped]),
                         hide_index=True, width="stretch")


def _counts_chart(report: DatasetReport) -> None:
    # Plotly renders a little HTML in labels: escape it, class names are user text. (graph_objects, not
    # plotly.express: it is ~40x faster to build, and this chart is redrawn on every rerun.)
    labels = [html.escape(display_label(name)) for name in report.class_names]
    fig = go.Figure([go.Bar(name=split, x=labels, y=[counts.get(name, 0) for name in report.class_names])
                     for split, counts in report.splits.items()])
    fig.update_layout(barmode="stack", title="Usable images per class", height=280, yaxis_title="images",
                      xaxis=class_axis(labels), margin=dict(l=0, r=0, t=40, b=0),
                      showlegend=len(report.splits) > 1)
    st.plotly_chart(fig, width="stretch", key="data_counts_chart")


def examples_ui(loaded: LoadedDataset) -> None:
    """A row of example thumbnails per class."""
    names = [n for n in loaded.class_names if loaded.by_class.get(n)]
    for name in names[:MAX_CLASS_ROWS]:
        paths = loaded.by_class[name][:EXAMPLES_PER_CLASS]
        thumbs = [t for t in (thumbnail(p, mtime_ns(p)) for p in paths) if t is not None]
        st.markdown(f"**{md(name)}** · {len(loaded.by_class[name]):,} images")
        if thumbs:
            st.image(thumbs, width=THUMB)
    if len(names) > MAX_CLASS_ROWS:
        st.caption(f"… and {len(names) - MAX_CLASS_ROWS} more classes "
                   "(pick one in the augmentation preview).")

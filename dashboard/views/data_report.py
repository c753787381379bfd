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

from core.data import files as F
from core.data.dataset import open_dataset
from core.data.labels import display_label
from core.data.report import DatasetReport
from core.errors import DataError, ImageError
from core.i18n import DEFAULT_LANGUAGE
from core.images import load_image
from core.progress import Progress
from dashboard.charts import class_axis
from dashboard.components.core_words import split_name
from dashboard.i18n import N_, _, language

THUMB = 80  # pixels, longest side of an example thumbnail
EXAMPLES_PER_CLASS = 8
MAX_CLASS_ROWS = 12
SPLIT_ORDER = ("train", "all", "val", "test")  # examples come from the training images first
# A skipped file's kind, for counts and (in another language than English, where core's sentence with
# its details stays English) as the reason.
SKIP_KINDS = {
    F.HIDDEN: N_("hidden or system file"),
    F.NOT_IMAGE: N_("not an image file"),
    F.EMPTY: N_("empty file or no pixels"),
    F.TRUNCATED: N_("corrupt or truncated image"),
    F.TOO_MANY_PIXELS: N_("too many pixels"),
    F.UNSUPPORTED_MODE: N_("unsupported colour mode"),
    F.UNSUPPORTED_FORMAT: N_("unsupported image format"),
    F.NESTED_ARCHIVE: N_("archive inside the dataset (not opened)"),
    F.OUTSIDE_CLASS: N_("outside any class folder"),
    F.LINK: N_("symbolic link (not followed)"),
    F.SPECIAL_FILE: N_("not a regular file"),
    F.UNSAFE_PATH: N_("unsafe path (would write outside the dataset folder)"),
    F.ENCRYPTED: N_("password-protected"),
    F.ZIP_BOMB: N_("compressed suspiciously well (a possible zip bomb)"),
    F.TOO_LARGE: N_("too large"),
    F.DUPLICATE_ENTRY: N_("name used by another entry"),
    F.BAD_ENTRY: N_("broken archive entry"),
    F.UNREADABLE: N_("cannot be read or decoded"),
    F.TOO_DEEP: N_("too many folders deep"),
    F.IGNORED_FOLDER: N_("folder that is not a split"),
    F.TOO_SMALL: N_("image too small"),
}


@dataclass(frozen=True)
class LoadedDataset:
    report: DatasetReport
    class_names: list[str]
    by_class: dict[str, list[str]]  # class -> image paths (training split first)


def skip_kind(code: str) -> str:
    """A skip code in the session's language (an unknown code as it is)."""
    return _(SKIP_KINDS[code]) if code in SKIP_KINDS else code


def skip_reason(reason: str, code: str) -> str:
    """Why a file was skipped: core's sentence in English, its kind in another language."""
    return reason if language() == DEFAULT_LANGUAGE or code not in SKIP_KINDS else _(SKIP_KINDS[code])


def finding(text: str) -> str:
    """A warning or problem of the report in the session's language (see ``core.data.report.Finding``)."""
    template, fields = getattr(text, "template", None), getattr(text, "fields", None)
    if template is None or fields is None:
        return text
    try:
        return _(template).format(**fields)
    except (KeyError, IndexError, ValueError):  # a translation that lost a field: the English sentence
        return text


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
        # (runs in a background task, outside the session: its sentence stays English, like core's)
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
    cols[0].metric(_("Usable images"), f"{report.num_images:,}")
    cols[1].metric(_("Classes"), len(report.classes))
    cols[2].metric(_("Skipped files"), len(report.skipped))
    cols[3].metric(_("Typical size"), f"{sizes.median_width:g}×{sizes.median_height:g}" if sizes.count else "–",
                   help=_("Median width × height. Widths {min_width}–{max_width}, heights "
                          "{min_height}–{max_height} pixels.").format(
                       min_width=sizes.min_width, max_width=sizes.max_width, min_height=sizes.min_height,
                       max_height=sizes.max_height) if sizes.count else None)
    ratio = report.imbalance.get("ratio")
    cols[4].metric(_("Imbalance"), f"{ratio:.1f}×" if ratio else "–",
                   help=_("Largest class divided by the smallest. Above 3 the model may favour the big "
                          "classes; training weighs classes to compensate."))
    for problem in report.errors:
        st.error(finding(problem))
    for warning in report.warnings:
        st.warning(finding(warning))
    if report.classes:
        _counts_chart(report)
    if report.duplicates:
        with st.expander(_("Exact duplicates: {n} groups").format(n=len(report.duplicates))):
            st.caption(_("Byte-identical files. Copies across train/val/test make validation scores look "
                         "better than they are; copies in different classes confuse the model."))
            cross = {tuple(g) for g in report.cross_split_duplicates}
            conflict = {tuple(g) for g in report.label_conflicts}
            rows = [{_("files"): " = ".join(g), _("across splits"): tuple(g) in cross,
                     _("different classes"): tuple(g) in conflict} for g in report.duplicates]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if report.skipped:
        by_reason = pd.Series([s.code for s in report.skipped]).value_counts()
        kinds = _(", ").join(_("{n} {kind}").format(n=n, kind=skip_kind(code)) for code, n in by_reason.items())
        with st.expander(_("Skipped files: {n} ({kinds})").format(n=len(report.skipped), kinds=kinds)):
            st.caption(_("Files left out of the dataset, each with the reason. "
                         "One bad file never stops the rest."))
            st.dataframe(pd.DataFrame([{_("file"): s.path, _("reason"): skip_reason(s.reason, s.code)}
                                       for s in report.skipped]), hide_index=True, width="stretch")


def _counts_chart(report: DatasetReport) -> None:
    # Plotly renders a little HTML in labels: escape it, class names are user text. (graph_objects, not
    # plotly.express: it is ~40x faster to build, and this chart is redrawn on every rerun.)
    labels = [html.escape(display_label(name)) for name in report.class_names]
    fig = go.Figure([go.Bar(name=split_name(split), x=labels,
                            y=[counts.get(name, 0) for name in report.class_names])
                     for split, counts in report.splits.items()])
    fig.update_layout(barmode="stack", title=_("Usable images per class"), height=280, yaxis_title=_("images"),
                      xaxis=class_axis(labels), margin=dict(l=0, r=0, t=40, b=0),
                      showlegend=len(report.splits) > 1)
    st.plotly_chart(fig, width="stretch", key="data_counts_chart")


def examples_ui(loaded: LoadedDataset) -> None:
    """A row of example thumbnails per class."""
    names = [n for n in loaded.class_names if loaded.by_class.get(n)]
    for name in names[:MAX_CLASS_ROWS]:
        paths = loaded.by_class[name][:EXAMPLES_PER_CLASS]
        thumbs = [t for t in (thumbnail(p, mtime_ns(p)) for p in paths) if t is not None]
        st.markdown(_("**{name}** · {n} images").format(name=md(name), n=f"{len(loaded.by_class[name]):,}"))
        if thumbs:
            st.image(thumbs, width=THUMB)
    if len(names) > MAX_CLASS_ROWS:
        st.caption(_("… and {n} more classes (pick one in the augmentation preview).").format(
            n=len(names) - MAX_CLASS_ROWS))

"""Exports of an evaluation: predictions as CSV, the confusion matrix as PNG and as interactive HTML.

The PNG is drawn with Pillow (matplotlib and kaleido are not dependencies): a labelled heatmap whose
colour is the share of each true class's images (rows sum to 1), with the counts written in the
cells. The HTML is a plotly figure with plotly.js embedded, so it opens without a network. Class
names are user text: they are cleaned for display, escaped for HTML and defused for spreadsheets.

Every export takes ``translate``, a function from an English message to the words to show (the CLI
leaves it out and writes English; the dashboard passes its ``_`` so that headers, titles and axes
follow the session's language). The messages are marked with ``N_`` for the dashboard's catalogue.
"""

from __future__ import annotations

import csv
import html
import io
import os
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core import atomic
from core.data.labels import display_label
from core.evaluate.evaluator import EvaluationResult
from core.i18n import N_

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LABEL_CHARS = 24  # longer labels are shortened in the PNG
# WenQuanYi Micro Hei has Latin and Chinese glyphs (class names and titles in either); Pillow searches font dirs.
_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "DejaVuSans.ttf",
          "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_LOW = np.array([247, 251, 255], np.float64)  # colour of an empty row share (white-blue)
_HIGH = np.array([8, 48, 107], np.float64)  # colour of a full row share (dark blue)
# The predictions CSV's columns, in order (translated headers keep the order).
CSV_COLUMNS = (N_("path"), N_("true_index"), N_("true_label"), N_("pred_index"), N_("pred_label"), N_("correct"),
               N_("confidence"), N_("prob_true"))

Translate = Callable[[str], str]


def _english(message: str) -> str:
    return message


class HasConfusion(Protocol):
    """An evaluation or a baseline result: class names and a matrix whose rows are true classes."""

    class_names: list[str]
    confusion: np.ndarray


def _csv_cell(value: object) -> object:
    """Keep spreadsheets from running a cell as a formula (CSV injection): prefix such text with '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def predictions_csv(result: EvaluationResult, translate: Translate = _english) -> str:
    """One row per image: path, true and predicted class (index and name), correct, confidences
    (headers through ``translate``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_csv_cell(translate(column)) for column in CSV_COLUMNS])
    names = result.class_names
    for p in result.predictions:
        writer.writerow([_csv_cell(v) for v in (
            p["path"], p["true"], names[p["true"]], p["pred"], names[p["pred"]], int(p["true"] == p["pred"]),
            f"{p['confidence']:.6f}", f"{p['prob_true']:.6f}",
        )])
    return buf.getvalue()


def write_predictions_csv(result: EvaluationResult, path: str | os.PathLike) -> None:
    atomic.write_text(path, predictions_csv(result))


def row_shares(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (0 for a class with no images): the recall view of the matrix."""
    totals = cm.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(cm, totals, out=np.zeros(cm.shape, np.float64), where=totals > 0)


# --- PNG -------------------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A font with Chinese glyphs when installed, else DejaVu Sans (accented labels), else Pillow's own Latin font."""
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow built without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _short(label: str) -> str:
    text = display_label(label)
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def confusion_png(source: HasConfusion, title: str = "", translate: Translate = _english) -> bytes:
    """The confusion matrix as a PNG: rows = true class, columns = predicted class (axis titles through
    ``translate``; ``title`` is drawn as given)."""
    predicted, true = translate(N_("Predicted class")), translate(N_("True class"))
    cm = np.asarray(source.confusion)
    labels = [_short(n) for n in source.class_names]
    k = len(labels)
    cell = int(np.clip(600 // max(k, 1), 12, 64))
    label_font, count_font, title_font = _font(13), _font(int(np.clip(cell * 0.32, 8, 15))), _font(15)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(_text_size(probe, t, label_font)[0] for t in labels) + 8
    line_h = _text_size(probe, "Ag", label_font)[1] + 6
    title_h = (_text_size(probe, title, title_font)[1] + 14) if title else 6
    left = label_w + line_h + 6  # row labels plus the rotated "True class" title
    top = title_h + line_h + label_w  # "Predicted class" plus rotated column labels
    width, height = left + k * cell + 16, top + k * cell + 16
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((8, 6), title, fill="black", font=title_font)
    draw.text((left, title_h), predicted, fill="black", font=label_font)

    shares = row_shares(cm)
    for r in range(k):
        for c in range(k):
            colour = tuple(int(v) for v in np.rint(_LOW + (_HIGH - _LOW) * shares[r, c]))
            x0, y0 = left + c * cell, top + r * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour, outline=(210, 210, 210))
            if cell >= 18:
                text = str(int(cm[r, c]))
                tw, th = _text_size(draw, text, count_font)
                if tw < cell - 2:
                    ink = "white" if shares[r, c] > 0.5 else "black"
                    draw.text((x0 + (cell - tw) / 2, y0 + (cell - th) / 2), text, fill=ink, font=count_font,
                              anchor="lt")
        draw.text((left - 6, top + r * cell + cell / 2), labels[r], fill="black", font=label_font, anchor="rm")
    for c, text in enumerate(labels):  # column labels, rotated to read bottom-up
        tw, th = _text_size(draw, text, label_font)
        strip = Image.new("RGB", (tw + 4, th + 6), "white")
        ImageDraw.Draw(strip).text((2, 1), text, fill="black", font=label_font)
        strip = strip.rotate(90, expand=True)
        image.paste(strip, (int(left + c * cell + (cell - strip.width) / 2), top - 4 - strip.height))
    axis = Image.new("RGB", (_text_size(draw, true, label_font)[0] + 4, line_h), "white")
    ImageDraw.Draw(axis).text((2, 1), true, fill="black", font=label_font)
    axis = axis.rotate(90, expand=True)
    image.paste(axis, (2, int(top + (k * cell - axis.height) / 2)))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def write_confusion_png(source: HasConfusion, path: str | os.PathLike, title: str = "") -> None:
    atomic.write_bytes(path, confusion_png(source, title))


# --- plotly ----------------------------------------------------------------------------------------


def _plotly_labels(names: Sequence[str]) -> list[str]:
    # plotly.js renders a subset of HTML in labels; escaping makes a class name show as typed.
    labels = [html.escape(display_label(n)) for n in names]
    seen: dict[str, int] = {}
    for i, text in enumerate(labels):  # plotly merges equal category names: keep every row apart
        if text in seen:
            labels[i] = f"{text} ({i})"
        seen[text] = i
    return labels


def confusion_figure(source: HasConfusion, title: str = "", translate: Translate = _english):
    """An interactive plotly heatmap; hover shows the count and the share of the true class (axis titles,
    colour bar and hover through ``translate``)."""
    import plotly.graph_objects as go

    cm = np.asarray(source.confusion)
    labels = _plotly_labels(source.class_names)
    shares = row_shares(cm)
    fig = go.Figure(go.Heatmap(
        z=shares, x=labels, y=labels, customdata=cm, colorscale="Blues", zmin=0, zmax=1,
        text=cm.astype(str), texttemplate="%{text}" if len(labels) <= 30 else None,
        hovertemplate=translate(N_("true %{y}<br>predicted %{x}<br>%{customdata} images (%{z:.1%} of the class)"))
        + "<extra></extra>",
        colorbar={"title": {"text": translate(N_("share of<br>true class"))}},
    ))
    # Category axes with a tick on every class: names such as "0".."9" would otherwise be numbers,
    # and plotly would label every other one (dashboard/charts.py does the same for the page's charts).
    axis = {"type": "category", "tickmode": "array", "tickvals": labels, "ticktext": labels}
    fig.update_layout(
        title={"text": html.escape(title)} if title else None,
        xaxis={"title": {"text": translate(N_("Predicted class"))}, "side": "top", **axis},
        yaxis={"title": {"text": translate(N_("True class"))}, "autorange": "reversed", **axis},
        width=None, height=max(420, 40 + 28 * len(labels)), template="plotly_white",
    )
    return fig


def confusion_html(source: HasConfusion, title: str = "", translate: Translate = _english) -> str:
    """A standalone HTML page with plotly.js embedded (about 5 MB): it opens offline."""
    return confusion_figure(source, title, translate).to_html(include_plotlyjs=True, full_html=True)


def write_confusion_html(source: HasConfusion, path: str | os.PathLike, title: str = "") -> None:
    atomic.write_text(path, confusion_html(source, title))


def reliability_figure(result: EvaluationResult, translate: Translate = _english):
    """Reliability diagram: accuracy against mean confidence per bin, with the diagonal of perfect calibration
    (words through ``translate``)."""
    import plotly.graph_objects as go

    rel = result.reliability
    centres = (rel.edges[:-1] + rel.edges[1:]) / 2
    filled = rel.count > 0
    fig = go.Figure()
    fig.add_bar(x=centres[filled], y=rel.accuracy[filled], width=(rel.edges[1] - rel.edges[0]) * 0.95,
                customdata=np.stack([rel.count[filled], rel.confidence[filled]], axis=1),
                name=translate(N_("accuracy")),
                hovertemplate=translate(N_("confidence %{customdata[1]:.2f}<br>accuracy %{y:.2f}<br>"
                                           "%{customdata[0]} images")) + "<extra></extra>")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name=translate(N_("perfect calibration")),
                    line={"dash": "dash"})
    title = translate(N_("Reliability (ECE {ece})")).format(ece=f"{rel.ece:.3f}")
    fig.update_layout(title={"text": title}, xaxis={"title": {"text": translate(N_("confidence"))}, "range": [0, 1]},
                      yaxis={"title": {"text": translate(N_("accuracy"))}, "range": [0, 1]}, template="plotly_white")
    return fig

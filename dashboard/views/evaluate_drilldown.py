"""Evaluate page, part 3: from a cell of the confusion matrix to its images and their explanations.

A cell is chosen by clicking the heatmap or in a select box (keyed ``"<true>,<pred>"``); its images
are listed most confident first. The image in focus is shown beside Grad-CAM for the predicted class,
Grad-CAM for the true class (for a correct prediction: the runner-up) and the contrast of the two (why
predicted, not true), so a student sees what the model looked at when it went wrong. Explanations
come from ``dashboard.state.heatmap`` (cached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core.data.labels import display_label
from core.errors import GlasswingError
from core.evaluate import EvaluationResult, cell_items, top_mistakes
from core.evaluate.classmap import restrict
from core.explain import ContrastTarget
from core.explain.overlay import overlay
from core.images import load_image
from core.zoo import LoadedModel
from dashboard import state
from dashboard.choices import keep_choice
from dashboard.components.empty_map import flag_empty
from dashboard.components.top_k import top_k_chart
from dashboard.i18n import _, error_text

CELL_KEY = "evaluate_cell"
ITEM_KEY = "evaluate_item"
LAST_CLICK = "evaluate_last_click"
THUMBS = 18  # thumbnails shown per cell
PER_ROW = 6
MAX_LISTED = 500  # images offered in the "inspect" box of one cell
GALLERY = 12


@st.cache_data(show_spinner=False, max_entries=256)
def _pixels(path: str) -> np.ndarray:
    return load_image(path)


def _cell_key(true: int, pred: int) -> str:
    return f"{true},{pred}"


def _parse(key: str) -> tuple[int, int]:
    true, pred = key.split(",")
    return int(true), int(pred)


def cell_options(result: EvaluationResult) -> list[str]:
    """Non-empty cells: mistakes first (largest count first), then the diagonal."""
    cm = result.confusion
    cells = [(int(cm[t, p]), t, p) for t in range(cm.shape[0]) for p in range(cm.shape[1]) if cm[t, p]]
    wrong = sorted((c for c in cells if c[1] != c[2]), key=lambda c: (-c[0], c[1], c[2]))
    right = sorted((c for c in cells if c[1] == c[2]), key=lambda c: (-c[0], c[1]))
    return [_cell_key(t, p) for _share, t, p in wrong + right]


def apply_click(cells: list[tuple[int, int]], options: list[str]) -> None:
    """Make a new click on the heatmap the chosen cell (a click on an empty cell only says so)."""
    if not cells:
        return
    clicked = _cell_key(*cells[0])
    if st.session_state.get(LAST_CLICK) == clicked:
        return  # the same selection as before: leave the select box as the user left it
    st.session_state[LAST_CLICK] = clicked
    if clicked in options:
        st.session_state[CELL_KEY] = clicked
        st.session_state.pop(ITEM_KEY, None)  # the cell's first image is assigned below
    else:
        st.toast(_("That cell is empty: no image of that class was predicted that way."))


def _focus(true: int, pred: int, path: str) -> None:
    st.session_state[CELL_KEY] = _cell_key(true, pred)
    st.session_state[ITEM_KEY] = path


def cell_section(result: EvaluationResult, model_name: str, loaded: LoadedModel,
                 clicked: list[tuple[int, int]], opacity: float) -> dict | None:
    """The chosen cell's images, and the drill-down of one of them (returned: its prediction row)."""
    options = cell_options(result)
    if not options:
        return None
    apply_click(clicked, options)
    keep_choice(CELL_KEY, options, options[0])
    names = [display_label(n) for n in result.class_names]
    cm = result.confusion

    def describe(key: str) -> str:
        t, p = _parse(key)
        n = int(cm[t, p])
        if t != p:
            template = (_("{true} → predicted {pred} · {n} image") if n == 1
                        else _("{true} → predicted {pred} · {n} images"))
        else:
            template = _("{true} (correct) · {n} image") if n == 1 else _("{true} (correct) · {n} images")
        return template.format(true=names[t], pred=names[p], n=n)

    st.subheader(_("Images in a cell"))
    said = {option: describe(option) for option in options}  # in this run's language
    key = st.selectbox(_("Cell (true class → predicted class)"), options, key=CELL_KEY, format_func=said.__getitem__,
                       help=_("Mistakes are listed first, the most frequent at the top."))
    true, pred = _parse(key)
    rows = cell_items(result, true, pred, limit=MAX_LISTED)
    count = int(cm[true, pred])  # the cell's images; only the first MAX_LISTED can be inspected
    fields = {"n": count, "true": names[true], "pred": names[pred], "shown": THUMBS, "listed": len(rows)}
    shown, listed = count > THUMBS, count > len(rows)  # only the first THUMBS, only the first MAX_LISTED
    if count == 1:
        text = _("1 image of {true} predicted as {pred}.")
    elif shown and listed:
        text = _("{n} images of {true} predicted as {pred}, most confident first; the first {shown} are shown "
                 "(the first {listed} can be inspected).")
    elif shown:
        text = _("{n} images of {true} predicted as {pred}, most confident first; the first {shown} are shown.")
    elif listed:
        text = _("{n} images of {true} predicted as {pred}, most confident first (the first {listed} can be "
                 "inspected).")
    else:
        text = _("{n} images of {true} predicted as {pred}, most confident first.")
    st.caption(text.format(**fields))
    _thumbnails(rows[:THUMBS], names, show_classes=False)
    paths = [r["path"] for r in rows]
    keep_choice(ITEM_KEY, paths, paths[0])  # the image shown is the one named
    chosen = st.selectbox(_("Image to inspect"), paths, key=ITEM_KEY,
                          format_func=lambda p: f"{Path(p).name} ({rows[paths.index(p)]['confidence']:.1%})")
    row = rows[paths.index(chosen)]
    drilldown(result, row, model_name, loaded, opacity)
    return row


def _thumbnails(rows: list[dict], names: list[str], show_classes: bool, inspect: bool = False) -> None:
    for start in range(0, len(rows), PER_ROW):
        cols = st.columns(PER_ROW)
        for offset, (col, row) in enumerate(zip(cols, rows[start:start + PER_ROW], strict=False)):
            with col:
                try:
                    pixels = _pixels(row["path"])
                except GlasswingError as exc:
                    st.error(error_text(exc))
                    continue
                text = f"{row['confidence']:.0%} · {Path(row['path']).name}"
                if show_classes:
                    text = f"{names[row['true']]} → {names[row['pred']]} · {row['confidence']:.0%}"
                st.image(pixels, caption=text, width="stretch")
                if inspect:
                    st.button(_("Inspect"), key=f"evaluate_inspect_{start + offset}", on_click=_focus,
                              args=(row["true"], row["pred"], row["path"]))
    if rows:
        st.caption(_("The percentage under each image: the model's confidence in the class it predicted."))


def drilldown(result: EvaluationResult, row: dict, model_name: str, loaded: LoadedModel, opacity: float) -> None:
    """The image, Grad-CAM for the predicted class beside Grad-CAM for the true class, and probabilities."""
    names = [display_label(n) for n in result.class_names]
    try:
        pixels = _pixels(row["path"])
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    digest = state.image_digest(pixels)
    probs = restrict(state.predict(model_name, digest, pixels)[None], result.class_map)[0]
    true, pred = row["true"], row["pred"]
    other, other_title = true, _("true class: {name} ({prob})")
    if true == pred:  # a correct prediction: compare with the class it was closest to confusing
        other, other_title = int(np.argsort(-probs)[1]), _("runner-up: {name} ({prob})")
    columns = result.class_map.columns
    cards = st.columns(4)
    with cards[0]:
        verdict = _("{file} · true {true} · predicted {pred} (right)") if true == pred else \
            _("{file} · true {true} · predicted {pred} (wrong)")
        st.image(pixels, width="stretch", caption=verdict.format(file=Path(row["path"]).name, true=names[true],
                                                                 pred=names[pred]))
    # The predicted class, the other one, and why the first rather than the second (their logits' difference).
    contrast = ContrastTarget(int(columns[pred]), int(columns[other]))
    cams = ((cards[1], int(columns[pred]),
             _("predicted: {name} ({prob})").format(name=names[pred], prob=f"{probs[pred]:.1%}")),
            (cards[2], int(columns[other]), other_title.format(name=names[other], prob=f"{probs[other]:.1%}")),
            (cards[3], contrast, _("why {pred}, not {other}").format(pred=names[pred], other=names[other])))
    for col, target, title in cams:
        with col:
            try:
                with st.spinner(_("Computing Grad-CAM ...")):
                    heat = state.heatmap(model_name, digest, "gradcam", loaded.default_cam_layer, target, (),
                                         _pixels=pixels)
            except GlasswingError as exc:
                st.error(f"Grad-CAM: {exc}")
                continue
            st.image(overlay(pixels, heat.heatmap, alpha=opacity), width="stretch", caption=f"Grad-CAM · {title}")
            if heat.empty and isinstance(target, ContrastTarget):
                st.caption(_("No region favours {pred} over {other} more than another: the difference between "
                             "them is spread over the whole image.").format(pred=names[pred], other=names[other]))
            else:
                flag_empty(heat)
    st.caption(_("Warm colours mark the regions that raised the score of that class. The last map keeps only "
                 "what raises the predicted class above the other one: where the model told them apart. If that "
                 "evidence sits on the background or a watermark, the model learnt a shortcut."))
    top_k_chart(probs, names, key="evaluate_item_probs",
                title=_("Probability among this dataset's {n} classes (the model's share of them, rescaled to 100%)")
                .format(n=len(names)) if result.class_map.restricted else "")


def mistakes_gallery(result: EvaluationResult) -> None:
    """The most confident mistakes across all classes; "Inspect" opens one in the drill-down above."""
    st.subheader(_("Most confident mistakes"))
    rows = top_mistakes(result, GALLERY) if result.num_items else []
    if not rows:
        st.success(_("No mistakes on this split."))
        return
    st.caption(_("The model was surest about these, and wrong. Often a labelling error, sometimes a real "
                 "weakness: inspect one to see where the model looked."))
    _thumbnails(rows, [display_label(n) for n in result.class_names], show_classes=True, inspect=True)

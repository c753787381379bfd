"""Compress page: smaller variants of a run (float16, int8, pruned, distilled), each measured against it,
and whether compression changed what the model looks at.

The work is :func:`core.compress.compress_run`, run as a background task with its progress and a stop button;
each variant is written whole into ``RUN/variants/`` (or not at all), so the page lists what is on disk and
a reload, another session or the command line's variants show the same table.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from core.compress import VARIANTS_DIR, list_variants, parse_variants, read_original
from core.errors import GlasswingError, Message
from core.train.runs import list_runs
from core.zoo.scratch import BUILDERS
from dashboard import state
from dashboard.components.core_words import relay, rules, split_name
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.services import tasks

REQUEST = "compress_request"  # session state: (run folder, variants) pressed
# One compress per run at a time (a process-wide task): its stop event and variants, for every session that sees it.
_STOPS: dict[tuple, threading.Event] = {}
_VARIANTS: dict[tuple, tuple] = {}
QUANTISED = {"float16": N_("float16 (half-precision weights)"), "int8": N_("int8 (dynamic range)"),
             "int8-full": N_("int8 (full, calibrated on training images)")}
STOPPED = N_("Stopped: the variants finished before the stop are kept.")
BIG_DROP = 0.05  # an accuracy drop above this is flagged


def main() -> None:
    st.title(_("Compress a model"))
    st.caption(_("Make a trained run smaller and faster for a small device, and see what it costs: size, speed, "
                 "accuracy, agreement with the original, and whether the compressed model still looks at the "
                 "same evidence (the rank correlation of its Grad-CAM maps with the original's)."))
    runs = [r for r in list_runs(owner=state.session_id()) if r.complete]
    if not runs:
        st.info(_("No finished training run yet: train one on the Train page, then compress it here."))
        return
    by_path = {str(r.path): r for r in runs}
    with st.sidebar:
        run = by_path[st.selectbox(_("Run"), list(by_path), key="compress_run",
                                   format_func=lambda p: f"{by_path[p].name} · {by_path[p].created or by_path[p].id}")]
        variants = _variant_form()
    running = _running(str(run.path))
    if variants is not None:
        try:
            parse_variants(variants)
        except GlasswingError as exc:
            st.error(error_text(exc))
            return
        if running is not None:  # one compress of a run at a time: they write the same folder
            st.warning(_("This run is being compressed already; wait for it, or stop it, before starting another."))
        else:
            tasks.forget(_key(str(run.path)))  # a stopped or failed compress is not shown instead of the new one
            st.session_state[REQUEST] = (str(run.path), tuple(variants))
    request = st.session_state.get(REQUEST)
    if running is not None:  # found again after a reload, or from another session
        request = (str(run.path), running)
    if request is not None and request[0] == str(run.path):
        _compress(request)
    _results(run.path)


def _key(run_dir: str) -> tuple:
    return ("compress", run_dir)


def _running(run_dir: str) -> tuple | None:
    """The variants of the compress of ``run_dir`` under way (from any session), or None."""
    task = tasks.find(_key(run_dir))
    return None if task is None or task.done else _VARIANTS.get(_key(run_dir))


def _variant_form() -> list[str] | None:
    """The variants to build, as ``compress_run`` names them, when Compress is pressed."""
    with st.form("compress_form"):
        st.markdown(_("**Variants**"))
        chosen = [name for name, title in QUANTISED.items()
                  if st.checkbox(_(title), value=name != "int8-full", key=f"compress_{name}")]
        prune = st.checkbox(_("Pruned (small weights set to zero, then fine-tuned)"), key="compress_prune")
        sparsity = st.slider(_("Sparsity of the pruned variant"), 0.1, 0.9, 0.5, 0.1, key="compress_sparsity")
        distil = st.checkbox(_("Distilled into a small network trained from the run's answers"), key="compress_distil")
        student = st.selectbox(_("Student network"), list(BUILDERS), key="compress_student")
        pressed = st.form_submit_button(_("Compress"), type="primary")
    if not pressed:
        return None
    chosen += [f"prune:{sparsity:g}"] * prune + [f"distil:{student}"] * distil
    return chosen


def _compress(request: tuple) -> None:
    from core.compress import compress_run
    from core.errors import ParameterError
    from core.train.loop import StopRequested

    run_dir, variants = request
    key = _key(run_dir)
    stop = _STOPS.setdefault(key, threading.Event())
    _VARIANTS.setdefault(key, variants)
    said = rules([
        (r"Loading the run's model and its test images", N_("Loading the run's model and its test images")),
        (r"(?P<name>\S+) \((?P<i>\d+) of (?P<n>\d+)\): building", N_("{name} ({i} of {n}): building")),
        (r"(?P<name>\S+): measuring on (?P<k>\d+) test images", N_("{name}: measuring on {k} test images")),
        (r"(?P<name>\S+): measuring on (?P<k>\d+) val images", N_("{name}: measuring on {k} val images")),
        (r"Done", N_("Done")),
    ])

    owner = state.session_id()  # read here: the task's thread has no session

    def work(progress):
        try:
            return compress_run(run_dir, list(variants), owner=owner, progress=relay(progress, said),
                                stop_event=stop)
        except StopRequested:
            raise ParameterError.say(STOPPED) from None
        finally:
            _STOPS.pop(key, None)
            _VARIANTS.pop(key, None)

    title = Message(N_("Compressing {run}"), run=Path(run_dir).name)
    report = run_in_background(key, title, work)
    if report is None and not stop.is_set():
        task = tasks.find(key)
        if task is not None and not task.done and st.button(_("Stop compressing"), key="compress_stop"):
            stop.set()
    elif report is not None:
        st.session_state.pop(REQUEST, None)  # done: the table below reads the variants on disk
        tasks.forget(key)  # a later press compresses again (the variants are replaced)


def _results(run_dir: Path) -> None:
    out = Path(run_dir) / VARIANTS_DIR
    variants = list_variants(out)
    if not variants:
        st.info(_("No variant of this run yet: choose variants in the sidebar and press **Compress**."))
        return
    original = read_original(out)
    rows = ([original] if original else []) + variants
    name, fmt, size, packed = _("variant"), _("format"), _("size (MB)"), _("deflated (MB)")
    latency, accuracy, agreement = _("ms per image"), _("accuracy"), _("agrees with original")
    sparsity, cam = _("sparsity"), _("Grad-CAM agreement")
    shown = {"original": _("original model")}  # the run itself; a variant's name is its recipe (int8, pruned-50)
    table = pd.DataFrame([{name: shown.get(r["name"], r["name"]), fmt: r["format"], size: r["size_bytes"] / 1e6,
                           packed: r["compressed_bytes"] / 1e6, latency: r["latency_ms"], accuracy: r["accuracy"],
                           agreement: r.get("agreement"), sparsity: r.get("sparsity"),
                           cam: r.get("cam_agreement")} for r in rows])
    split = (original or variants[0]).get("split", "test")
    st.subheader(_("Variants, measured on the run's {split} images").format(split=split_name(split)))
    percent = st.column_config.NumberColumn(format="%.1f%%")
    st.dataframe(table.assign(**{accuracy: 100 * table[accuracy], agreement: 100 * table[agreement].astype(float),
                                 sparsity: 100 * table[sparsity].astype(float)}),
                 hide_index=True, width="stretch", key="compress_table",
                 column_config={size: st.column_config.NumberColumn(format="%.2f"),
                                packed: st.column_config.NumberColumn(format="%.2f", help=_(
                                    "The file's size once zip-compressed, as it travels to a device: the zeros "
                                    "of a pruned model shrink here, not in the stored size.")),
                                latency: st.column_config.NumberColumn(format="%.2f", help=_(
                                    "Median time for one image on this server's CPU, measured when the variant "
                                    "was built; other work running then slows it.")),
                                accuracy: percent, agreement: percent,
                                sparsity: st.column_config.NumberColumn(format="%.0f%%", help=_(
                                    "Share of the weights set to zero.")),
                                cam: st.column_config.NumberColumn(format="%.2f")})
    if original:
        for r in variants:
            if original["accuracy"] - r["accuracy"] > BIG_DROP:
                st.warning(_("{variant} loses {points:.1f} points of accuracy ({before:.1%} → {after:.1%}): check "
                             "it on your own images before shipping it.").format(
                    variant=r["name"], points=100 * (original["accuracy"] - r["accuracy"]),
                    before=original["accuracy"], after=r["accuracy"]))
    st.caption(_("Grad-CAM agreement: the mean rank correlation of the variant's Grad-CAM maps with the "
                 "original's on validation images (1: the same evidence). TFLite variants are explained through "
                 "their weights as TFLite stores them."))
    fig = px.scatter(table, x=size, y=accuracy, color=latency, text=name, title=_("Accuracy against size"),
                     color_continuous_scale="viridis", range_y=[0, 1.15])  # room for the labels
    fig.update_traces(textposition="top center", marker={"size": 12})
    fig.update_layout(height=360, margin=dict(l=0, r=0, t=40, b=0), yaxis_tickformat=".0%")
    st.plotly_chart(fig, width="stretch", key="compress_chart")
    _side_by_side(Path(run_dir), variants)
    _downloads(variants)


def _side_by_side(run_dir: Path, variants: list[dict]) -> None:
    """A few validation images: the original's Grad-CAM beside a Keras variant's."""
    keras_variants = [v for v in variants if v["format"] == "keras"]
    if not keras_variants:
        st.caption(_("Side-by-side Grad-CAM needs a Keras variant (pruned or distilled); the TFLite ones are "
                     "compared in the table."))
        return
    by_name = {v["name"]: v for v in keras_variants}
    chosen = by_name[st.selectbox(_("Compare Grad-CAM with"), list(by_name), key="compress_cam_variant")]
    try:
        pairs = _maps(str(run_dir), chosen["path"], Path(chosen["path"]).stat().st_mtime_ns)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    except FileNotFoundError:
        st.info(_("The variant {variant} was removed meanwhile; compress it again to compare.").format(
            variant=chosen["name"]))
        return
    for photo, original, variant in pairs:
        cols = st.columns(3)
        cols[0].image(photo, width="stretch")
        cols[1].image(original, width="stretch", caption=_("original model"))
        cols[2].image(variant, width="stretch", caption=chosen["name"])


@st.cache_data(show_spinner=False, max_entries=8)
def _maps(run_dir: str, variant_file: str, written: int,
          count: int = 3) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The photo, the original's Grad-CAM and the variant's for a few validation images (``written``: the
    variant file's date, so that a variant compressed again is explained again)."""
    from core.explain import explain
    from core.explain.overlay import overlay
    from core.images import load_image, resize_for_model

    original, variant = state.get_model(run_dir), state.get_model(variant_file)
    from core.evaluate import open_split, run_dataset, run_split_settings

    split = open_split(run_dataset(original), "val", **run_split_settings(original))
    out = []
    for item in list(split.items)[:count]:
        photo = np.clip(load_image(item.path), 0, 255).astype(np.uint8)
        shown = np.clip(resize_for_model(photo, original.input_size), 0, 255).astype(np.uint8)
        (a,) = explain(original, shown[None].astype(np.float32), "gradcam")
        (b,) = explain(variant, np.clip(resize_for_model(photo, variant.input_size), 0, 255)[None].astype(np.float32),
                       "gradcam", target=a.class_index)
        out.append((shown, overlay(shown, a.heatmap, method="gradcam"), overlay(shown, b.heatmap, method="gradcam")))
    return out


def _downloads(variants: list[dict]) -> None:
    cols = st.columns(min(len(variants), 4))
    for i, v in enumerate(variants):
        path = Path(v["path"])
        cols[i % len(cols)].download_button(_("Download {variant}").format(variant=v["name"]),
                                            data=lambda path=path: path.read_bytes(), file_name=path.name,
                                            key=f"compress_download_{v['name']}", on_click="ignore")

"""Attack page, on demand: the robustness curve (FGSM and PGD against epsilon) and the defence comparison.

Both start when their button is pressed and run as background tasks (their bar, while the person may look
elsewhere); once done they are kept in session state, so they survive reruns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from core.attacks import create_defence, get_defence, list_attacks, list_defences
from core.errors import GlasswingError, Message, ParameterError
from dashboard.components.core_words import relay, split_name
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.views.attack_compute import (
    AttackOutcome,
    dataset_curve,
    dataset_images,
    defence_table,
    model_pixels,
    other_params,
    progress_words,
)
from dashboard.views.attack_controls import AttackRequest
from dashboard.widgets import param_widgets

CURVE_REQUEST, DEFENCE_REQUEST = "attack_curve_request", "attack_defences_request"  # pressed, not yet shown
# What a reload or a return to the page keeps (dashboard.page_memory): both forms, their requests and results.
REMEMBERED = ("attack_curve_source", "attack_curve_limit", "attack_curve_eps", CURVE_REQUEST, "attack_curve",
              "attack_defence_source", "attack_defence_limit", "attack_defences", DEFENCE_REQUEST,
              "attack_defences_result", *(f"attack_def_{name}_*" for name in list_defences()))
EPSILON_CHOICES = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
THIS_IMAGE = "this image"


def _sources(loaded) -> dict[str, str]:
    """Image sets to measure on: this photo, the run's own dataset, and every dataset on disk."""
    from core.data.catalog import list_datasets
    from core.evaluate.service import run_dataset

    sources = {THIS_IMAGE: _("This photo (probability of its label)")}
    own = run_dataset(loaded)
    if own:
        sources[own] = _("The model's training data: {path}").format(path=own)
    for entry in list_datasets():
        if "path" in entry and entry["path"] not in sources:
            title = entry["title"]
            sources[entry["path"]] = _("Dataset: {title}").format(title=_(title))
    return sources


def _source_picker(loaded, key: str) -> str:
    """Outside the form, so the page can offer the image count only for a dataset."""
    sources = _sources(loaded)
    return st.selectbox(_("Images"), list(sources), format_func=lambda s: sources[s], key=f"{key}_source",
                        help=_("A dataset must have the model's classes (a run's own data, or folders named "
                               "after ImageNet classes for a zoo model)."))


def _limit_input(source: str, key: str) -> int:
    if source == THIS_IMAGE:
        return 1
    limit = st.number_input(_("Images from the dataset (at most)"), value=16, step=8, key=f"{key}_limit",
                            help=_("More images give a smoother curve but take longer (about 1 s per image "
                                   "and epsilon for PGD on a CPU)."))
    return int(limit)


def _labelled_set(model_name: str, loaded, image, r: AttackOutcome, source: str, limit: int):
    """``(pixels, labels, description)``; one photo is labelled by the model's clean prediction."""
    if source == THIS_IMAGE:
        label = int(np.argmax(r.probs_before))
        return model_pixels(model_name, image.pixels)[None], np.array([label], np.int32), \
            _("this photo, labelled {label} (the model's own clean answer)").format(label=loaded.label(label))
    if not 1 <= limit <= 1000:
        raise ParameterError(f"Images from a dataset must be between 1 and 1000, got {limit}.")
    data = dataset_images(model_name, source, limit)
    return data.x, data.y, _("{n} images of {dataset} ({split} split)").format(
        n=len(data.y), dataset=data.dataset, split=split_name(data.split))


def _curve_params(request: AttackRequest, methods: list[str]) -> tuple:
    return tuple((m, tuple(sorted(other_params(m, request.method, request.params).items()))) for m in methods)


def robustness_section(model_name: str, loaded, image, request: AttackRequest, r: AttackOutcome) -> None:
    st.subheader(_("Robustness curve"))
    st.caption(_("How quickly does the model break as the budget grows? Each point attacks with a larger "
                 "epsilon. A robust model keeps its answer for longer; most models fall within a few levels "
                 "of 255, and PGD (many small steps) falls faster than FGSM (one step)."))
    source = _source_picker(loaded, "attack_curve")
    with st.form("attack_curve_form"):
        limit = _limit_input(source, "attack_curve")
        epsilons = st.multiselect(_("Epsilons (pixel levels out of 255)"), EPSILON_CHOICES,
                                  default=[0.0, 1.0, 2.0, 4.0, 8.0], key="attack_curve_eps")
        go = st.form_submit_button(_("Compute robustness curve"))
    methods = list_attacks()
    key = (model_name, image.digest, source, limit, tuple(sorted(epsilons)), _curve_params(request, methods))
    if go:
        if not epsilons:
            st.error(_("Epsilons: pick at least one value."))
            return
        st.session_state[CURVE_REQUEST] = key
    pending = st.session_state.get(CURVE_REQUEST)
    if pending is not None and pending[:2] == (model_name, image.digest):
        try:
            _compute_curve(model_name, loaded, image, r, pending)
        except GlasswingError as exc:
            st.session_state.pop(CURVE_REQUEST, None)
            st.error(error_text(exc))
            return
    stored = st.session_state.get("attack_curve")
    if stored is not None and stored["key"][:2] == (model_name, image.digest):
        _plot_curve(stored)


def _compute_curve(model_name, loaded, image, r, key: tuple) -> None:
    """The curve of the request ``key`` as a background task (its bar while it runs); kept in the session
    once done."""
    source, limit, epsilons, params = key[2], key[3], key[4], key[5]
    methods = tuple(method for method, _values in params)
    x, y, described = _labelled_set(model_name, loaded, image, r, source, limit)
    said, names = progress_words()
    curve = run_in_background(("attack-curve", *key), Message(N_("Attacking at every epsilon")),
                              lambda progress: dataset_curve(model_name, x, y, epsilons, methods, params,
                                                             progress=relay(progress, said, names)))
    if curve is None:  # still running (its bar is shown) or failed (its sentence is shown)
        return
    values, measure = (curve.label_prob, {"label": loaded.label(int(y[0]))}) if source == THIS_IMAGE \
        else (curve.accuracy, {})
    # The measure is kept as data (a label, or none for accuracy) and said when drawn, in the language then.
    st.session_state["attack_curve"] = {"key": key, "epsilons": list(epsilons), "values": values,
                                        "measure": measure, "described": described}
    st.session_state.pop(CURVE_REQUEST, None)


def _plot_curve(stored: dict) -> None:
    label = stored["measure"].get("label")
    if label is None:
        measure, title = _("accuracy"), _("Accuracy against epsilon")
    else:
        measure = _("probability of {label}").format(label=label)
        title = _("Probability of {label} against epsilon").format(label=label)
    epsilon, attack = _("epsilon (of 255)"), _("attack")
    rows = [{epsilon: e, measure: v, attack: m.upper()}
            for m, values in stored["values"].items() for e, v in zip(stored["epsilons"], values, strict=True)]
    fig = px.line(pd.DataFrame(rows), x=epsilon, y=measure, color=attack, markers=True, range_y=[0, 1.02],
                  title=title)
    fig.update_layout(height=320, margin=dict(l=0, r=0, t=40, b=0), yaxis_tickformat=".0%")
    st.plotly_chart(fig, width="stretch", key="attack_curve_chart")
    st.caption(_("Measured on {what}. Epsilon 0 is the clean image.").format(what=stored["described"]))


def defence_section(model_name: str, loaded, image, request: AttackRequest, r: AttackOutcome) -> None:
    st.subheader(_("Defences"))
    st.caption(_("An input defence cleans each image before the model sees it (JPEG re-compression, fewer "
                 "colour levels, a median filter). Some only hide the gradient from a naive attack: BPDA "
                 "attacks straight through the cleaning step, and if accuracy then collapses the defence "
                 "was masking gradients, not making the model robust."))
    names = list_defences()
    source = _source_picker(loaded, "attack_defence")
    with st.form("attack_defence_form"):
        limit = _limit_input(source, "attack_defence")
        chosen = st.multiselect(_("Defences"), names, default=names, key="attack_defences",
                                format_func={n: _(get_defence(n).title) for n in names}.__getitem__)
        settings = {}
        for name in names:
            with st.expander(_("{defence} settings").format(defence=_(get_defence(name).title))):
                settings[name] = param_widgets(get_defence(name).params, key=f"attack_def_{name}",
                                               sliders=False)
        go = st.form_submit_button(_("Compare defences"))
    st.caption(_("Uses the attack above: {method} at epsilon {eps}.").format(method=request.method.upper(),
                                                                           eps=f"{r.result.eps:g}"))
    if go:
        try:
            for name in chosen:
                create_defence(name, **settings[name])  # a nonsense setting is said before any work
        except GlasswingError as exc:
            st.error(error_text(exc))
            return
        st.session_state[DEFENCE_REQUEST] = (model_name, image.digest, source, limit, request.method,
                                             request.params_key, float(r.result.eps),
                                             tuple((n, tuple(sorted(settings[n].items()))) for n in chosen))
    pending = st.session_state.get(DEFENCE_REQUEST)
    if pending is not None and pending[:2] == (model_name, image.digest):
        try:
            _compare_defences(model_name, loaded, image, request, r, pending)
        except GlasswingError as exc:
            st.session_state.pop(DEFENCE_REQUEST, None)
            st.error(error_text(exc))
            return
    stored = st.session_state.get("attack_defences_result")
    if stored is not None and stored["key"] == (model_name, image.digest):
        _show_defences(stored)


def _compare_defences(model_name, loaded, image, request: AttackRequest, r: AttackOutcome, key: tuple) -> None:
    """The defence comparison of the request ``key`` as a background task; kept in the session once done."""
    source, limit, method, params, eps, chosen = key[2], key[3], key[4], dict(key[5]), key[6], key[7]
    x, y, described = _labelled_set(model_name, loaded, image, r, source, limit)
    said, titles = progress_words()

    def work(progress):  # the attack pressed with the button, not one changed in the sidebar since
        defences = [create_defence(name, **dict(values)) for name, values in chosen]
        return defence_table(model_name, x, y, eps, method, params, defences, progress=relay(progress, said, titles))

    rows = run_in_background(("attack-defences", *key), Message(N_("Attacking each defence, naively and with BPDA")),
                             work)
    if rows is None:
        return
    st.session_state["attack_defences_result"] = {"key": (model_name, image.digest), "rows": rows,
                                                  "described": described, "single": source == THIS_IMAGE}
    st.session_state.pop(DEFENCE_REQUEST, None)


def _verdict(row, title: str) -> str:
    """Core's verdict of one defence (``DefenceComparison.verdict``), in the session's language."""
    fields = {"title": title, "clean": f"{row.clean_accuracy:.0%}", "naive": f"{row.naive_accuracy:.0%}",
              "robust": f"{row.robust_accuracy:.0%}",
              "bpda": "" if row.bpda_accuracy is None else f"{row.bpda_accuracy:.0%}"}
    if row.bpda_accuracy is None:
        return _("No defence: {clean} clean accuracy, {robust} under attack.").format(**fields)
    if row.masks_gradients:
        return _("{title} masks gradients: the naive attack leaves {naive} accuracy, but BPDA straight through it "
                 "leaves {bpda} ({clean} clean).").format(**fields)
    return _("{title}: {robust} accuracy under attack (naive {naive}, BPDA {bpda}), {clean} clean.").format(**fields)


def _show_defences(stored: dict) -> None:
    titles = {n: _(get_defence(n).title) for n in list_defences()} | {"none": _("No defence")}
    defence, measure, accuracy = _("defence"), _("measure"), _("accuracy")
    rows = [{defence: titles.get(row.defence, row.defence), _("clean"): row.clean_accuracy,
             _("naive attack"): row.naive_accuracy, _("BPDA attack"): row.bpda_accuracy}
            for row in stored["rows"]]
    df = pd.DataFrame(rows).melt(id_vars=defence, var_name=measure, value_name=accuracy).dropna()
    fig = px.bar(df, x=defence, y=accuracy, color=measure, barmode="group", range_y=[0, 1.1],
                 text_auto=".0%",
                 title=_("Accuracy: clean, under the naive attack, and under BPDA"))
    # Labels above the bars: a group whose bars are all 0% (e.g. the median filter) still reads "0%".
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_layout(height=320, margin=dict(l=0, r=0, t=40, b=0), yaxis_tickformat=".0%")
    st.plotly_chart(fig, width="stretch", key="attack_defence_chart")
    for row in stored["rows"]:
        text = _verdict(row, titles.get(row.defence, row.defence))
        if row.defence != "none" and get_defence(row.defence).note:
            text = _("{verdict} {note}").format(verdict=text, note=_(get_defence(row.defence).note))
        (st.warning if row.masks_gradients else st.write)(text)
    st.caption(_("Measured on {what}.").format(what=stored["described"]))
    if stored.get("single"):
        st.caption(_("On one photo, accuracy is all or nothing: 100% means it kept the model's clean answer, 0% "
                     "that the attack changed it. Choose dataset images for a rate."))

"""The lesson's steps other than training: look at the data, augment, evaluate, explain, discover the
shortcut, attack. Each is a short text for students and a few results from core functions."""

from __future__ import annotations

import cv2
import numpy as np
import streamlit as st

from core.attacks import AttackResult, create_attack
from core.data.augment import PRESETS, augment
from core.data.shapes import add_watermark
from core.errors import GlasswingError
from core.explain.base import Explanation
from core.explain.overlay import overlay
from core.trust import energy_in_mask
from dashboard import state
from dashboard.components.confusion import confusion_figure
from dashboard.components.core_words import split_name
from dashboard.components.empty_map import empty_note, flag_empty
from dashboard.i18n import _, error_text
from dashboard.state import image_digest
from dashboard.views import lesson_data as ld


def _enlarge(image: np.ndarray, side: int = 160) -> np.ndarray:
    """Small images drawn big with crisp pixels (the browser would blur them)."""
    return cv2.resize(np.asarray(image, np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)


def _row(images: list[np.ndarray], captions: list[str]) -> None:
    for col, image, caption in zip(st.columns(len(images)), images, captions, strict=True):
        col.image(_enlarge(image), caption=caption, width="stretch")




def _model_or_message(folder: str):
    """The lesson's model and its loaded copy, with a warning when it is close to guessing; else None."""
    model = ld.lesson_model()
    if model is None:
        st.warning(ld.missing_model_message())
        return None
    try:
        found = model, state.get_model(model.path)
        guessing = ld.guessing_message(model.path, folder)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return None
    if guessing:
        st.warning(guessing)
    return found


# ---- 1 look at the data ---------------------------------------------------------------------------

def data_step(folder: str, info: ld.LessonData) -> None:
    room = state.classroom()
    if not room.can_train and room.preloaded_run is None:
        st.warning(_("Training is switched off on this server and no trained run is preloaded, so steps 3 to 7 "
                     "(train, evaluate, explain, shortcut, attack) have no model to show. Teacher: set "
                     "`GLASSWING_PRELOADED_RUN` (or `preloaded_run` in the classroom file) to a finished lesson "
                     "run, as docs/classroom.md explains."))
    st.markdown(_(
        "A classifier learns from **labelled examples**. Our dataset has four classes of shapes, drawn on "
        "random backgrounds. It is split three ways: **train** (the model learns from these), **validation** "
        "(checked during training) and **test** (kept aside for the final exam)."))
    counts = info.counts
    split_col, total_col = _("split"), _("total")
    st.dataframe([{split_col: split_name(split), **per_class, total_col: sum(per_class.values())}
                  for split, per_class in counts.items()], hide_index=True, key="lesson_counts")
    st.caption(_("Images per class in each split."))
    paths = ld.sample_paths(info, "train")
    images = [ld.pixels(p) for p in paths]
    _row(images, [f"{name} · {img.shape[0]}x{img.shape[1]}x{img.shape[2]}"
                  for name, img in zip(info.class_names, images, strict=True)])
    h, w, c = images[0].shape
    st.markdown(_(
        "To the computer each image is a grid of numbers: **{h} x {w} pixels x {c} colour channels** "
        "(red, green, blue), each from 0 to 255. A batch of 32 images is one array of shape "
        "**(32, {h}, {w}, {c})**. Look carefully at the examples: is anything in them that is not the "
        "shape?").format(h=h, w=w, c=c))


# ---- 2 augment ------------------------------------------------------------------------------------

def augment_step(info: ld.LessonData, preset_name: str) -> None:
    st.markdown(_(
        "**Augmentation** shows the model a slightly different version of each image every time: flipped, "
        "rotated, zoomed, brighter. The label stays the same, so the model learns that these changes do not "
        "matter, and it cannot simply memorise the training images."))
    st.markdown(_(
        "Why this helps: a model that memorises its training images scores well on them and badly on new "
        "ones (**overfitting**). A circle is still a circle when it is turned or a little darker; augmentation "
        "teaches this with images we already have, as if we had collected many more. Choose only changes "
        "that keep the label true: turning a 6 upside down makes a 9."))
    paths = ld.sample_paths(info, "train")
    images = np.stack([ld.pixels(p) for p in paths])
    spec = PRESETS[preset_name]
    if spec.is_identity:
        st.info(_("No augmentation chosen: pick '{light}' or '{strong}' in the sidebar to see its effect.").format(
            light=ld.preset_label("light"), strong=ld.preset_label("strong")))
        _row(list(images), info.class_names)
        return
    seed = int(st.session_state.get("lesson_augment_seed", 0))
    out = np.clip(augment(images, spec, seed=seed) + 0.5, 0, 255).astype(np.uint8)
    _row(list(images), [_("{name} (original)").format(name=n) for n in info.class_names])
    _row(list(out), [_("{name} ({preset})").format(name=n, preset=ld.preset_label(preset_name))
                     for n in info.class_names])
    if st.button(_("Another random draw"), key="lesson_augment_again"):
        st.session_state["lesson_augment_seed"] = seed + 1
        st.rerun()
    st.caption(_("This is exactly what training will do with the setting you chose. Think about it later: what "
                 "does a left-right flip do to something in the bottom-right corner?"))


# ---- 4 evaluate -----------------------------------------------------------------------------------

def evaluate_step(folder: str) -> None:
    st.markdown(_(
        "Now the exam: the **test** images, which the model has never seen. **Accuracy** is the share it gets "
        "right. The **confusion matrix** shows what it mixes up: each row is the true class, each column the "
        "class it predicted, so correct answers sit on the diagonal."))
    found = _model_or_message(folder)
    if found is None:
        return
    try:
        with st.spinner(_("Scoring the test images ...")):
            result = ld.evaluation(found[0].path, folder, "test")
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    st.metric(_("Test accuracy"), f"{result.accuracy:.0%}",
              help=_("{n} test images").format(n=result.num_items))
    st.plotly_chart(confusion_figure(result.confusion, result.class_names), width="stretch",
                    key="lesson_confusion")
    recall = {n: float(r) for n, r in zip(result.class_names, result.per_class.recall, strict=True)}
    worst = min(recall, key=recall.get)
    st.caption(_("Hardest class: **{name}** ({right} right). Chance level is {chance}. Why would one class be "
                 "so much harder? Step 5 looks inside.").format(
        name=worst, right=f"{recall[worst]:.0%}", chance=f"{1 / len(result.class_names):.0%}"))
    _baseline(found[0].path, folder)


def _baseline(model_path: str, folder: str) -> None:
    """Why a CNN: the run's HOG + linear SVM baseline beside the CNN, on the same validation images."""
    st.markdown(_(
        "**Why a CNN and not the classical way?** Before deep learning, one would describe each image by "
        "hand-designed features such as **HOG** (histograms of the edge directions in small fixed cells of "
        "the image) and let a linear **SVM** draw straight boundaries between the classes. HOG knows only "
        "edges at fixed places and cannot learn anything new. A CNN learns its own filters for exactly this "
        "data, builds edges into corners and whole outlines layer by layer, and thanks to pooling finds a "
        "shape wherever it sits. On shapes drawn anywhere on busy random backgrounds this usually wins, once "
        "the CNN has seen enough images."))
    base = ld.baseline_accuracy(model_path)
    if base is None:
        return
    try:
        cnn = ld.evaluation(model_path, folder, "val").accuracy
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    left, right = st.columns(2)
    left.metric(_("This CNN, validation images"), f"{cnn:.0%}")
    right.metric(_("HOG + linear SVM, the same images"), f"{base:.0%}")
    if cnn > base:
        st.caption(_("The CNN is {points} points ahead of the classical method on the same images.").format(
            points=f"{(cnn - base) * 100:.0f}"))
    else:
        st.caption(_("Here the classical method does as well or better: this CNN has not learned more than "
                     "edges yet. More images per class and more epochs (the sidebar) give it a chance."))


# ---- 5 explain ------------------------------------------------------------------------------------

def _gradcam(model_path: str, image: np.ndarray) -> Explanation:
    return state.heatmap(model_path, image_digest(image), "gradcam", None, None, (), _pixels=image)


def explain_step(folder: str, info: ld.LessonData) -> None:
    st.markdown(_(
        "**Grad-CAM** colours the parts of the image that pushed the model towards its answer: red is strong "
        "evidence, blue is none. A good model should look at the shape itself."))
    st.markdown(_(
        "How it works: the last convolution layer holds feature maps that still know *where* things are. "
        "Grad-CAM asks how much the score of the predicted class would rise if each map were stronger (the "
        "**gradient**), adds the maps up with these weights and keeps the positive part. The map is coarse "
        "(the last layer is much smaller than the image) and is stretched over the picture. It shows *where* "
        "the evidence was, not *why*, and a red spot on the wrong thing is exactly what it is for: finding "
        "it."))
    found = _model_or_message(folder)
    if found is None:
        return
    model, loaded = found
    paths = ld.sample_paths(info, "val")
    images = [ld.pixels(p) for p in paths]
    cols = st.columns(len(images))
    for col, name, image in zip(cols, info.class_names, images, strict=True):
        try:
            result = _gradcam(model.path, image)
        except GlasswingError as exc:
            col.error(error_text(exc))
            continue
        predicted = loaded.label(result.class_index)
        col.image(_enlarge(overlay(image, result.heatmap, alpha=0.5)), width="stretch",
                  caption=_("true: {label} · predicted: {predicted} ({prob})").format(
                      label=name, predicted=predicted, prob=f"{result.prob:.0%}"))
        flag_empty(result, col)
    st.caption(_("Look at where the red is for each class. Is it on the shape every time?"))


# ---- 6 discover the shortcut ----------------------------------------------------------------------

def box_share(heatmap: np.ndarray, box_xyxy: list[int], size: int) -> float:
    """Share of the heatmap's mass inside the watermark's box (core's energy-in-mask, the box as the mask)."""
    mask = np.zeros((size, size), bool)
    x0, y0, x1, y1 = box_xyxy
    mask[y0:y1, x0:x1] = True
    return energy_in_mask(heatmap, mask)


def shortcut_step(folder: str, info: ld.LessonData) -> None:
    st.markdown(_(
        "Every **circle** in the training and validation images carries a tiny white square in the bottom-"
        "right corner; the test images are clean. A model only wants a rule that works on its training "
        "data, and *'white corner means circle'* is much easier to learn than *'round means circle'*. This "
        "is a **shortcut**, and real datasets have them too (a hospital's scanner tag, a photographer's "
        "watermark, snow behind every wolf)."))
    mark = info.watermark
    val_circle = ld.pixels(ld.sample_paths(info, "val", classes=["circle"])[0])
    test_circle = ld.pixels(ld.sample_paths(info, "test", classes=["circle"])[0])
    _row([val_circle, test_circle], [_("validation circle (marked)"), _("test circle (clean)")])
    found = _model_or_message(folder)
    if found is None or mark is None:
        return
    model, loaded = found
    names = info.class_names
    try:
        val = ld.evaluation(model.path, folder, "val")
        test = ld.evaluation(model.path, folder, "test")
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    k = names.index(mark["class"])
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Circles right, validation (marked)"), f"{val.per_class.recall[k]:.0%}")
    c2.metric(_("Circles right, test (clean)"), f"{test.per_class.recall[k]:.0%}",
              delta=_("{points} points").format(
                  points=f"{(test.per_class.recall[k] - val.per_class.recall[k]) * 100:+.0f}"),
              help=_("Percentage points: the share of circles right on the clean test minus on validation."))
    c3.metric(_("Accuracy drop, validation to test"),
              _("{points} points").format(points=f"{(val.accuracy - test.accuracy) * 100:.0f}"),
              help=_("Percentage points: validation accuracy minus test accuracy, over all four shapes."))

    circles = [ld.pixels(p) for p in ld.sample_paths(info, "val", per_class=4, classes=[mark["class"]])]
    size = circles[0].shape[0]
    x0, y0, x1, y1 = mark["box_xyxy"]
    maps = [_gradcam(model.path, img) for img in circles]
    shares = [box_share(m.heatmap, mark["box_xyxy"], size) for m in maps]
    area = (x1 - x0) * (y1 - y0) / (size * size)
    empty = [m for m in maps if m.empty]
    if empty:  # an empty map puts 0% anywhere: that is no evidence either way, say so
        st.warning(_("{empty} of {maps} Grad-CAM maps are empty: for them the watermark's share is zero and means "
                     "nothing. {note}").format(empty=len(empty), maps=len(maps), note=empty_note(empty[0])))
    st.metric(_("Grad-CAM on the watermark"), f"{np.mean(shares):.0%}",
              help=_("Mean share of the heatmap inside the {w}x{h} corner box, over {n} marked circles; the box "
                     "is {area} of the image.").format(w=x1 - x0, h=y1 - y0, n=len(circles), area=f"{area:.1%}"))
    st.caption(_("The watermark covers {area} of the image. If the model looked at the shape, only about that "
                 "share of its attention would fall there.").format(area=f"{area:.1%}"))

    st.markdown(_("**Try it:** stamp the watermark on clean test images of the *other* classes."))
    others = [c for c in names if c != mark["class"]]
    clean = [ld.pixels(p) for p in ld.sample_paths(info, "test", per_class=1, classes=others)]
    stamped = [add_watermark(img) for img in clean]
    before = [loaded.label(int(np.argmax(state.predict(model.path, image_digest(i), i)))) for i in clean]
    after = [loaded.label(int(np.argmax(state.predict(model.path, image_digest(i), i)))) for i in stamped]
    _row(stamped, [f"{c}: {b} → {a}" for c, b, a in zip(others, before, after, strict=True)])
    turned = sum(a == mark["class"] for a in after)
    st.caption(_("{turned} of {n} became '{label}' with nothing changed but the corner. Fixes: remove the "
                 "watermark from the data, crop or augment it away, or collect images where it does not go "
                 "with one class.").format(turned=turned, n=len(after), label=mark["class"]))


# ---- 7 attack -------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=32)
def _fgsm(model_path: str, eps: float, paths: tuple[str, ...]) -> AttackResult:
    loaded = state.get_model(model_path)
    batch = np.stack([ld.pixels(p) for p in paths]).astype(np.float32)
    result = create_attack("fgsm", eps=float(eps)).generate(loaded, batch)
    return result


def attack_step(folder: str, info: ld.LessonData) -> None:
    st.markdown(_(
        "An **adversarial attack** changes every pixel by a tiny amount, chosen to push the model away from "
        "its answer. **FGSM** (fast gradient sign method) asks the model which direction hurts it most, and "
        "moves each pixel by at most **epsilon** levels (out of 255) that way. To us the images look the same."))
    st.markdown(_(
        "Why so small a change is enough: the score adds up thousands of pixels, each times a weight. Nudge "
        "every pixel a little, each in the direction that lowers the right score, and the tiny changes add "
        "up to a large one. The image that results is an **adversarial example**."))
    found = _model_or_message(folder)
    if found is None:
        return
    model, loaded = found
    eps = st.slider(_("Epsilon (largest change of a pixel, out of 255)"), 1, 32, 8, key="lesson_eps")
    paths = tuple(ld.sample_paths(info, "test", per_class=2))
    try:
        with st.spinner(_("Attacking ...")):
            result = _fgsm(model.path, float(eps), paths)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    before, after = result.before_index.tolist(), result.after_index.tolist()
    flips = sum(b != a for b, a in zip(before, after, strict=True))
    st.metric(_("Predictions changed by the attack"), _("{flips} of {n}").format(flips=flips, n=len(paths)))
    i = next((j for j, (b, a) in enumerate(zip(before, after, strict=True)) if b != a), 0)
    original, adversarial = result.original[i].astype(np.uint8), result.rounded()[i]
    diff = adversarial.astype(np.float32) - original.astype(np.float32)
    amplified = np.clip(127.5 + diff * (127.5 / max(eps, 1)), 0, 255).astype(np.uint8)
    _row([original, amplified, adversarial],
         [_("original: {label} ({prob})").format(label=loaded.label(before[i]),
                                                  prob=f"{result.before_prob[i]:.0%}"),
          _("change (amplified), at most {eps}/255").format(eps=eps),
          _("attacked: {label} ({prob})").format(label=loaded.label(after[i]), prob=f"{result.after_prob[i]:.0%}")])
    image_col, before_col, after_col, flipped_col = _("image"), _("before"), _("after"), _("flipped")
    st.dataframe([{image_col: p.rsplit("/", 1)[-1], before_col: loaded.label(b), after_col: loaded.label(a),
                   flipped_col: b != a}
                  for p, b, a in zip(paths, before, after, strict=True)],
                 hide_index=True, key="lesson_flips")
    st.caption(_("Raise epsilon and more labels flip."))
    st.markdown(_(
        "**Defences.** The best-known is **adversarial training**: attack the training images while the "
        "model learns and teach it the right label for them too (the Train page can do this). Cleaning the "
        "input first, with a median filter, fewer colour levels or JPEG compression, wipes out part of the "
        "change, but an attacker who knows about the cleaning can get around it. Before trusting a model, "
        "test it with stronger attacks as well: the Attack page has PGD, which takes many small FGSM steps, "
        "and tries these defences. No defence is complete: a model that resists epsilon 8 can still fall at "
        "16, so **robustness** is always stated for one attack and one epsilon."))
    st.caption(_("That is the end of the loop: you trained a model, scored it, looked inside it, found it "
                 "cheating and fooled it. The other pages do all of this on real photos and real models."))

"""Find English prose on a page rendered under AppTest in another language.

``visible_texts(at)`` collects what a person reads: titles, markdown, captions, alerts, widget labels, help,
options and placeholders, tab and expander labels, metrics, image captions, table headers and text cells,
chart titles, axis titles and legend names. ``english_prose(text)`` returns the English words left once
names are taken out: code spans, URLs, file names and identifiers (anything with a digit, an underscore, a
dot or a slash inside), acronyms and CamelCase names (CNN, FGSM, ResNet), the method and library names in
``NAMES`` and the class names the caller passes. Numbers and units stay as they are.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator

# Names that stay as they are in a Chinese interface (methods, libraries, formats), as whole phrases.
NAMES = (
    "Glasswing", "Grad-CAM++", "Guided Grad-CAM", "XGrad-CAM", "Grad-CAM", "Score-CAM", "Ablation-CAM",
    "HiResCAM", "LayerCAM", "EigenCAM", "SmoothGrad", "Integrated Gradients", "Guided Backprop", "RISE",
    "Occlusion", "Saliency", "FGSM", "PGD", "ImageNet", "EfficientNet-Lite0", "EfficientNet-Lite1", "EfficientNet",
    "ResNet50", "VGG16", "MobileNetV2", "Keras", "TensorFlow", "TFLite", "Streamlit", "Adam", "ReLU", "softmax",
    "Softmax", "logits", "logit", "HOG", "SVM", "JPEG", "PNG", "CSV", "JSON", "ZIP", "TOML", "Lite", "English",
    "jet", "viridis", "magma", "inferno", "turbo", "gray", "plasma", "hot", "bone", "Fashion-MNIST", "MNIST",
    "CIFAR-10", "Python", "scikit-image", "shapes-shortcut", "Adebayo", "McNemar",
    "dataset-fashion-mnist",  # a Debian package
    # Keras layer classes, as the Architecture page's layer table names each layer's type
    "Activation", "Add", "Average", "Concatenate", "Dense", "Dropout", "Flatten", "Lambda", "Maximum", "Multiply",
    "Permute", "Rescaling", "Reshape", "Resizing", "Subtract", "Functional", "Sequential",
)
UNITS = ("px", "MB", "KB", "GB", "ms", "s", "x", "k", "M", "ε", "eps", "top", "e.g", "p")  # p: a p-value



def run_names() -> list[str]:
    """The ids, names and base models of every run in this process's runs folder: other tests leave runs
    there, and the pages list them (as names, which stay as they are)."""
    from core.train.runs import EVERYONE, list_runs

    return [text for r in list_runs(owner=EVERYONE) for text in (r.id, r.name, r.base_model) if text]


_CODE = re.compile(r"`[^`]*`")
_DIRECTIVE = re.compile(r":[a-z]+-(?:badge|background)\[|:[a-z]+\[|:material/[a-z_]+:")  # st.badge's markdown
_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
_TEXT_FIELDS = {"body", "label", "help", "placeholder", "caption", "options", "title"}


def _strings(proto) -> Iterator[str]:
    for field, value in proto.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for item in (value if field.is_repeated else [value]):
                yield from _strings(item)
        elif field.type == field.TYPE_STRING and field.name in _TEXT_FIELDS:
            yield from (value if field.is_repeated else [value])


def _chart_texts(spec: str) -> Iterator[str]:
    figure = json.loads(spec)
    layout = figure.get("layout", {})
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(value.get("title"), dict):
            yield value["title"].get("text") or ""
        elif key == "title" and isinstance(value, dict):
            yield value.get("text") or ""
    for annotation in layout.get("annotations", []):
        yield annotation.get("text") or ""
    for trace in figure.get("data", []):
        if trace.get("showlegend", True) and isinstance(trace.get("name"), str):
            yield trace["name"]


def visible_texts(at) -> list[str]:
    """Every text a person reads on the page AppTest ``at`` rendered (main area and sidebar)."""
    texts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", None)
        if proto is not None and kind == "plotly_chart":
            texts.extend(_chart_texts(proto.spec))
        elif proto is not None and kind in ("dataframe", "table"):
            frame = node.value
            texts.extend(str(c) for c in frame.columns)
            texts.extend(v for col in frame.columns for v in frame[col].tolist() if isinstance(v, str))
        elif proto is not None and kind != "exception":
            texts.extend(_strings(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return [t for t in texts if t and t.strip()]


def _is_name(word: str) -> bool:
    inner = word[1:]
    return (word.isupper() or any(c.isupper() for c in inner)  # FGSM, ResNet, CamelCase
            or word in UNITS)


@functools.lru_cache(maxsize=64)
def _names_pattern(names: frozenset[str]) -> re.Pattern:
    """One regular expression for all the names, longest first (so "Grad-CAM++" wins over "Grad-CAM"), each
    only as a whole word: a page's thousand ImageNet labels are one pass over a text, not a thousand."""
    ordered = sorted((n for n in names if n), key=len, reverse=True)
    return re.compile(r"(?<![A-Za-z])(?:" + "|".join(map(re.escape, ordered)) + r")(?![A-Za-z])")


def english_prose(text: str, class_names: Iterable[str] = ()) -> list[str]:
    """The English words of ``text`` that are not names (empty: nothing to translate)."""
    text = _DIRECTIVE.sub(" ", _URL.sub(" ", _CODE.sub(" ", text)))
    text = _names_pattern(frozenset({*NAMES, *class_names})).sub(" ", text)
    words = []
    for token in text.split():
        if re.search(r"[\d_./\\:@=<>#]", token.strip(".,;:!?()[]\"'")):
            continue  # a number, a file, a layer or a setting: a name
        for word in _WORD.findall(token):
            if not _is_name(word):
                words.append(word)
    return words


def untranslated(texts: Iterable[str], class_names: Iterable[str] = ()) -> list[str]:
    """The texts that still hold English prose, each followed by its English words."""
    names = list(class_names)
    out = []
    for text in texts:
        words = english_prose(text, names)
        if words:
            out.append(f"{text!r} -> {' '.join(words)}")
    return out

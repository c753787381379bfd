"""Core's runtime sentences (progress texts, a baseline's method) said again in the session's language.

Core writes them in English with values inside ("Scoring 32 of 120 images"); a page lists the ones it
shows as ``(pattern, translated template)`` rules, built in the script's thread (where ``_`` knows the
session's language), and :func:`reword` fills the first matching template with the pattern's named groups.
A text no rule matches is shown as core wrote it. In English each template is the sentence itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from core.progress import Progress
from dashboard.i18n import N_, _

Rules = list[tuple[re.Pattern, str]]
SPLIT_NAMES = {"train": N_("train"), "val": N_("val"), "test": N_("test"), "all": N_("all")}


def split_name(split: str) -> str:
    """A split's name as the pages say it (train, val, test, all); another name as it is."""
    return _(SPLIT_NAMES[split]) if split in SPLIT_NAMES else split


def rules(pairs: Sequence[tuple[str, str]]) -> Rules:
    """``(regular expression, template)`` pairs, compiled; the expression must match the whole text."""
    return [(re.compile(pattern), template) for pattern, template in pairs]


def reword(text: str, said: Rules, names: Mapping[str, str] | None = None) -> str:
    """``text`` through the first rule whose pattern matches all of it; group values found in ``names``
    (e.g. an attack's English title) are replaced by their translation."""
    for pattern, template in said:
        match = pattern.fullmatch(text)
        if match:
            values = {k: (names or {}).get(v, v) if v is not None else "" for k, v in match.groupdict().items()}
            return template.format(**values)
    return text


def relay(progress: Progress, said: Rules, names: Mapping[str, str] | None = None) -> Progress:
    """``progress`` hearing core's texts reworded (safe in a background thread: nothing is looked up there)."""
    def report(fraction: float, text: str) -> None:
        progress(fraction, reword(text, said, names))
    return report


def scoring_words() -> Rules:
    """How the pages say the evaluator's progress (``core.evaluate.evaluate``: "Scoring 32 of 120 images")."""
    return rules([(r"Scoring (?P<done>[\d,]+) of (?P<total>[\d,]+) images", _("Scoring {done} of {total} images"))])

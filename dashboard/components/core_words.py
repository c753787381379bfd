"""Core's runtime sentences (progress texts, a baseline's method) said again in each viewer's language.

Core writes them in English with values inside ("Scoring 32 of 120 images"); a page lists the ones it
shows as ``(pattern, template)`` rules, the templates marked with ``N_``, and :func:`reword` turns a text
into a :class:`core.errors.Message` of the first matching template with the pattern's named groups. The
Message is translated where it is shown, so a background task started by a session in English reads in
Chinese to a session that follows it in Chinese. A text no rule matches is kept as core wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from core.errors import Message
from core.progress import Progress
from dashboard.i18n import N_, _, error_text

Rules = list[tuple[re.Pattern, str]]
SPLIT_NAMES = {"train": N_("train"), "val": N_("val"), "test": N_("test"), "all": N_("all")}


def split_name(split: str) -> str:
    """A split's name as the pages say it (train, val, test, all); another name as it is."""
    return _(SPLIT_NAMES[split]) if split in SPLIT_NAMES else split


def split_said(split: str) -> Message | str:
    """A split's name kept for translation where it is shown (in a task's title); another name as it is."""
    return Message(SPLIT_NAMES[split]) if split in SPLIT_NAMES else split


def rules(pairs: Sequence[tuple[str, str]]) -> Rules:
    """``(regular expression, N_ template)`` pairs, compiled; the expression must match the whole text."""
    return [(re.compile(pattern), template) for pattern, template in pairs]


def reword(text: str, said: Rules, names: Collection[str] = ()) -> Message | str:
    """``text`` as a Message of the first rule whose pattern matches all of it; group values that are in
    ``names`` (e.g. an attack's English title, itself a message) are translated too where it is shown."""
    for pattern, template in said:
        match = pattern.fullmatch(text)
        if match:
            values = {k: "" if v is None else Message(v) if v in names else v for k, v in match.groupdict().items()}
            return Message(template, **values)
    return text


def reworded(text: str, said: Rules, names: Collection[str] = ()) -> str:
    """``text`` reworded and said now, in this session's language (for a page's own words, not a task's)."""
    return error_text(reword(text, said, names))  # a Message translated, a plain text as it is


def relay(progress: Progress, said: Rules, names: Collection[str] = ()) -> Progress:
    """``progress`` hearing core's texts as Messages (safe in a background thread: nothing is looked up
    there, nothing is translated until a page shows it)."""
    def report(fraction: float, text: str) -> None:
        progress(fraction, reword(text, said, names))
    return report


def scoring_words() -> Rules:
    """How the pages say the evaluator's progress (``core.evaluate.evaluate``: "Scoring 32 of 120 images")."""
    return rules([(r"Scoring (?P<done>[\d,]+) of (?P<total>[\d,]+) images", N_("Scoring {done} of {total} images"))])

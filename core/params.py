"""Declared parameters: one :class:`Param` validates a value and drives the dashboard's widget for it.

Like the Adversarial Robustness Toolbox's ``attack_params`` / ``_check_params``: explanation methods,
attacks, defences and :class:`~core.train.config.TrainConfig`'s fields each list their parameters once
(name, type, default, range or choices, help); :meth:`Param.validate` converts a value or raises a
:class:`~core.errors.ParameterError` whose sentence names the parameter, and
``dashboard.widgets.param_widgets`` turns the same declarations into inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from core.errors import ParameterError


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, allowed values, and a sentence saying what it does."""

    name: str
    type: type  # int, float, bool or str
    default: Any
    help: str = ""
    min: float | None = None  # bounds for int / float
    max: float | None = None
    choices: tuple[str, ...] | None = None  # allowed values for str
    label: str | None = None  # widget label; default: the name with spaces
    unit: str = ""  # e.g. "pixels" (0..255 levels), said after the range in errors
    step: float | None = None  # widget step (dashboard hint)
    min_inclusive: bool = True  # False: the value must be strictly above ``min``
    max_inclusive: bool = True  # False: the value must be strictly below ``max``
    optional: bool = False  # None is allowed and means "automatic" (the help says how)

    def validate(self, value: Any) -> Any:
        """``value`` converted to :attr:`type`, or a :class:`ParameterError` naming the parameter."""
        if value is None:
            if self.optional:
                return None
            raise ParameterError(f"{self.name} needs a value{f' ({self.help})' if self.help else ''}.")
        if self.type is bool:
            if isinstance(value, bool) or isinstance(value, np.bool_):
                return bool(value)
            raise ParameterError(f"{self.name} must be true or false, got {shown(value)}.")
        if self.type is str:
            if not isinstance(value, str):
                raise ParameterError(f"{self.name} must be text, got {shown(value)}.")
            if self.choices and value not in self.choices:
                raise ParameterError(f"{self.name} must be one of {', '.join(self.choices)}, got {shown(value)}.")
            return value
        return self._number(value)

    def _number(self, value: Any) -> int | float:
        kind = "a whole number" if self.type is int else "a finite number"
        number = _as_number(value)
        if number is None or (isinstance(number, float) and not math.isfinite(number)):
            raise ParameterError(f"{self.name} must be {kind}, got {shown(value)}.")
        if self.type is int and number != int(number):
            raise ParameterError(f"{self.name} must be a whole number, got {shown(value)}.")
        # int/float comparisons are exact in Python, even for an int too large to become a float
        too_low = self.min is not None and (number < self.min or (not self.min_inclusive and number == self.min))
        too_high = self.max is not None and (number > self.max or (not self.max_inclusive and number == self.max))
        if too_low or too_high:
            raise ParameterError(f"{self.name} must be {self.range_text(too_high)}, got {shown(value)}.")
        return int(number) if self.type is int else float(number)

    def range_text(self, too_high: bool = False) -> str:
        """The allowed range in words: "between 1 and 100 steps", "above 0 and at most 10", "at most 255".

        A value above the range hears only the upper bound when the lower one is inclusive."""
        fmt = _fmt_int if self.type is int else _fmt_float
        low = None if self.min is None else ("at least " if self.min_inclusive else "above ") + fmt(self.min)
        high = None if self.max is None else ("at most " if self.max_inclusive else "below ") + fmt(self.max)
        unit = f" {self.unit}" if self.unit else ""
        if low and high and self.min_inclusive and self.max_inclusive and not too_high:
            return f"between {fmt(self.min)} and {fmt(self.max)}{unit}"
        if high and (too_high and self.min_inclusive or not low):
            return high + unit
        return f"{low} and {high}{unit}" if high else f"{low}{unit}"

    @property
    def title(self) -> str:
        """The label a widget shows."""
        return self.label or self.name.replace("_", " ")

    def to_dict(self) -> dict:
        """A JSON-able description (what a slider or a ``--help`` needs)."""
        return {"name": self.name, "type": self.type.__name__, "default": self.default, "min": self.min,
                "max": self.max, "choices": list(self.choices) if self.choices else None, "help": self.help,
                "unit": self.unit, "min_inclusive": self.min_inclusive, "max_inclusive": self.max_inclusive,
                "optional": self.optional}


def validate_params(owner: str, specs: Iterable[Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``given``, each checked; an unknown name or a bad value raises ParameterError."""
    known = {p.name: p for p in specs}
    unknown = sorted(set(given) - set(known))
    if unknown:
        accepted = ", ".join(known) if known else "none"
        raise ParameterError(f"{owner} has no parameter {unknown[0]!r}; its parameters are: {accepted}.")
    return {name: p.validate(given[name] if name in given else p.default) for name, p in known.items()}


class Configurable:
    """Base for things built from declared parameters (attacks, defences): ``Thing(**params)`` checks them.

    Subclasses set ``name``, ``title`` and ``params``; they extend :meth:`_check_params` for
    rules involving several parameters and must call ``super()._check_params()`` first.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.values: dict[str, Any] = dict(params)
        self._check_params()

    def _check_params(self) -> None:
        self.values = validate_params(self.name, self.params, self.values)

    @classmethod
    def describe(cls) -> dict:
        """Name, title and parameter declarations, JSON-able."""
        return {"name": cls.name, "title": cls.title, "params": [p.to_dict() for p in cls.params]}

    def key(self) -> tuple:
        """A hashable identity: the class name and every parameter value."""
        return (self.name, *sorted(self.values.items()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args})"


# -- dataclass fields that declare their Param ---------------------------------------------------------------
def setting(default: Any, type: type, help: str = "", **declaration: Any) -> Any:
    """A dataclass field whose default and :class:`Param` are declared together (see :func:`declared`)."""
    return field(default=default, metadata={"param": {"type": type, "help": help, **declaration}})


def declared(cls: type) -> tuple[Param, ...]:
    """The :class:`Param` of every field of dataclass ``cls`` made with :func:`setting`, in field order."""
    return tuple(Param(f.name, default=None if f.default is MISSING else f.default, **f.metadata["param"])
                 for f in fields(cls) if "param" in f.metadata)


# -- formatting ------------------------------------------------------------------------------------------------
def shown(value: Any) -> str:
    """A value for an error sentence: numbers of 500 digits (JSON allows them) are cut short."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, (bool, str, bytes)) or isinstance(value, np.bool_):
        return None
    if isinstance(value, int):
        return value  # kept exact: float(10**500) overflows
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _fmt_int(bound: float) -> str:
    return f"{int(bound):,}"  # 2,147,483,647 rather than 2.14748e+09


def _fmt_float(bound: float) -> str:
    return f"{bound:g}"

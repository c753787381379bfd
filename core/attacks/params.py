"""Declared, validated parameters (like ART's ``attack_params`` and ``_check_params``).

An attack or a defence lists its parameters once as :class:`Param` entries; the same declaration
validates values (a nonsense value raises :class:`~core.errors.ParameterError` naming the parameter)
and drives the dashboard's sliders (:meth:`Param.to_dict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import ParameterError


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, allowed range, and a sentence saying what it does."""

    name: str
    type: type  # int, float or bool
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    unit: str = ""  # e.g. "pixels" (0..255 levels), "steps"
    min_inclusive: bool = True  # False: the value must be strictly above ``min``
    optional: bool = False  # None is allowed and means "automatic" (the help says how)

    def check(self, value: Any) -> Any:
        """Return ``value`` converted to :attr:`type`, or raise ParameterError naming the parameter."""
        if value is None:
            if self.optional:
                return None
            raise ParameterError(f"{self.name} needs a value ({self.help}).")
        if self.type is bool:
            if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype == bool):
                return bool(value)
            raise ParameterError(f"{self.name} must be true or false, got {value!r}.")
        try:
            if isinstance(value, (bool, str)):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name} must be a number, got {value!r}.") from None
        if not math.isfinite(number):
            raise ParameterError(f"{self.name} must be a finite number, got {value!r}.")
        if self.type is int and number != int(number):
            raise ParameterError(f"{self.name} must be a whole number, got {value!r}.")
        unit = f" {self.unit}" if self.unit else ""
        fmt = _fmt_int if self.type is int else _fmt_float
        if self.min is not None and (number < self.min or (not self.min_inclusive and number == self.min)):
            if self.max is not None and self.min_inclusive:
                raise ParameterError(f"{self.name} must be between {fmt(self.min)} and {fmt(self.max)}{unit}, "
                                     f"got {value!r}.")
            word = "at least" if self.min_inclusive else "more than"
            raise ParameterError(f"{self.name} must be {word} {fmt(self.min)}{unit}, got {value!r}.")
        if self.max is not None and number > self.max:
            raise ParameterError(f"{self.name} must be at most {fmt(self.max)}{unit}, got {value!r}.")
        return int(number) if self.type is int else number

    def to_dict(self) -> dict:
        """A JSON-able description (what a slider or a ``--help`` needs)."""
        return {"name": self.name, "type": self.type.__name__, "default": self.default, "min": self.min,
                "max": self.max, "min_inclusive": self.min_inclusive, "optional": self.optional,
                "unit": self.unit, "help": self.help}


class Configurable:
    """Base for things built from declared parameters: ``Thing(**params)`` validates them.

    Subclasses set ``name``, ``title`` and ``params_spec``; they extend :meth:`_check_params` for
    rules involving several parameters and must call ``super()._check_params()`` first.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    params_spec: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        known = {p.name for p in self.params_spec}
        for key in params:
            if key not in known:
                names = ", ".join(sorted(known)) or "none"
                raise ParameterError(f"{self.name} has no parameter {key!r}; its parameters are: {names}.")
        self.params: dict[str, Any] = {p.name: params.get(p.name, p.default) for p in self.params_spec}
        self._check_params()

    def _check_params(self) -> None:
        for p in self.params_spec:
            self.params[p.name] = p.check(self.params[p.name])

    @classmethod
    def describe(cls) -> dict:
        """Name, title and parameter declarations, JSON-able (drives the dashboard's widgets)."""
        return {"name": cls.name, "title": cls.title, "params": [p.to_dict() for p in cls.params_spec]}

    def key(self) -> tuple:
        """A hashable identity: the class name and every parameter value."""
        return (self.name, *sorted(self.params.items()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _fmt_int(bound: float) -> str:
    return f"{int(bound):,}"  # 2,147,483,647 rather than 2.14748e+09


def _fmt_float(bound: float) -> str:
    return f"{bound:g}"

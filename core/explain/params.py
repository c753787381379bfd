"""Declared parameters of an explanation method: one spec drives validation and the dashboard's widgets.

Like the Adversarial Robustness Toolbox's ``attack_params``, each method lists its parameters once
(name, type, default, range, help); :func:`validate_params` fills defaults and rejects nonsense with a
:class:`ParameterError` naming the parameter, and the dashboard turns the same specs into sliders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ParameterError


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # int, float, bool or str
    default: Any
    help: str
    min: float | None = None  # inclusive bounds for int / float
    max: float | None = None
    choices: tuple[str, ...] | None = None  # allowed values for str
    step: float | None = None  # slider step for float (dashboard hint)
    label: str | None = None  # widget label; defaults to the name with spaces

    def validate(self, value: Any) -> Any:
        """``value`` converted to :attr:`type`, or a :class:`ParameterError` naming the parameter."""
        if self.type is bool:
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise ParameterError(f"Parameter {self.name!r} must be true or false, got {value!r}.")
            return bool(value)
        if self.type is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                allowed = f" (one of {', '.join(self.choices)})" if self.choices else ""
                raise ParameterError(f"Parameter {self.name!r} must be a string{allowed}, got {value!r}.")
            return value
        return self._number(value)

    def _number(self, value: Any) -> int | float:
        kind = "a whole number" if self.type is int else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise ParameterError(f"Parameter {self.name!r} must be {kind}, got {value!r}.")
        number = float(value)
        if not math.isfinite(number) or (self.type is int and number != int(number)):
            raise ParameterError(f"Parameter {self.name!r} must be {kind}, got {value!r}.")
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        if not lo <= number <= hi:
            raise ParameterError(f"Parameter {self.name!r} must be between {lo:g} and {hi:g}, got {value!r}.")
        return int(number) if self.type is int else number

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type.__name__, "default": self.default, "min": self.min,
                "max": self.max, "choices": list(self.choices) if self.choices else None, "help": self.help}


def validate_params(method: str, specs: tuple[Param, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``given``; unknown names and bad values raise :class:`ParameterError`."""
    known = {p.name: p for p in specs}
    unknown = sorted(set(given) - set(known))
    if unknown:
        accepted = ", ".join(known) if known else "none"
        raise ParameterError(
            f"Method {method!r} has no parameter {unknown[0]!r} (its parameters: {accepted}).")
    return {name: p.validate(given[name]) if name in given else p.default for name, p in known.items()}

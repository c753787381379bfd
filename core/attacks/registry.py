"""Attacks and defences registered once by name (like timm's ``register_model``).

The dashboard's pickers and the CLI read these registries, so adding an attack or a defence never
touches UI code. An unknown name raises :class:`~core.errors.UnknownNameError` listing the known ones.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Generic, TypeVar

from core.attacks.params import Configurable
from core.errors import unknown_name

T = TypeVar("T", bound=type[Configurable])


class Registry(Generic[T]):
    """Classes by their ``name`` attribute."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator: add ``cls`` under ``cls.name`` (twice is a bug)."""
        if not cls.name or cls.name in self._classes:
            raise ValueError(f"{self.kind} {cls.name!r} has no name or is registered twice")
        self._classes[cls.name] = cls
        return cls

    def get(self, name: str) -> T:
        try:
            return self._classes[name]
        except KeyError:
            raise unknown_name(self.kind, name, list(self._classes)) from None

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._classes if fnmatch.fnmatch(n, pattern))


ATTACKS: Registry = Registry("attack")
DEFENCES: Registry = Registry("defence")

register_attack = ATTACKS.register
register_defence = DEFENCES.register


def get_attack(name: str) -> type:
    """The attack class registered as ``name`` (its ``describe()`` gives the parameter declarations)."""
    return ATTACKS.get(name)


def list_attacks(pattern: str = "*") -> list[str]:
    return ATTACKS.names(pattern)


def create_attack(name: str, **params: Any):
    """An attack instance with validated parameters, e.g. ``create_attack("pgd", eps=8, steps=20)``."""
    return get_attack(name)(**params)


def get_defence(name: str) -> type:
    return DEFENCES.get(name)


def list_defences(pattern: str = "*") -> list[str]:
    return DEFENCES.names(pattern)


def create_defence(name: str, **params: Any):
    """A defence instance with validated parameters, e.g. ``create_defence("jpeg", quality=50)``."""
    return get_defence(name)(**params)

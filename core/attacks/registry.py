"""Attacks and defences registered once by name, each in a :class:`core.registry.Registry` of classes.

The dashboard's pickers, the train form and the CLI read these registries, so adding an attack or a
defence never touches UI code. An unknown name raises :class:`~core.errors.UnknownNameError` listing
the known ones; ``create_*`` builds an instance whose parameters are checked by their declarations.
"""

from __future__ import annotations

from typing import Any, TypeVar

from core.params import Configurable
from core.registry import Registry

C = TypeVar("C", bound=type[Configurable])

ATTACKS: Registry[type[Configurable]] = Registry("attack")
DEFENCES: Registry[type[Configurable]] = Registry("defence")


def register_attack(cls: C) -> C:
    """Class decorator: register an attack under ``cls.name``."""
    return ATTACKS.register(cls.name)(cls)


def register_defence(cls: C) -> C:
    """Class decorator: register a defence under ``cls.name``."""
    return DEFENCES.register(cls.name)(cls)


def get_attack(name: str) -> type:
    """The attack class registered as ``name`` (its ``params`` holds the parameter declarations)."""
    return ATTACKS.get(name)


def list_attacks(pattern: str = "*") -> list[str]:
    """Attack names matching ``pattern``, sorted."""
    return sorted(ATTACKS.names(pattern))


def create_attack(name: str, **params: Any):
    """An attack instance with validated parameters, e.g. ``create_attack("pgd", eps=8, steps=20)``."""
    return ATTACKS.create(name, **params)


def get_defence(name: str) -> type:
    return DEFENCES.get(name)


def list_defences(pattern: str = "*") -> list[str]:
    """Defence names matching ``pattern``, sorted."""
    return sorted(DEFENCES.names(pattern))


def create_defence(name: str, **params: Any):
    """A defence instance with validated parameters, e.g. ``create_defence("jpeg", quality=50)``."""
    return DEFENCES.create(name, **params)

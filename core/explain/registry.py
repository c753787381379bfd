"""Explanation methods registered once by name in a :class:`core.registry.Registry`.

The dashboard's method picker and the CLI read this registry, so adding a method is one new module
with a ``@register_method`` class and never touches UI code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from core.registry import Registry

if TYPE_CHECKING:
    from core.explain.base import ExplanationMethod

M = TypeVar("M", bound="type[ExplanationMethod]")

# name -> the (stateless) method instance, in registration order; create() makes a fresh one
METHODS: Registry[ExplanationMethod] = Registry("explanation method", factory=lambda method: type(method)())


def register_method(cls: M) -> M:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    METHODS.register(cls.name)(cls())
    return cls


def get_method(name: str) -> ExplanationMethod:
    """The method registered as ``name``; an unknown name raises an error listing the known ones."""
    return METHODS.get(name)


def list_methods(pattern: str = "*") -> list[ExplanationMethod]:
    """Registered methods whose name matches the shell-style ``pattern``, in registration order."""
    return METHODS.entries(pattern)


def method_names(pattern: str = "*") -> list[str]:
    return METHODS.names(pattern)

"""Explanation methods registered once by name (like timm's ``register_model`` / ``create_model``).

The dashboard's method picker and the CLI read this registry, so adding a method is one new module
with a ``@register_method`` class and never touches UI code.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, TypeVar

from core.errors import unknown_name

if TYPE_CHECKING:
    from core.explain.base import ExplanationMethod

M = TypeVar("M", bound="type[ExplanationMethod]")

_METHODS: dict[str, ExplanationMethod] = {}  # name -> the (stateless) method instance, in order


def register_method(cls: M) -> M:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    name = cls.name
    existing = _METHODS.get(name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"Explanation method {name!r} is already registered by {type(existing).__name__}.")
    _METHODS[name] = cls()
    return cls


def get_method(name: str) -> ExplanationMethod:
    """The method registered as ``name``; an unknown name raises an error listing the known ones."""
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise unknown_name("explanation method", str(name), list(_METHODS)) from None


def list_methods(pattern: str = "*") -> list[ExplanationMethod]:
    """Registered methods whose name matches the shell-style ``pattern``, in registration order."""
    return [m for name, m in _METHODS.items() if fnmatch.fnmatchcase(name, pattern)]


def method_names() -> list[str]:
    return list(_METHODS)

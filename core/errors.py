"""Errors a user can act on.

Anything raised as a :class:`GlasswingError` carries one clear sentence meant for a person; the CLI
prints it to stderr and the dashboard shows it in place. Anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

E = TypeVar("E", bound="GlasswingError")


def _translated(value: Any, translate: Callable[[str], str]) -> Any:
    return value.translated(translate) if isinstance(value, (Message, GlasswingError)) else value


class Message:
    """A sentence kept as its template and values: ``str()`` is the English, :meth:`translated` another
    language's. A field may be a Message or an error itself (a reason inside a sentence)."""

    def __init__(self, template: str, **fields: Any) -> None:
        self.template, self.fields = template, fields

    def __str__(self) -> str:
        return self.template.format(**self.fields)

    def translated(self, translate: Callable[[str], str]) -> str:
        try:
            return translate(self.template).format(**{k: _translated(v, translate) for k, v in self.fields.items()})
        except (KeyError, IndexError, ValueError):  # a translation that lost a field: the English is still true
            return str(self)


class GlasswingError(Exception):
    """Base class for errors whose message is written for the user.

    Raised as ``ImageError.say(N_("{name}: the file is empty (0 bytes)."), name=name)``, an error keeps its
    sentence's template and values, so the dashboard can show it in the session's language
    (:meth:`translated`); raised with a plain message, it is shown as it is.
    """

    template: str | None = None
    fields: dict[str, Any] = {}

    @classmethod
    def say(cls: type[E], template: str, **fields: Any) -> E:
        error = cls(template.format(**fields))
        error.template, error.fields = template, fields
        return error

    def translated(self, translate: Callable[[str], str]) -> str:
        """The sentence with its template translated (the English sentence when there is none)."""
        if self.template is None:
            return str(self)
        return Message(self.template, **self.fields).translated(translate)


class ImageError(GlasswingError):
    """An image could not be read or is not acceptable (corrupt, too large, wrong format)."""


class ModelUnavailableError(GlasswingError):
    """A model's weights are missing and cannot be fetched (offline, checksum mismatch, ...)."""


class UnknownNameError(GlasswingError, KeyError):
    """A name looked up in a registry does not exist; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ParameterError(GlasswingError, ValueError):
    """A parameter has a nonsense value; the message names the parameter."""


class DataError(GlasswingError):
    """A dataset or archive is unusable (too few classes, hostile archive, ...)."""


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...]) -> UnknownNameError:
    """Build the error for an unknown registry name, listing the known ones."""
    return UnknownNameError(f"Unknown {kind} {name!r}. Known {kind}s: {', '.join(sorted(known))}.")

"""Errors a user can act on.

Anything raised as a :class:`GlasswingError` carries one clear sentence meant for a person; the CLI
prints it to stderr and the dashboard shows it in place. Anything else is a bug.
"""

from __future__ import annotations


class GlasswingError(Exception):
    """Base class for errors whose message is written for the user."""


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

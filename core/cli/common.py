"""Argument types shared by the sub-commands: they reject nonsense with the parameter's name."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.errors import ParameterError


def positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, got {value}")
        return value
    return parse


def non_negative_float(name: str, upper: float | None = None):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value >= 0 or value != value:
            raise argparse.ArgumentTypeError(f"{name} must be 0 or more, got {text}")
        if upper is not None and value > upper:
            raise argparse.ArgumentTypeError(f"{name} must be at most {upper:g}, got {text}")
        return value
    return parse


def shorten(text: object, limit: int = 80) -> str:
    """A user's value for a sentence: a 5000-character path is cut, not printed whole."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit - 20]}...({len(text)} characters)"


def check_out_folder(value: str | os.PathLike, option: str = "--out") -> Path:
    """``value`` as an output folder that is not a file (it may not exist yet), checked before any work.

    A name the system refuses (too long, a component that is a file) is one sentence, not an OSError.
    """
    out = Path(value)
    try:
        if out.exists() and not out.is_dir():
            raise ParameterError(f"{option} must be a folder, but {shorten(out)} is a file.")
    except OSError as exc:
        raise ParameterError(f"{option}: cannot use {shorten(out)} as a folder ({exc.strerror or exc}).") from None
    return out


def make_out_folder(out: Path, option: str = "--out") -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"{option}: cannot create the folder {shorten(out)} ({exc.strerror or exc}).") from None
    return out

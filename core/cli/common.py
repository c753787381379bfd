"""Argument types shared by the sub-commands: they reject nonsense with the parameter's name."""

from __future__ import annotations

import argparse


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

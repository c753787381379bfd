"""What the sub-commands share: argument types that reject nonsense with the parameter's name, output folders,
flags made from registered parameters, progress on the terminal."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from core.errors import ParameterError
from core.progress import Progress


def whole_number(name: str, minimum: int = 1):
    """An argparse type: a whole number of at least ``minimum``, else a sentence naming the flag."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < minimum:
            least = "0 or more" if minimum == 0 else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"{name} must be {least}, got {value}")
        return value
    return parse


def positive_int(name: str):
    return whole_number(name, 1)


def non_negative_float(name: str, upper: float | None = None, above_zero: bool = False):
    """An argparse type: a number of 0 or more (above 0 with ``above_zero``), at most ``upper``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value >= 0 or value != value:
            raise argparse.ArgumentTypeError(f"{name} must be 0 or more, got {text}")
        if above_zero and value == 0:
            raise argparse.ArgumentTypeError(f"{name} must be above 0, got {text}")
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


class ParamFlags:
    """Command-line flags made from the declared :class:`~core.params.Param` of every registered entry.

    ``ParamFlags("attack", {"fgsm": (eps,), "pgd": (eps, steps, ...)})`` adds ``--eps``, ``--steps``, ...
    once each (an entry registered later gets its flags with no CLI edit); :meth:`values` gives back the
    flags the user typed as the CHOSEN entry's parameters, checked by its own declaration, so ``--steps``
    with ``fgsm`` is one sentence listing fgsm's flags. ``prefix`` ("defence-", "method-") keeps the flags
    apart from a command's own (``--defence-quality``, ``--method-steps``).
    """

    def __init__(self, kind: str, declarations: dict[str, tuple], prefix: str = "") -> None:
        self.kind, self.prefix = kind, prefix
        self.declarations = {name: tuple(params) for name, params in declarations.items()}
        self._dest = f"{kind}_param__{prefix}"  # unique per kind: attack_param__eps, defence_param__defence-bits

    @classmethod
    def of(cls, registry, prefix: str = "") -> ParamFlags:
        """The flags of every entry of a :class:`core.registry.Registry` (each entry declares ``params``)."""
        return cls(registry.kind, {name: registry.get(name).params for name in registry}, prefix=prefix)

    def flag(self, param_name: str) -> str:
        return f"--{self.prefix}{param_name.replace('_', '-')}"

    def add_to(self, parser: argparse.ArgumentParser, title: str | None = None,
               required: tuple[str, ...] = ()) -> None:
        """One flag per parameter name over every entry; its help says which entries take it."""
        users: dict[str, list[str]] = {}
        first: dict[str, object] = {}
        for entry, params in self.declarations.items():
            for p in params:
                users.setdefault(p.name, []).append(entry)
                first.setdefault(p.name, p)
        group = parser.add_argument_group(title or f"{self.kind} parameters (each {self.kind} takes only its own)")
        for name, p in first.items():
            said = [p.help.rstrip(".")] if p.help else []
            if p.choices:
                said.append(f"one of {', '.join(p.choices)}")
            if name in required:
                said.append("required")
            elif p.default is not None:
                said.append(f"default {p.default}")
            help_text = f"{', '.join(users[name])}: {'; '.join(said)}".replace("%", "%%")
            dest = self._dest + name
            try:
                if p.type is bool:
                    group.add_argument(self.flag(name), dest=dest, action=argparse.BooleanOptionalAction,
                                       default=None, help=help_text)
                else:
                    group.add_argument(self.flag(name), dest=dest, metavar=p.type.__name__.upper(), default=None,
                                       required=name in required, help=help_text)
            except argparse.ArgumentError:  # a declaration's bug, not the user's: say whose and what to do
                raise ValueError(f"The parameter {name!r} of the {self.kind} {', '.join(users[name])} gives "
                                 f"{self.flag(name)}, which the command {parser.prog!r} already has: rename the "
                                 "parameter, or give this command's entry flags a prefix.") from None

    def values(self, args: argparse.Namespace, chosen: str | None) -> dict | None:
        """The flags given, as ``chosen``'s parameters converted and validated (:class:`ParameterError`)."""
        given = {key[len(self._dest):]: value for key, value in vars(args).items()
                 if key.startswith(self._dest) and value is not None}
        if chosen is None:  # e.g. --defence-quality without --defence
            if given:
                raise ParameterError(f"{self.flag(next(iter(given)))} needs a {self.kind} to apply to; "
                                     f"name one with --{self.kind}.")
            return None
        own = {p.name: p for p in self.declarations.get(chosen, ())}
        for name in given:
            if name not in own:
                if not own:
                    raise ParameterError(f"{self.flag(name)} is not a parameter of the {self.kind} {chosen}, "
                                         "which takes none.")
                raise ParameterError(f"{self.flag(name)} is not a parameter of the {self.kind} {chosen}; "
                                     f"its parameters are: {', '.join(self.flag(n) for n in own)}.")
        # Checked by the chosen entry's own declaration; its sentence names the flag the user typed.
        return {name: replace(own[name], name=self.flag(name)).validate(self._typed(own[name], value))
                for name, value in given.items()}

    def per_entry(self, args: argparse.Namespace, chosen: list[str]) -> dict[str, dict]:
        """For several chosen entries: each gets the flags its declaration has; a flag none has is refused."""
        given = [key for key, value in vars(args).items() if key.startswith(self._dest) and value is not None]
        for key in given:
            name = key[len(self._dest):]
            if not any(p.name == name for entry in chosen for p in self.declarations.get(entry, ())):
                if len(chosen) == 1:
                    self.values(args, chosen[0])  # the one-entry sentence listing its flags
                raise ParameterError(f"{self.flag(name)} is not a parameter of any of the {self.kind}s "
                                     f"{', '.join(chosen)}.")
        out = {}
        for entry in chosen:
            names = {p.name for p in self.declarations.get(entry, ())}
            mine = argparse.Namespace(**{k: v for k, v in vars(args).items()
                                         if not k.startswith(self._dest) or k[len(self._dest):] in names})
            out[entry] = self.values(mine, entry)
        return out

    def _typed(self, param, text):
        """The flag's text as the parameter's type (range and choices are ``validate``'s)."""
        if param.type not in (int, float) or not isinstance(text, str):
            return text
        for kind in (int, float):  # int first: 10**30 stays exact; "2.5" for an int is validate's sentence
            try:
                return kind(text)
            except ValueError:
                pass
        kind = "a whole number" if param.type is int else "a number"
        raise ParameterError(f"{self.flag(param.name)} must be {kind}, got {shorten(text)!r}.")


def terminal_progress() -> Progress | None:
    """Core's ``progress(fraction, text)`` on one line of stderr when it is a terminal (None otherwise)."""
    if not sys.stderr.isatty():
        return None

    def show(fraction: float, text: str) -> None:
        sys.stderr.write(f"\r{text}")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show

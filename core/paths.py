"""Confinement of paths to their own folder: the one check before anything is deleted, renamed or read
on a user's say-so.

A path is *inside* a root when it names the same file with and without following symbolic links, and
that file lies under the root (itself resolved). So ``root/../elsewhere``, ``root/link-to-elsewhere``
and ``root/sub/link/...`` are all outside, whatever they point at.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import GlasswingError


class OutsideRootError(GlasswingError):
    """A path given to an operation leads outside the folder that operation may touch."""


def _lexical(path: str | os.PathLike) -> Path:
    """Absolute and normalised (``..`` folded) without following any link."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when ``path`` lies under ``root`` and reaches it through real folders only (no symlinks)."""
    real_root = Path(os.path.realpath(root))
    lexical = _lexical(path)
    real = Path(os.path.realpath(lexical))
    if real == real_root or not real.is_relative_to(real_root):
        return False
    # The lexical path, rebased on the resolved root, must be the real path: any link on the way (or
    # a '..' that climbed out and back) makes them differ.
    lexical_root = _lexical(root)
    for base in {lexical_root, real_root}:
        if lexical.is_relative_to(base) and real_root / lexical.relative_to(base) == real:
            return not os.path.islink(lexical)
    return False


def child_folder(root: str | os.PathLike, path: str | os.PathLike, what: str) -> Path:
    """``path`` as a real folder directly inside ``root`` (resolved); raises OutsideRootError otherwise.

    ``what`` names the thing for the message, e.g. ``"run"``.
    """
    real_root = Path(os.path.realpath(root))
    lexical = _lexical(path)
    if os.path.islink(lexical):
        raise OutsideRootError(f"{path} is a symbolic link, not a {what} folder; only real folders inside "
                               f"{real_root} are {what}s.")
    if not is_inside(lexical, real_root) or Path(os.path.realpath(lexical)).parent != real_root:
        raise OutsideRootError(f"{path} is not a {what} inside {real_root}; only folders directly inside "
                               "it are, so nothing elsewhere is touched.")
    return Path(os.path.realpath(lexical))


def file_inside(root: str | os.PathLike, relative: str, what: str) -> Path:
    """``root/relative`` when ``relative`` is a relative path that stays inside ``root`` through real
    folders; raises OutsideRootError for absolute paths, ``..`` and links that lead out."""
    text = str(relative)
    if not text or os.path.isabs(text) or Path(text).drive:
        raise OutsideRootError(f"{what} names {text!r}, which is not a path inside {root}.")
    candidate = Path(root) / text
    if not is_inside(candidate, root):
        raise OutsideRootError(f"{what} names {text!r}, which leads outside {root}; refusing to read it.")
    return candidate

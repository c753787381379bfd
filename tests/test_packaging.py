"""pyproject.toml: the package installs with its dependencies and a ``glasswing`` command."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_declares_python_dependencies_and_the_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = project["project"]
    assert meta["requires-python"] == ">=3.11"  # tomllib (classroom files) needs 3.11
    assert sys.version_info >= (3, 11)
    assert "dependencies" in meta["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]
    module, func = meta["scripts"]["glasswing"].split(":")
    assert callable(getattr(importlib.import_module(module), func))

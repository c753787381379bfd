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


def test_no_page_imports_another_pages_parts():
    """A page's files are dashboard/views/<page>.py and <page>_*.py; what two pages share is a component or a
    service, and links go through dashboard.navigation."""
    import ast

    from dashboard.navigation import SPECS

    pages = {spec.module for spec in SPECS}
    views = Path(__file__).resolve().parent.parent / "dashboard" / "views"

    def page_of(module: str) -> str | None:
        return next((p for p in pages if module == p or module.startswith(p + "_")), None)

    crossing = []
    for path in sorted(views.glob("*.py")):
        own = page_of(path.stem)
        assert own is not None, f"{path.name} belongs to no page: move it to dashboard/components or services"
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names]
                                         if node.module == "dashboard.views" else [])
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("dashboard.views."):
                    other = page_of(name.split(".")[2])
                    if other != own:
                        crossing.append(f"{path.name} imports {name}")
    assert not crossing, crossing

"""The command line: one module per sub-command, each with ``add_parser`` and ``run``.

Errors meant for the user (:class:`~core.errors.GlasswingError`) are printed to stderr as one
sentence with exit code 2. Anything else is a bug: as a last resort it is printed as one sentence
asking for a report, with exit code 70 (``GLASSWING_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from core.errors import GlasswingError

# Sub-command name -> module under core.cli. Adding a command means adding a module and a line here.
COMMANDS = {
    "models": "core.cli.models_cmd",
    "predict": "core.cli.predict_cmd",
    "explain": "core.cli.explain_cmd",
    "data": "core.cli.data_cmd",
    "train": "core.cli.train_cmd",
    "runs": "core.cli.runs_cmd",
    "evaluate": "core.cli.evaluate_cmd",
    "compare": "core.cli.compare_cmd",
    "attack": "core.cli.attack_cmd",
    "trust": "core.cli.trust_cmd",
    "compress": "core.cli.compress_cmd",
    "worker": "core.cli.worker_cmd",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence, exit 2, like GlasswingError
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen sub-command (the first word of ``argv`` naming one) gets the flags its
    module derives from a registry (``add_entry_flags``), so ``--help``, ``runs`` and ``data`` never
    import TensorFlow to list attacks or methods."""
    chosen = next((word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")), None)
    parser = _Parser(prog="python -m core", description="Glasswing: see what an image classifier sees.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command not built yet
            raise
        module.add_parser(sub)
        if name == chosen and hasattr(module, "add_entry_flags"):
            module.add_entry_flags(sub.choices[name])
    return parser


def emit_json(obj: Any) -> None:
    """Print a JSON document on stdout (the last thing a ``--json`` command prints)."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except GlasswingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one sentence for the user, the traceback on request
        if os.environ.get("GLASSWING_DEBUG"):
            raise
        detail = " ".join(str(exc).split())[:300]
        print(f"error: unexpected {type(exc).__name__}{': ' + detail if detail else ''} - this is a bug in "
              "Glasswing; please report it with the command you ran (GLASSWING_DEBUG=1 shows the traceback).",
              file=sys.stderr)
        return 70

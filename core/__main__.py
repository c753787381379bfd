"""``python -m core``: the Glasswing command line."""

from core.cli import main

raise SystemExit(main())

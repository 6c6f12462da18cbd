"""``python -m fastcheck``: the command line."""

from fastcheck.app.cli import main

raise SystemExit(main())

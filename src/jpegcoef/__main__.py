"""``python -m jpegcoef``: the command line."""

from .cli import main

raise SystemExit(main())

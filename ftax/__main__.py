"""Run the ftax command line as `python -m ftax`."""
from __future__ import annotations

from ftax.cli import main

raise SystemExit(main())

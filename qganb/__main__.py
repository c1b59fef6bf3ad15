"""Allows `python -m qganb`."""

from qganb.cli import main

raise SystemExit(main())

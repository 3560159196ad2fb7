"""The ``anchor`` command line."""

from anchor.cli.main import main

__all__ = ["main"]

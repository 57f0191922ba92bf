"""The `popflow` command line."""

from services.cli.main import app, main

__all__ = ["app", "main"]

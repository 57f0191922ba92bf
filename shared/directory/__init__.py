"""The national division directory (provinces, cities, districts, streets) and its changes."""

from shared.directory.changes import CodeStatus, DivisionChanges, Resolution, load_changes
from shared.directory.divisions import DivisionDirectory, DivisionLevel, load_directory

__all__ = [
    "CodeStatus",
    "DivisionChanges",
    "DivisionDirectory",
    "DivisionLevel",
    "Resolution",
    "load_changes",
    "load_directory",
]

"""The national division directory (provinces, cities, districts, streets)."""

from shared.directory.divisions import DivisionDirectory, DivisionLevel, load_directory

__all__ = ["DivisionDirectory", "DivisionLevel", "load_directory"]

"""Spreadsheet cells that cannot run: every XLSX and CSV PopFlow writes goes through `neutralised`."""

from __future__ import annotations

from typing import TypeVar

# A text cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CellT = TypeVar("CellT")


def neutralised(value: CellT) -> CellT:
    """Text that a spreadsheet would run as a formula, made plain text by a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # type: ignore[return-value]
    return value

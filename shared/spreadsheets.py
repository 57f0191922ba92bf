"""Spreadsheet cells that cannot run: every XLSX and CSV PopFlow writes goes through `neutralised`.
And what a clerk is told of a workbook PopFlow cannot read."""

from __future__ import annotations

from typing import TypeVar

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# A text cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CellT = TypeVar("CellT")

# openpyxl reads a sheet as it is iterated (read-only mode): a damaged one fails there, not when it opens
DAMAGED_SHEET = (
    "the workbook's sheet cannot be read (a damaged file, or a character a workbook cannot hold); "
    "open it in Excel or WPS and save it again"
)


def neutralised(value: CellT) -> CellT:
    """Text that a spreadsheet would run as a formula, made plain text by a leading apostrophe; and control
    characters a workbook cannot hold (XML forbids them: openpyxl refuses the whole file) written as spaces."""
    if not isinstance(value, str):
        return value
    text: str = ILLEGAL_CHARACTERS_RE.sub(" ", value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text  # type: ignore[return-value]

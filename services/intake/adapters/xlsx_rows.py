"""The rows of an XLSX bulk file's first sheet, numbered as the sheet numbers them, read with intake's bounds.

The reading is `shared.sheet_rows` (reporting's register uploads read the same way): openpyxl's public
reader dropped without a word a row numbered at or below the row before it and the first of two cells with
the same reference, so such a sheet is refused whole. Here only intake's bounds and its FileProblem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from services.intake.adapters.bulk_limits import MAX_COLUMNS, FileProblem
from shared.sheet_rows import LAST_SHEET_ROW, NotAWorkbook, SheetBounds, SheetRowsProblem, sheet_rows

MAX_XLSX_UNPACKED = 1 << 30
MAX_XLSX_RATIO = 200  # ordinary sheets compress 5-20 times; hundreds of times is a bomb
MAX_SHEET_ROWS = LAST_SHEET_ROW


def xlsx_cells(file: IO[bytes]) -> Iterator[list[Any]]:
    """The first sheet's rows from row 1, MAX_COLUMNS cells each: a row the sheet skips comes as an empty one,
    so that the n-th row is the sheet's row n."""
    bounds = SheetBounds(columns=MAX_COLUMNS, unpacked=MAX_XLSX_UNPACKED, ratio=MAX_XLSX_RATIO, rows=MAX_SHEET_ROWS)
    try:
        yield from sheet_rows(file, bounds)
    except NotAWorkbook as problem:
        raise FileProblem("the body is not an XLSX workbook") from problem
    except SheetRowsProblem as problem:
        raise FileProblem(str(problem)) from problem

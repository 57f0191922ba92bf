"""The rows of an XLSX workbook's first sheet, numbered as the sheet numbers them, or the reason it cannot be read.

openpyxl's public reader (`ReadOnlyWorksheet.iter_rows`) drops without a word a row numbered at or below
the row before it, keeps only the last of two cells with the same reference, and stops at the row its
`<dimension>` element names, which some writers leave stale: a list from a hand-made or buggy exporter lost
rows while the reader said it had read them all. The sheet is therefore read with the parser that reader is
built on (`WorkSheetParser`, private to openpyxl; openpyxl is pinned, ==3.1.5 in pyproject.toml, so that it
stays as read here), `<dimension>` is never consulted, and a sheet whose rows or cells would be dropped is
refused whole. Intake's bulk import and reporting's register uploads both read their workbooks here, each
with its own bounds and its own error type.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._reader import WorkSheetParser

from shared.spreadsheets import DAMAGED_SHEET

LAST_SHEET_ROW = 1_048_576  # the last row a sheet may have (the format's limit, and Excel's)
# a sheet's XML that does not parse (SyntaxError: ElementTree's and lxml's parse errors), a member whose
# data fails its CRC or inflation, a cell openpyxl cannot convert, a cell naming a shared text past the
# workbook's last (IndexError)
# zipfile raises NotImplementedError for a member packed by a method it lacks (Deflate64) and RuntimeError for an
# encrypted one: a workbook it cannot read, not our fault
UNREADABLE_SHEET = (
    SyntaxError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    NotImplementedError,
    RuntimeError,
)
SAVE_AGAIN = "open it in a spreadsheet program and save it again"


class SheetRowsProblem(ValueError):
    """The workbook cannot be read as a whole; the message tells a clerk why, naming rows and columns, never a
    cell's value."""


class NotAWorkbook(SheetRowsProblem):
    """The file is no XLSX workbook at all: apart, so that a service can say what it was sent (a body, a file)."""


@dataclass(frozen=True)
class SheetBounds:
    """What a reader takes from a workbook; everything past it is refused, never silently left out."""

    columns: int  # the cells of a row read; a value further right refuses the sheet
    unpacked: int  # bytes the workbook may unpack to (a zip bomb declares gigabytes in kilobytes)
    ratio: int | None = None  # times a member may be compressed (ordinary sheets: 5-20); None: not checked
    rows: int = LAST_SHEET_ROW  # the last row number a sheet may use


def sheet_rows(file: IO[bytes], bounds: SheetBounds) -> Iterator[list[Any]]:
    """The first sheet's rows from row 1, `bounds.columns` values each: a row the sheet skips comes as an empty
    one, so that the n-th row is the sheet's row n. SheetRowsProblem for anything that keeps it from being
    read whole; the zip's sizes are checked before anything is parsed."""
    workbook = _opened(file, bounds)
    try:
        if not workbook.worksheets:
            raise SheetRowsProblem("the workbook has no sheet")
        yield from _parsed_rows(workbook, workbook.worksheets[0], bounds)
    except SheetRowsProblem:
        raise
    except UNREADABLE_SHEET as error:
        raise SheetRowsProblem(DAMAGED_SHEET) from error
    finally:
        workbook.close()


def _opened(file: IO[bytes], bounds: SheetBounds) -> Any:
    file.seek(0)
    try:
        _check_unpacked(file, bounds)
        file.seek(0)
        return load_workbook(file, read_only=True, data_only=True)
    except SheetRowsProblem:  # a ValueError, as UNREADABLE_SHEET's
        raise
    except (*UNREADABLE_SHEET, OSError) as error:  # a workbook's XML that does not parse is a SyntaxError
        raise NotAWorkbook("the file is not an XLSX workbook") from error


def _parsed_rows(workbook: Any, sheet: Any, bounds: SheetBounds) -> Iterator[list[Any]]:
    """The sheet's rows as `ReadOnlyWorksheet._cells_by_row` reads them, refusing what it drops."""
    with workbook._archive.open(sheet._worksheet_path) as source:
        parser = WorkSheetParser(
            source,
            sheet._shared_strings,
            data_only=workbook.data_only,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        previous, columns = 0, bounds.columns
        for number, cells in parser.parse():
            _check_follows(number, previous, bounds.rows)
            for _ in range(previous + 1, number):
                yield [None] * columns
            yield _row_values(number, cells, columns)
            previous = number


def _check_follows(number: int, previous: int, last: int) -> None:
    """SheetRowsProblem unless row `number` may come after row `previous` (0 before the first row).

    Checked before the rows between are filled: a row numbered 10**11 kept the reader (and a thread of the
    service) filling empty rows for days."""
    if number > last:
        raise SheetRowsProblem(f"row {number} is numbered past {last}, the last row a sheet may have")
    if number < 1:
        raise SheetRowsProblem(f"a row is numbered {number}, but a sheet's rows are numbered from 1; {SAVE_AGAIN}")
    if number == previous:
        raise SheetRowsProblem(f"row {number} is in the sheet twice; {SAVE_AGAIN}")
    if number < previous:
        raise SheetRowsProblem(
            f"row {number} comes after row {previous}: the sheet's rows are out of order; {SAVE_AGAIN}"
        )


def _row_values(number: int, cells: list[dict[str, Any]], columns: int) -> list[Any]:
    """Row `number`'s values by column; SheetRowsProblem for a column given twice or a value past `columns`
    (cells past it are otherwise ignored: a styled but empty column)."""
    values: list[Any] = [None] * columns
    seen: set[int] = set()
    for cell in cells:
        column, value = cell["column"], cell["value"]
        if column in seen:
            letter = get_column_letter(column)
            raise SheetRowsProblem(f"row {number} has two cells in column {letter} ({letter}{number}); {SAVE_AGAIN}")
        seen.add(column)
        if column <= columns:
            values[column - 1] = value
        elif value is not None:
            raise SheetRowsProblem(f"row {number} has more than {columns} columns")
    return values


def _check_unpacked(file: IO[bytes], bounds: SheetBounds) -> None:
    """SheetRowsProblem when the workbook would unpack to more than the bounds allow.

    The sizes come from the zip's directory; zipfile stops reading a member at
    its declared size, so a member that lies about it fails its CRC check
    instead of unpacking further.
    """
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
    if sum(m.file_size for m in members) > bounds.unpacked:
        raise SheetRowsProblem(f"the workbook unpacks to more than {bounds.unpacked >> 20} MiB")
    ratio = bounds.ratio
    if ratio is not None and any(m.file_size > ratio * max(m.compress_size, 1024) for m in members):
        raise SheetRowsProblem("the workbook is compressed beyond what a spreadsheet can be (a zip bomb?)")

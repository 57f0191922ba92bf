"""The rows of an XLSX bulk file's first sheet, numbered as the sheet numbers them.

openpyxl's public reader (`ReadOnlyWorksheet.iter_rows`) drops without a word a row numbered at or below
the row before it, and keeps only the last of two cells with the same reference: a sheet from a hand-made
or buggy exporter lost people while the import counted "every" row. The sheet is therefore read with the
parser that reader is built on (`WorkSheetParser`, private to openpyxl; openpyxl is pinned, ==3.1.5 in
pyproject.toml, so that it stays as read here), and such a sheet is refused whole.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._reader import WorkSheetParser

from services.intake.adapters.bulk_limits import MAX_COLUMNS, FileProblem
from shared.spreadsheets import DAMAGED_SHEET

# XLSX is a zip: bound what it unpacks to (a zip bomb declares gigabytes in kilobytes) before parsing.
MAX_XLSX_UNPACKED = 1 << 30
MAX_XLSX_RATIO = 200  # ordinary sheets compress 5-20 times; hundreds of times is a bomb
MAX_SHEET_ROWS = 1_048_576  # the last row a sheet may have (the format's limit, and Excel's)
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


def xlsx_cells(file: IO[bytes]) -> Iterator[list[Any]]:
    """The first sheet's rows from row 1, MAX_COLUMNS cells each: a row the sheet skips comes as an empty one,
    so that the n-th row is the sheet's row n."""
    workbook = _opened(file)
    try:
        if not workbook.worksheets:
            raise FileProblem("the workbook has no sheet")
        yield from _sheet_rows(workbook, workbook.worksheets[0])
    except FileProblem:
        raise
    except UNREADABLE_SHEET as error:
        raise FileProblem(DAMAGED_SHEET) from error
    finally:
        workbook.close()


def _opened(file: IO[bytes]) -> Any:
    file.seek(0)
    try:
        _check_unpacked(file)
        file.seek(0)
        return load_workbook(file, read_only=True, data_only=True)
    except FileProblem:
        raise
    except (*UNREADABLE_SHEET, OSError) as error:  # a workbook's XML that does not parse is a SyntaxError
        raise FileProblem("the body is not an XLSX workbook") from error


def _sheet_rows(workbook: Any, sheet: Any) -> Iterator[list[Any]]:
    """The sheet's rows as `ReadOnlyWorksheet._cells_by_row` reads them, refusing what it drops.

    The sheet's <dimension> is not consulted: some writers leave it stale or minimal, and read-only mode
    stopped there, losing the rows past it."""
    with workbook._archive.open(sheet._worksheet_path) as source:
        parser = WorkSheetParser(
            source,
            sheet._shared_strings,
            data_only=workbook.data_only,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        previous = 0
        for number, cells in parser.parse():
            _check_follows(number, previous)
            for _ in range(previous + 1, number):
                yield [None] * MAX_COLUMNS
            yield _row_values(number, cells)
            previous = number


def _check_follows(number: int, previous: int) -> None:
    """FileProblem unless row `number` may come after row `previous` (0 before the first row).

    Checked before the rows between are filled: a row numbered 10**11 kept the reader (and a thread of the
    service) filling empty rows for days."""
    if number > MAX_SHEET_ROWS:
        raise FileProblem(f"row {number} is numbered past {MAX_SHEET_ROWS}, the last row a sheet may have")
    if number < 1:
        raise FileProblem(f"a row is numbered {number}, but a sheet's rows are numbered from 1; {SAVE_AGAIN}")
    if number == previous:
        raise FileProblem(f"row {number} is in the sheet twice; {SAVE_AGAIN}")
    if number < previous:
        raise FileProblem(f"row {number} comes after row {previous}: the sheet's rows are out of order; {SAVE_AGAIN}")


def _row_values(number: int, cells: list[dict[str, Any]]) -> list[Any]:
    """Row `number`'s values by column; FileProblem for a column given twice or a value past MAX_COLUMNS
    (cells past it are otherwise ignored: a styled but empty column)."""
    values: list[Any] = [None] * MAX_COLUMNS
    seen: set[int] = set()
    for cell in cells:
        column, value = cell["column"], cell["value"]
        if column in seen:
            letter = get_column_letter(column)
            raise FileProblem(f"row {number} has two cells in column {letter} ({letter}{number}); {SAVE_AGAIN}")
        seen.add(column)
        if column <= MAX_COLUMNS:
            values[column - 1] = value
        elif value is not None:
            raise FileProblem(f"row {number} has more than {MAX_COLUMNS} columns")
    return values


def _check_unpacked(file: IO[bytes]) -> None:
    """FileProblem when the workbook would unpack to more than the caps allow.

    The sizes come from the zip's directory; zipfile stops reading a member at
    its declared size, so a member that lies about it fails its CRC check
    instead of unpacking further.
    """
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
    if sum(m.file_size for m in members) > MAX_XLSX_UNPACKED:
        raise FileProblem(f"the workbook unpacks to more than {MAX_XLSX_UNPACKED >> 20} MiB")
    if any(m.file_size > MAX_XLSX_RATIO * max(m.compress_size, 1024) for m in members):
        raise FileProblem("the workbook is compressed beyond what a spreadsheet can be (a zip bomb?)")

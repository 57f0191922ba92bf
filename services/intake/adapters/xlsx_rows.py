"""The rows of an XLSX bulk file's first sheet, MAX_COLUMNS cells each, from the sheet's row 1."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

from openpyxl import load_workbook

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


def xlsx_cells(file: IO[bytes]) -> Iterator[list[Any]]:
    file.seek(0)
    try:
        _check_unpacked(file)
        file.seek(0)
        workbook = load_workbook(file, read_only=True, data_only=True)
    except FileProblem:
        raise
    except (*UNREADABLE_SHEET, OSError) as error:  # a workbook's XML that does not parse is a SyntaxError
        raise FileProblem("the body is not an XLSX workbook") from error
    try:
        if not workbook.worksheets:
            raise FileProblem("the workbook has no sheet")
        sheet = workbook.worksheets[0]
        # read-only mode stops at the sheet's declared <dimension>, which some writers leave stale or minimal: the
        # rows past it were lost without a word
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        for number, cells in enumerate(rows, start=1):
            # openpyxl fills the rows a sheet skips with empty ones, one at a time: a row numbered 10**11 kept
            # the reader (and a thread of the service) filling for days
            if number > MAX_SHEET_ROWS:
                raise FileProblem(f"a row is numbered past {MAX_SHEET_ROWS}, the last row a sheet may have")
            if len(cells) > MAX_COLUMNS and cells[MAX_COLUMNS] is not None:
                raise FileProblem(f"a row has more than {MAX_COLUMNS} columns")
            yield list(cells[:MAX_COLUMNS])
    except FileProblem:
        raise
    except UNREADABLE_SHEET as error:
        raise FileProblem(DAMAGED_SHEET) from error
    finally:
        workbook.close()


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

"""Reading a small register an office uploads as XLSX or CSV: rows of text under Chinese headers.

The header row is the first of the first few rows that holds the columns a
register needs, so a sheet with a title line above its headers reads as
well. CSV from Excel on a Chinese Windows is often GB18030 rather than UTF-8:
both are read. Everything is bounded (bytes, unpacked size, rows, columns,
cell length) before it is parsed; a problem never quotes a cell. An XLSX
sheet is read as intake's bulk files are (`shared.sheet_rows`): rows as the
sheet numbers them, whatever its <dimension> says, and a sheet whose rows go
backwards or that holds a row or a cell twice refused rather than read short.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from shared.sheet_rows import SheetBounds, SheetRowsProblem, sheet_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"text/csv": "csv", "application/csv": "csv", XLSX: "xlsx"}
MAX_BYTES = 2 << 20
MAX_ROWS = 500  # as many as a JSON body takes
MAX_LINES = 20 * MAX_ROWS  # blank lines included: a sheet of a million empty rows is not read to its end
MAX_COLUMNS = 30
MAX_CELL = 500
MAX_UNPACKED = 64 << 20
HEADER_SEARCH = 10  # rows above the header: a title, the street, a date line
XLSX_BOUNDS = SheetBounds(columns=MAX_COLUMNS, unpacked=MAX_UNPACKED)


class SheetProblem(ValueError):
    """The file cannot be read as a register; the message says why, without its content."""


class UnsupportedMedia(SheetProblem):
    """Neither CSV nor XLSX."""


Row = tuple[int, dict[str, str]]  # (line number in the file, {header: text})


def read_sheet(body: bytes, media_type: str, required: Sequence[str]) -> list[Row]:
    """Every non-empty row under the header row holding all of `required`."""
    kind = MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())
    if kind is None:
        raise UnsupportedMedia("send the register as CSV (text/csv) or XLSX")
    if len(body) > MAX_BYTES:
        raise SheetProblem(f"a register file may be at most {MAX_BYTES} bytes")
    lines = _xlsx_lines(body) if kind == "xlsx" else _csv_lines(body)
    return _rows(lines, required)


def _rows(lines: Iterable[list[str]], required: Sequence[str]) -> list[Row]:
    headers: list[str] | None = None
    rows: list[Row] = []
    for number, line in enumerate(lines, start=1):
        if number > MAX_LINES:
            raise SheetProblem(f"a register has at most {MAX_LINES} lines, blank ones included")
        cells = _without_trailing_blanks(line)
        if len(cells) > MAX_COLUMNS:
            raise SheetProblem(f"a register has at most {MAX_COLUMNS} columns")
        if any(len(cell) > MAX_CELL for cell in cells):
            raise SheetProblem(f"line {number} has a cell longer than {MAX_CELL} characters")
        if headers is None:
            if set(required) <= set(cells):
                headers = cells
            elif number >= HEADER_SEARCH:
                break
            continue
        if any(cells):
            rows.append((number, {h: cells[i] if i < len(cells) else "" for i, h in enumerate(headers) if h}))
        if len(rows) > MAX_ROWS:
            raise SheetProblem(f"a register has at most {MAX_ROWS} rows")
    if headers is None:
        raise SheetProblem("no header row with the columns " + "、".join(required) + " in the first lines")
    return rows


def _without_trailing_blanks(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _csv_lines(body: bytes) -> Iterator[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = body.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetProblem("the CSV is neither UTF-8 nor GB18030 text")
    try:
        for cells in csv.reader(io.StringIO(text, newline="")):
            yield [cell.strip() for cell in cells]
    except csv.Error as error:
        raise SheetProblem("the CSV cannot be read (a quote left open?)") from error


def _xlsx_lines(body: bytes) -> Iterator[list[str]]:
    try:
        for values in sheet_rows(io.BytesIO(body), XLSX_BOUNDS):
            yield [_text(value) for value in values]
    except SheetRowsProblem as problem:
        raise SheetProblem(str(problem)) from problem


def _text(value: Any) -> str:
    """A cell as the clerk typed it: codes typed as numbers keep their digits, dates are ISO days."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()

"""Reading the rows of a bulk file: a JSON array, NDJSON, CSV or XLSX (its sheet read in xlsx_rows).

Every reader is a generator over a (spooled, seekable) file, so memory stays
flat however many rows there are. A problem with the whole file (not JSON,
unknown columns, not a workbook) raises FileProblem; a problem with one row
(a line that is not JSON, a cell count that does not fit the header) comes
back as that row's problem, so the other rows still count.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

from services.intake.adapters.bulk_limits import MAX_COLUMNS
from services.intake.adapters.bulk_limits import FileProblem as FileProblem  # the name its callers import
from services.intake.adapters.xlsx_rows import xlsx_cells
from services.intake.domain.columns import (
    UnknownColumns,
    disagreeing_columns,
    identity_positions,
    identity_typed_as_number,
    map_headers,
    pointer_headers,
    repeated_fields,
    row_to_record,
)
from shared.json_depth import LONG_NUMBER, MAX_JSON_DEPTH, value_depth

CHUNK = 1 << 16
MAX_ELEMENT = 1 << 20  # a record is a few hundred bytes; a megabyte without one complete is not a record
MAX_LINE = MAX_ELEMENT  # NDJSON: one record per line, so the same bound per line (and per CSV line)
TOO_DEEP = f"is nested deeper than {MAX_JSON_DEPTH} levels; a record needs four"
# `popflow import` keeps a rejected row that is no record (a line that is not JSON) as {"_raw": its text}
RAW_TEXT = "_raw"
ONE_ARRAY = "one array of records: [ {...}, {...} ]"
STILL_RAW = f"is the text of a row that was not a record ({RAW_TEXT}): put the corrected record in its place"


class BulkFormat(StrEnum):
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    "application/json": BulkFormat.JSON,
    "application/x-ndjson": BulkFormat.NDJSON,
    "application/ndjson": BulkFormat.NDJSON,
    "application/jsonl": BulkFormat.NDJSON,
    "text/csv": BulkFormat.CSV,
    "application/csv": BulkFormat.CSV,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": BulkFormat.XLSX,
}


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # line in the file (CSV/XLSX: the header is line 1), element index from 1 for a JSON array
    record: Any = None
    problem: str | None = None
    text: str | None = None  # a JSON or NDJSON row with a problem: its text as read, to write back for correcting


@dataclass(frozen=True, slots=True)
class BulkFile:
    format: BulkFormat
    file: IO[bytes]
    encoding: str = "utf-8-sig"

    def rows(self) -> Iterator[Row]:
        return self._rows(records=True)

    def count(self, up_to: int) -> int:
        """Rows of the file, counted no further than `up_to` (a file over the cap is not read to its end).

        Raises the same FileProblems as `rows`; a table's cells are not made into records on this pass.
        """
        return sum(1 for _ in itertools.islice(self._rows(records=False), up_to))

    def _rows(self, *, records: bool) -> Iterator[Row]:
        self.file.seek(0)
        try:
            if self.format is BulkFormat.CSV:
                yield from _csv_rows(self, records)
            elif self.format is BulkFormat.XLSX:
                yield from _table_rows(enumerate(xlsx_cells(self.file), start=1), records)
            elif self.format is BulkFormat.NDJSON:
                yield from _ndjson_rows(self)
            else:
                yield from _json_array_rows(self)
        except UnicodeDecodeError as error:
            raise FileProblem("the file is not UTF-8 (or GB 18030) text") from error

    def headers(self) -> dict[str, str]:
        """JSON pointer → column header, for tabular files (empty otherwise): the first row that is not blank,
        as the rows are read (`_table_rows`)."""
        if self.format not in (BulkFormat.CSV, BulkFormat.XLSX):
            return {}
        header = next((cells for _, cells in table_lines(self) if not _blank(cells)), [])
        return pointer_headers(map_headers(header), header)

    def _text(self, encoding: str | None = None, newline: str | None = "") -> io.TextIOWrapper:
        self.file.seek(0)
        return io.TextIOWrapper(
            io.BufferedReader(_KeptOpen(self.file)), encoding=encoding or self.encoding, newline=newline
        )


class _KeptOpen(io.RawIOBase):
    """The spooled file seen through a text wrapper that must not close it (it is read twice)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_bulk(fmt: BulkFormat, file: IO[bytes]) -> BulkFile:
    """The file with its text encoding found: UTF-8 when it decodes as such, else GB 18030 (Excel's Chinese CSV)."""
    if fmt is not BulkFormat.CSV:
        return BulkFile(fmt, file)
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return BulkFile(fmt, file, encoding="gb18030")
    return BulkFile(fmt, file)


def _json_array_rows(bulk: BulkFile) -> Iterator[Row]:
    decoder = json.JSONDecoder()
    reader = codecs.getincrementaldecoder("utf-8-sig")()
    buffer, position, done = "", 0, False

    def more() -> bool:
        nonlocal buffer, position, done
        chunk = bulk.file.read(CHUNK)
        done = not chunk
        buffer = buffer[position:] + reader.decode(chunk, final=done)
        position = 0
        return not done

    def skip_space() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position].isspace():
                position += 1
            if position < len(buffer) or not more():
                return buffer[position] if position < len(buffer) else ""

    def end_of_array() -> None:
        """Nothing but spaces after the array's `]`: a second array (two files sent as one, `[...][...]`) or
        anything else there was left unread, its records neither stored nor answered."""
        nonlocal position
        position += 1
        if skip_space():
            raise FileProblem(f"the array is followed by more text (a second array?); {ONE_ARRAY}")

    if skip_space() != "[":
        raise FileProblem(f"a JSON bulk body must be {ONE_ARRAY}")
    position += 1
    number = 0
    if skip_space() == "]":
        end_of_array()
        return
    while True:
        skip_space()
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
            except RecursionError:
                raise FileProblem(f"element {number + 1} of the array {TOO_DEEP}") from None
            except json.JSONDecodeError:
                # More text may complete the element; past MAX_ELEMENT it is broken, not cut (and memory stays flat).
                if len(buffer) - position <= MAX_ELEMENT and more():
                    continue
                raise FileProblem(f"element {number + 1} of the array is not valid JSON") from None
            except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
                raise FileProblem(f"element {number + 1} of the array {LONG_NUMBER}") from None
            if end == len(buffer) and not done and more():
                continue  # a number may go on in the next chunk
            break
        number += 1
        yield _element(number, value, buffer[position:end])
        position = end
        separator = skip_space()
        if separator == "]":
            end_of_array()
            return
        position += 1
        if separator != ",":
            raise FileProblem(f"expected ',' or ']' after element {number} of the array")


def _element(number: int, value: Any, text: str) -> Row:
    if not isinstance(value, dict):
        return Row(number, problem="must be a JSON object", text=text)
    if value_depth(value) > MAX_JSON_DEPTH:
        return Row(number, problem=TOO_DEEP, text=text)
    if RAW_TEXT in value:  # imported again uncorrected: keep the first text, not this object around it
        raw = value[RAW_TEXT]
        return Row(number, problem=STILL_RAW, text=raw if isinstance(raw, str) else text)
    return Row(number, value)


def _ndjson_rows(bulk: BulkFile) -> Iterator[Row]:
    text, number = bulk._text("utf-8-sig", None), 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        cut = len(line) > MAX_LINE and not line.endswith("\n")  # a line of MAX_LINE comes whole, with its newline
        if cut or len(line.rstrip("\n")) > MAX_LINE:
            while cut and (rest := text.readline(CHUNK)) and not rest.endswith("\n"):
                pass  # skip the rest of the over-long line without holding it (not the next line)
            yield Row(number, problem=f"is longer than {MAX_LINE} characters; one record per line")
            continue
        if not line.strip():
            continue
        as_read = line.rstrip("\r\n")
        try:
            value = json.loads(line)
        except RecursionError:
            yield Row(number, problem=TOO_DEEP, text=as_read)
            continue
        except json.JSONDecodeError:
            yield Row(number, problem="this line is not valid JSON", text=as_read)
            continue
        except ValueError:  # an integer longer than Python converts
            yield Row(number, problem=f"this line {LONG_NUMBER}", text=as_read)
            continue
        yield _element(number, value, as_read)


def _csv_rows(bulk: BulkFile, records: bool) -> Iterator[Row]:
    try:
        yield from _table_rows(csv_lines(csv.reader(_csv_text(bulk))), records)
    except csv.Error as error:
        raise FileProblem(f"the CSV cannot be read: {error}") from None


def csv_lines(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    """Each CSV record with the line it starts on (a quoted cell may span lines); at most MAX_COLUMNS cells
    a record, as an XLSX row (a file of one endless line is not held as a list of cells)."""
    start = 1
    for cells in reader:
        if len(cells) > MAX_COLUMNS and any(cell.strip() for cell in cells[MAX_COLUMNS:]):
            raise FileProblem(f"line {start} has more than {MAX_COLUMNS} columns")
        yield start, cells[:MAX_COLUMNS]
        start = reader.line_num + 1


def _csv_text(bulk: BulkFile) -> Iterator[str]:
    """The CSV's lines for csv.reader, none longer than MAX_LINE characters besides its line ending.

    csv.reader holds a line's every cell before `csv_lines` can count them: a line of 200 MB of commas
    was 200 million cells, some 3 GB, for one request."""
    text = bulk._text()
    number = 0
    while line := text.readline(MAX_LINE + 2):
        number += 1
        if len(line.rstrip("\r\n")) > MAX_LINE:
            raise FileProblem(f"line {number} is longer than {MAX_LINE} characters")
        yield line


def table_lines(bulk: BulkFile) -> Iterator[tuple[int, list[Any]]]:
    """The raw cells of a CSV or XLSX file with their line numbers, the header included."""
    if bulk.format is BulkFormat.CSV:
        return csv_lines(csv.reader(_csv_text(bulk)))
    return enumerate(xlsx_cells(bulk.file), start=1)


def _table_rows(lines: Iterator[tuple[int, list[Any]]], records: bool = True) -> Iterator[Row]:
    """Rows after the header; with `records` False only counted (each Row without its record)."""
    header: list[Any] | None = None
    for number, cells in lines:
        if _blank(cells):
            continue
        if header is None:
            header = cells
            try:
                columns = map_headers(header)
                identity, repeated = identity_positions(columns), repeated_fields(columns)
            except UnknownColumns as error:  # its message names columns by position, never a cell's text
                raise FileProblem(f"{error}; see the documented column names") from None
            continue
        if len(cells) > len(header) and not _blank(cells[len(header) :]):
            yield Row(number, problem=f"has {len(cells)} cells but the header has {len(header)}")
            continue
        if records and (
            lost := identity_typed_as_number(identity, cells) or disagreeing_columns(repeated, columns, cells)
        ):
            yield Row(number, problem=lost)
            continue
        yield Row(number, row_to_record(columns, cells) if records else None)
    if header is None:
        raise FileProblem("the file has no header row")


def _blank(cells: list[Any]) -> bool:
    """No cell holds anything but spaces; a CSV's cells (all text) are checked in one join."""
    try:
        return not "".join(cells).strip()
    except TypeError:  # an XLSX row: numbers, dates, None
        return all(cell is None or str(cell).strip() == "" for cell in cells)

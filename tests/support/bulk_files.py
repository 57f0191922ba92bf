"""Bulk files of records in the four formats, with a chosen header style, for tests and benchmarks."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from typing import Any, Literal

from openpyxl import Workbook

from services.intake.domain.columns import COLUMNS, Column

Style = Literal["dotted", "flat", "chinese"]


def header_of(column: Column, style: Style) -> str:
    return {"dotted": column.dotted, "flat": column.flat, "chinese": column.chinese[0]}[style]


def flatten(record: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    cells = {}
    for column in COLUMNS:
        value: Any = record
        for part in column.path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            cells[column.path] = value
    return cells


def table(records: list[dict[str, Any]], style: Style) -> tuple[list[str], list[list[Any]]]:
    flat = [flatten(r) for r in records]
    used = [c for c in COLUMNS if any(c.path in f for f in flat)]
    return [header_of(c, style) for c in used], [[f.get(c.path, "") for c in used] for f in flat]


def csv_bytes(records: list[dict[str, Any]], style: Style = "chinese", encoding: str = "utf-8") -> bytes:
    header, rows = table(records, style)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def csv_lines(records: Iterable[dict[str, Any]], style: Style = "flat") -> Iterable[bytes]:
    """CSV bytes chunk by chunk, for large generated files (the header from the first record)."""
    iterator = iter(records)
    first = next(iterator)
    header = [c for c in COLUMNS if c.path in flatten(first)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header_of(c, style) for c in header])
    for record in (first, *iterator):
        cells = flatten(record)
        writer.writerow([cells.get(c.path, "") for c in header])
        if out.tell() > 1 << 16:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def xlsx_bytes(records: list[dict[str, Any]], style: Style = "flat") -> bytes:
    return workbook_bytes(*table(records, style))


def workbook_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    """A workbook whose first sheet holds `header` and then `rows`, cells as given (typed or text)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [header, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def json_bytes(records: list[Any]) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode()


def ndjson_bytes(records: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def broken_sheet(workbook: bytes, broken: Callable[[bytes], bytes]) -> bytes:
    """`workbook` with its zip sound and its first sheet's XML `broken(xml)` (checked to differ)."""
    original, patched = zipfile.ZipFile(io.BytesIO(workbook)), io.BytesIO()
    with zipfile.ZipFile(patched, "w") as out:
        for member in original.infolist():
            content = original.read(member.filename)
            if member.filename == "xl/worksheets/sheet1.xml":
                content, before = broken(content), content
                assert content != before, "the sheet was not broken"
            out.writestr(member, content)
    return patched.getvalue()


def row_element(xml: bytes, number: int) -> bytes:
    """Row `number` of a sheet's XML, its cells included."""
    found = re.search(rb'<row r="%d".*?</row>' % number, xml)
    assert found is not None
    return found.group(0)


def renumbered(xml: bytes, number: int, to: int) -> bytes:
    """Row `number` (the row and its cells' references) numbered `to`."""
    return re.sub(rb'(<row r="|<c r="[A-Z]+)%d"' % number, rb'\g<1>%d"' % to, xml)


def last_row_first(xml: bytes) -> bytes:
    """Row 4 of a sheet moved before row 2: the rows out of order, as a hand-made exporter may write them."""
    last = row_element(xml, 4)
    return xml.replace(last, b"").replace(b'<row r="2"', last + b'<row r="2"', 1)


def dimension_of(xml: bytes, ref: bytes) -> bytes:
    """The sheet's <dimension> set to `ref`: stale, as some writers leave it."""
    xml, replaced = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="' + ref + b'"/>', xml)
    assert replaced == 1
    return xml

"""Sheets to files: XLSX (openpyxl) and CSV (UTF-8 with a BOM, so Excel shows the Chinese).

Text that a spreadsheet would run as a formula (it starts with = + - @, a
tab or a carriage return: names, notes and addresses come from outside) is
written with a leading apostrophe, so it stays text (CSV/formula injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from services.reporting.domain.sheets import Sheet
from shared.files import whole_file
from shared.spreadsheets import neutralised

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def _cells(values: Iterable[Any]) -> list[Any]:
    return [neutralised(value) for value in values]


def header_row(sheet: Sheet) -> int:
    """1-based row of the column headers: after the title and the title lines."""
    return len(sheet.lines) + 2


def to_xlsx(sheet: Sheet) -> bytes:
    book = Workbook()
    page = book.active
    page.title = sheet.title[:31]
    page.append(_cells([sheet.title]))
    page.cell(row=1, column=1).font = Font(bold=True, size=14)
    page.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(sheet.headers))
    page.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    for line in sheet.lines:
        page.append(_cells([line]))
    page.append(_cells(sheet.headers))
    for cell in page[header_row(sheet)]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in sheet.rows:
        page.append(_cells(row))
    page.freeze_panes = page.cell(row=header_row(sheet) + 1, column=3)
    for column in ("A", "B"):
        page.column_dimensions[column].width = 14
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv(sheet: Sheet) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_cells([sheet.title]))
    for line in sheet.lines:
        writer.writerow(_cells([line]))
    writer.writerow(_cells(sheet.headers))
    writer.writerows(_cells(row) for row in sheet.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_whole(path: Path, content: bytes) -> None:
    """`content` at `path`, all or nothing (shared.files.whole_file): never half a workbook under the name."""
    with whole_file(path) as file:
        file.write(content)

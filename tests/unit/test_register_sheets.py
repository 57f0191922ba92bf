"""Registers uploaded as CSV or XLSX: the header row found under a title line, codes typed as numbers
kept, GB18030 CSV read, and every bound refused with a problem that quotes no cell. An XLSX sheet is read
row by row as it numbers them: rows out of order or a value past the last column refuse it, rows past a
stale <dimension> are read."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from openpyxl import Workbook

from services.reporting.adapters.sheet_files import (
    MAX_COLUMNS,
    MAX_ROWS,
    XLSX,
    SheetProblem,
    UnsupportedMedia,
    read_sheet,
)
from tests.support.bulk_files import broken_sheet, dimension_of, last_row_first, renumbered
from tests.support.records import TONGDE

REQUIRED = ("社区代码",)
NAMES = ("同德社区", "鹅掌坦社区", "西槎社区")


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_register_under_a_title_line_with_codes_typed_as_numbers() -> None:
    body = workbook(
        [
            ["同德街道社区责任人登记表"],
            ["社区代码", "社区名称", "责任人工号", "责任人"],
            [int(f"{TONGDE}001"), "同德社区", "T01", " 李四 "],
            [],
            [float(f"{TONGDE}002"), "鹅掌坦社区", None, None],
        ]
    )
    rows = read_sheet(body, XLSX, REQUIRED)
    assert rows == [
        (3, {"社区代码": f"{TONGDE}001", "社区名称": "同德社区", "责任人工号": "T01", "责任人": "李四"}),
        (5, {"社区代码": f"{TONGDE}002", "社区名称": "鹅掌坦社区", "责任人工号": "", "责任人": ""}),
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_a_csv_register_in_utf8_or_gb18030(encoding: str) -> None:
    body = f"社区代码,社区名称\r\n{TONGDE}001,同德社区\r\n".encode(encoding)
    assert read_sheet(body, "text/csv; charset=whatever", REQUIRED) == [
        (2, {"社区代码": f"{TONGDE}001", "社区名称": "同德社区"})
    ]


@pytest.mark.parametrize(
    ("body", "media_type", "problem"),
    [
        (b"x", "application/json", UnsupportedMedia),
        (b"PK\x03\x04 not really", XLSX, SheetProblem),
        ("名称\r\n同德\r\n".encode(), "text/csv", SheetProblem),  # no 社区代码 column
        ((",".join(["社区代码"] + [f"c{n}" for n in range(MAX_COLUMNS)]) + "\r\n").encode(), "text/csv", SheetProblem),
        (("社区代码\r\n" + "1\r\n" * (MAX_ROWS + 1)).encode(), "text/csv", SheetProblem),
        (("社区代码\r\n" + "x" * 501 + "\r\n").encode(), "text/csv", SheetProblem),
        (b"\xff\xfe\x00\xd8\x00", "text/csv", SheetProblem),
    ],
)
def test_what_is_not_a_register_is_refused_without_quoting_it(
    body: bytes, media_type: str, problem: type[SheetProblem]
) -> None:
    with pytest.raises(problem) as refused:
        read_sheet(body, media_type, REQUIRED)
    assert "xxxx" not in str(refused.value)
    assert "同德" not in str(refused.value)


@pytest.mark.parametrize(
    "broken",
    [
        lambda xml: xml.replace("同德".encode(), b"&#xD83D;", 1),  # a character XML cannot hold
        lambda xml: xml[: len(xml) // 2],  # a sheet cut short
    ],
    ids=["half-a-character", "cut-short"],
)
def test_a_workbook_whose_sheet_is_damaged_is_refused(broken: Callable[[bytes], bytes]) -> None:
    body = broken_sheet(workbook([["社区代码", "社区名称"], [f"{TONGDE}001", "同德社区"]]), broken)
    with pytest.raises(SheetProblem, match="save it again"):
        read_sheet(body, XLSX, REQUIRED)


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_parsing() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/huge.xml", b"\0" * (65 << 20))
    with pytest.raises(SheetProblem, match="unpacks"):
        read_sheet(buffer.getvalue(), XLSX, REQUIRED)


def three_communities() -> bytes:
    """A header (row 1) and three communities (rows 2 to 4)."""
    communities: list[list[object]] = [[f"{TONGDE}00{n}", name] for n, name in enumerate(NAMES, start=1)]
    return workbook([["社区代码", "社区名称"], *communities])


def refusal(body: bytes) -> str:
    with pytest.raises(SheetProblem) as refused:
        read_sheet(body, XLSX, REQUIRED)
    said = str(refused.value)
    assert not [name for name in NAMES if name in said]
    assert TONGDE not in said
    return said


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        (last_row_first, "row 2 comes after row 4: the sheet's rows are out of order; open it in a spreadsheet"),
        (lambda xml: renumbered(xml, 3, 2), "row 2 is in the sheet twice; open it in a spreadsheet"),
        (lambda xml: xml.replace(b'<c r="B2"', b'<c r="A2"'), "row 2 has two cells in column A (A2); open it"),
    ],
    ids=["out of order", "a row twice", "a cell twice"],
)
def test_an_xlsx_register_whose_rows_openpyxl_would_drop_is_refused(
    broken: Callable[[bytes], bytes], said: str
) -> None:
    """openpyxl's iter_rows dropped a row numbered at or below the one before it, and the first of two cells
    with one reference: a street's register lost communities while the upload answered 200."""
    assert refusal(broken_sheet(three_communities(), broken)).startswith(said)


def test_a_value_past_the_last_column_a_register_has_is_refused() -> None:
    """Only column 31 was looked at: a value further right (here column AP, the 42nd) was dropped silently."""
    far = b'<c r="AP3" t="inlineStr"><is><t>x</t></is></c></row><row r="4"'
    body = broken_sheet(three_communities(), lambda xml: xml.replace(b'</row><row r="4"', far))
    assert refusal(body) == f"row 3 has more than {MAX_COLUMNS} columns"


def test_every_row_of_an_xlsx_register_whose_dimension_undercounts_is_read() -> None:
    """openpyxl's read-only mode stops at the sheet's declared <dimension>: a writer that leaves it stale lost
    every community past it, and the upload answered 200."""
    body = broken_sheet(three_communities(), lambda xml: dimension_of(xml, b"A1:B2"))
    assert [(number, row["社区名称"]) for number, row in read_sheet(body, XLSX, REQUIRED)] == [
        (2, "同德社区"),
        (3, "鹅掌坦社区"),
        (4, "西槎社区"),
    ]


def test_rows_an_xlsx_register_skips_keep_the_line_numbers_of_the_rows_after_them() -> None:
    body = broken_sheet(three_communities(), lambda xml: renumbered(xml, 4, 7))
    assert [number for number, _ in read_sheet(body, XLSX, REQUIRED)] == [2, 3, 7]

"""Registers uploaded as CSV or XLSX: the header row found under a title line, codes typed as numbers
kept, GB18030 CSV read, and every bound refused with a problem that quotes no cell."""

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
from tests.support.bulk_files import broken_sheet
from tests.support.records import TONGDE

REQUIRED = ("社区代码",)


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

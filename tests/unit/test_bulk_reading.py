"""Reading bulk files: column names in three styles, lenient cells, streamed JSON, row and file problems."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import pytest

from services.intake.adapters import bulk_formats, xlsx_rows
from services.intake.adapters.bulk_formats import BulkFormat, FileProblem, open_bulk
from services.intake.domain.columns import UnknownColumns, map_headers, row_to_record
from tests.support.bulk_files import (
    broken_sheet,
    csv_bytes,
    dimension_of,
    json_bytes,
    ndjson_bytes,
    workbook_bytes,
    xlsx_bytes,
)
from tests.support.records import full_record, id_number


@pytest.mark.parametrize("header", ["person.id_number", "id_number", "身份证号", "身份证号码", " ID_NUMBER "])
def test_every_header_style_names_the_same_field(header: str) -> None:
    (column,) = map_headers([header])
    assert column is not None
    assert column.path == ("person", "id_number")


def test_unknown_headers_are_listed_and_error_columns_ignored() -> None:
    assert map_headers(["errors", "错误", ""]) == [None, None, None]
    with pytest.raises(UnknownColumns) as raised:
        map_headers(["姓名", "鞋码", "shoe_size"])
    assert raised.value.headers == ["鞋码", "shoe_size"]


def test_cells_are_read_as_a_clerk_writes_them() -> None:
    columns = map_headers(["性别", "婚姻状况", "发现时间", "流入时间", "查验日期", "身份证号", "社区"])
    cells = ["女", "已婚", datetime(2026, 2, 25, 10, 30), "2026/01/10", date(2026, 2, 25), 4.30102e17, "  "]
    assert row_to_record(columns, cells) == {
        "person": {"sex": "female", "id_number": "430102000000000000"},
        "marital_status": "married",
        "observed_at": "2026-02-25T10:30:00+08:00",
        "residence": {"arrived_on": "2026-01-10"},
        "certificate": {"checked_on": "2026-02-25"},
    }
    (observed,) = map_headers(["observed_at"])
    assert row_to_record([observed], ["2026-02-25 10:30"]) == {"observed_at": "2026-02-25T10:30:00+08:00"}
    assert row_to_record([observed], ["2026-02-25T02:30:00Z"]) == {"observed_at": "2026-02-25T02:30:00+00:00"}


@pytest.mark.parametrize(
    ("written", "arrived_on", "observed_at"),
    [
        ("2026/1/10", "2026-01-10", "2026-01-10T00:00:00+08:00"),  # Excel's and WPS's short date in China
        ("2026-1-10", "2026-01-10", "2026-01-10T00:00:00+08:00"),
        ("2026.1.10", "2026-01-10", "2026-01-10T00:00:00+08:00"),
        ("2026年1月10日", "2026-01-10", "2026-01-10T00:00:00+08:00"),
        # a date cell in a date-time format: read as the date as before (pydantic takes a zero time)
        ("2026/01/10 00:00:00", "2026-01-10 00:00:00", "2026-01-10T00:00:00+08:00"),
        ("2026/1/10 9:05", "2026-1-10 9:05", "2026-01-10T09:05:00+08:00"),  # a time where a date goes: refused
        ("2026年1月10日 18:30:15", "2026年1月10日 18:30:15", "2026-01-10T18:30:15+08:00"),
        ("2026/2/30", "2026-2-30", "2026/2/30"),  # no such day: left to the shape check to name
        ("２０２６/1/10", "２０２６-1-10", "２０２６/1/10"),  # full-width digits are not read as a date
    ],
)
def test_dates_are_read_as_excel_writes_them_in_china(written: str, arrived_on: str, observed_at: str) -> None:
    columns = map_headers(["流入时间", "发现时间"])
    assert row_to_record(columns, [written, written]) == {
        "residence": {"arrived_on": arrived_on},
        "observed_at": observed_at,
    }


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        (BulkFormat.JSON, json_bytes([full_record()] * 3)),
        (BulkFormat.NDJSON, ndjson_bytes([full_record()] * 3)),
        (BulkFormat.CSV, csv_bytes([full_record()] * 3, "chinese")),
        (BulkFormat.CSV, csv_bytes([full_record()] * 3, "flat", encoding="gb18030")),
        (BulkFormat.XLSX, xlsx_bytes([full_record()] * 3, "dotted")),
    ],
)
def test_every_format_gives_back_the_records(fmt: BulkFormat, content: bytes) -> None:
    rows = list(open_bulk(fmt, io.BytesIO(content)).rows())
    assert len(rows) == 3
    expected = full_record()
    for row in rows:
        assert row.problem is None
        assert row.record["person"] == expected["person"]
        assert row.record["certificate"]["valid_until"] == expected["certificate"]["valid_until"]


def test_json_array_is_read_in_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_formats, "CHUNK", 5)
    content = b' [ {"a": "\xe5\xbc\xa0"} , 12345, {"b": [1, {"c": 2}]}]  '
    rows = list(open_bulk(BulkFormat.JSON, io.BytesIO(content)).rows())
    assert [(r.number, r.record, r.problem) for r in rows] == [
        (1, {"a": "张"}, None),
        (2, None, "must be a JSON object"),
        (3, {"b": [1, {"c": 2}]}, None),
    ]


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        (BulkFormat.JSON, b'{"not": "an array"}'),
        (BulkFormat.JSON, b'[{"a": 1} {"b": 2}]'),
        (BulkFormat.JSON, b'[{"a": 1}, {"b": '),
        (BulkFormat.CSV, b"\n\n"),
        (BulkFormat.CSV, b"name,colour\nx,red\n"),
        (BulkFormat.XLSX, b"not a zip"),
    ],
)
def test_file_problems(fmt: BulkFormat, content: bytes) -> None:
    with pytest.raises(FileProblem):
        list(open_bulk(fmt, io.BytesIO(content)).rows())


@pytest.mark.parametrize(
    "content",
    [b'[{"a": 1}][{"b": 2}]', b'[{"a": 1}]\n[{"b": 2}]\n', b"[] []", b'[{"a": 1}] {"b": 2}', b'[{"a": 1}],'],
)
def test_text_after_the_json_array_refuses_the_file(content: bytes) -> None:
    """Two arrays sent as one body (two files concatenated, a client that appends): the reader stopped at the
    first `]` and answered its rows alone, 200 and a summary that looked whole; the second array's records
    were neither stored nor answered as rejected. Refused as a whole on the counting pass, before any row is
    stored, as the single POST refuses JSON with more after it."""
    bulk = open_bulk(BulkFormat.JSON, io.BytesIO(content))
    with pytest.raises(FileProblem, match="followed by more text"):
        bulk.count(10)


def test_spaces_after_the_json_array_are_nothing() -> None:
    assert open_bulk(BulkFormat.JSON, io.BytesIO(b' [{"a": 1}] \r\n\t ')).count(10) == 1
    assert open_bulk(BulkFormat.JSON, io.BytesIO(b"[]\n")).count(10) == 0


def test_a_file_without_a_header_row_is_refused_without_echoing_its_first_row() -> None:
    """The first row of a file without a header is a person: its cells named as unknown headers put an identity
    number, a name and an address into the problem document and the CLI's output."""
    number, name, address = id_number(sequence=11), "张三", "广州市天河区某路1号"
    first = f"{number},{name},{address},440111005\n".encode()
    with pytest.raises(FileProblem) as refused:
        open_bulk(BulkFormat.CSV, io.BytesIO(first + first)).count(10)
    said = str(refused.value)
    assert not [secret for secret in (number, name, address) if secret in said]
    assert said.startswith("4 of 4 columns (A, B, C, D) have a header that names no field (is the first row a header")


def test_a_typo_in_one_header_names_its_column() -> None:
    with pytest.raises(FileProblem) as refused:
        open_bulk(BulkFormat.CSV, io.BytesIO("身份证号,姓名,鞋码\nx,y,z\n".encode())).count(10)
    assert str(refused.value).startswith("1 of 3 columns (C) have a header that names no field;")


def test_a_csv_line_of_more_columns_than_a_record_has_is_refused() -> None:
    wide = ("身份证号," + ",".join(["x"] * 300) + "\n").encode()
    with pytest.raises(FileProblem, match="more than 200 columns"):
        open_bulk(BulkFormat.CSV, io.BytesIO(wide)).count(10)


def _rewritten(workbook: bytes, name: str, text: bytes) -> bytes:
    source, out = zipfile.ZipFile(io.BytesIO(workbook)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, text if item.filename == name else source.read(item.filename))
    return out.getvalue()


@pytest.mark.parametrize(
    ("part", "text"),
    [
        ("xl/workbook.xml", b"<workbook"),  # XML that does not parse: a SyntaxError, which answered 500
        ("xl/styles.xml", b"<styleSheet"),
        ("xl/workbook.xml", None),  # a workbook without a sheet: an IndexError, which answered 500
    ],
)
def test_a_damaged_workbook_is_a_file_problem(part: str, text: bytes | None) -> None:
    good = xlsx_bytes([full_record()])
    if text is None:
        listed = zipfile.ZipFile(io.BytesIO(good)).read(part).decode()
        text = re.sub(r"<sheets>.*</sheets>", "<sheets/>", listed).encode()
    with pytest.raises(FileProblem):
        open_bulk(BulkFormat.XLSX, io.BytesIO(_rewritten(good, part, text))).count(10)


def test_row_problems_leave_the_other_rows() -> None:
    ndjson = list(open_bulk(BulkFormat.NDJSON, io.BytesIO(b'{"a": 1}\n{oops\n\n[]\n')).rows())
    assert [(r.number, r.problem) for r in ndjson] == [
        (1, None),
        (2, "this line is not valid JSON"),
        (4, "must be a JSON object"),
    ]
    table = list(open_bulk(BulkFormat.CSV, io.BytesIO('姓名\n"张\n三"\n李,多余\n王\n'.encode())).rows())
    assert [(r.number, r.problem) for r in table] == [(2, None), (4, "has 2 cells but the header has 1"), (5, None)]
    assert table[0].record == {"person": {"name": "张\n三"}}


def test_a_row_that_is_no_record_keeps_its_text_and_a_good_row_none() -> None:
    """`popflow import` writes a rejected row that is no record back as its text (`_raw`) to be corrected."""
    ndjson = list(open_bulk(BulkFormat.NDJSON, io.BytesIO('{"a": 1}\r\n{"姓名": "张三",}\r\n[]\n'.encode())).rows())
    assert [(r.number, r.text) for r in ndjson] == [(1, None), (2, '{"姓名": "张三",}'), (3, "[]")]
    array = list(open_bulk(BulkFormat.JSON, io.BytesIO(b'[{"a": 1}, [2,  3], "x"]')).rows())
    assert [(r.number, r.text) for r in array] == [(1, None), (2, "[2,  3]"), (3, '"x"')]


def test_a_kept_text_imported_again_uncorrected_is_refused_and_keeps_the_first_text() -> None:
    """A `{"_raw": ...}` line sent back as it is: refused with what to do, its text kept as it was first read."""
    content = b'{"_raw": "{oops", "_errors": "row: this line is not valid JSON"}\n{"_raw": 1}\n'
    rows = list(open_bulk(BulkFormat.NDJSON, io.BytesIO(content)).rows())
    assert [(r.problem, r.text) for r in rows] == [
        (bulk_formats.STILL_RAW, "{oops"),
        (bulk_formats.STILL_RAW, '{"_raw": 1}'),
    ]


def test_a_broken_element_is_not_read_to_the_end_of_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_formats, "MAX_ELEMENT", 100)
    reads: list[int] = []
    content = io.BytesIO(b'[{"a": 1}, {"b": oops}, ' + b'{"c": 3}, ' * 100_000 + b"{}]")
    original = content.read

    def counting_read(size: int = -1) -> bytes:
        reads.append(size)
        return original(size)

    monkeypatch.setattr(content, "read", counting_read)
    with pytest.raises(FileProblem, match="element 2"):
        list(open_bulk(BulkFormat.JSON, content).rows())
    assert len(reads) <= 2  # of about 16 chunks


def test_a_line_of_exactly_max_line_characters_does_not_swallow_the_next_line() -> None:
    """It came back whole with its newline, one character over the bound: taken for a cut line, the skip that
    follows one read the next line away, unanswered, and numbered every later row one too low."""
    long_line = '"' + "x" * (bulk_formats.MAX_LINE - 2) + '"'
    over = "y" * (bulk_formats.MAX_LINE + 1)
    body = f'{long_line}\n{{"event": "new_inflow"}}\n{over}\n{{"event": "outflow"}}\n'.encode()
    bulk = bulk_formats.BulkFile(BulkFormat.NDJSON, io.BytesIO(body))
    rows = list(bulk.rows())
    assert [row.number for row in rows] == [1, 2, 3, 4]
    assert rows[1].record == {"event": "new_inflow"}
    assert rows[2].problem is not None
    assert "longer than" in rows[2].problem
    assert rows[3].record == {"event": "outflow"}
    assert bulk.count(100) == 4


def test_every_row_of_a_workbook_whose_dimension_undercounts_is_read() -> None:
    """openpyxl's read-only mode stops at the sheet's declared <dimension>: a writer that leaves it stale lost
    every row past it, and the count agreed, so the summary looked whole."""
    rows = [full_record() for _ in range(5)]
    for number, row in enumerate(rows, start=1):
        row["external_id"] = f"ext-{number}"
    stale = broken_sheet(xlsx_bytes(rows), lambda xml: dimension_of(xml, b"A1:B2"))
    bulk = open_bulk(BulkFormat.XLSX, io.BytesIO(stale))
    assert bulk.count(100) == 5
    assert [row.record["external_id"] for row in bulk.rows() if row.record] == [f"ext-{n}" for n in range(1, 6)]


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_a_workbook_member_packed_by_a_method_zipfile_lacks_is_a_file_problem(member: str) -> None:
    """zipfile raises NotImplementedError for Deflate64 (method 9): it was a 500."""
    body = bytearray(xlsx_bytes([full_record()]))
    name, changed = member.encode(), 0
    at = body.find(name)
    while at != -1:  # the method field of the local header (name at +30) and of the central directory (+46)
        for offset, signature, method_at in ((30, b"PK\x03\x04", 8), (46, b"PK\x01\x02", 10)):
            start = at - offset
            if start >= 0 and body[start : start + 4] == signature:
                body[start + method_at : start + method_at + 2] = (9).to_bytes(2, "little")
                changed += 1
        at = body.find(name, at + 1)
    assert changed == 2
    with pytest.raises(FileProblem):
        open_bulk(BulkFormat.XLSX, io.BytesIO(bytes(body))).count(10)


@pytest.mark.parametrize("blank", ["\n", ",\n", " , \n"])
def test_error_columns_are_named_when_the_header_follows_a_blank_line(blank: str) -> None:
    """The rows take the first row that is not blank for the header; the column names of a rejected row's
    errors took the first row, blank, and a clerk got JSON pointers instead of the sheet's own names."""
    bulk = bulk_formats.BulkFile(BulkFormat.CSV, io.BytesIO(f"{blank}姓名,身份证号\n张三,123\n".encode()))
    assert [row.record for row in bulk.rows()] == [{"person": {"name": "张三", "id_number": "123"}}]
    assert bulk.headers() == {"/person/name": "姓名", "/person/id_number": "身份证号"}


def test_a_cell_naming_a_shared_text_the_workbook_lacks_is_a_file_problem() -> None:
    """A cell of type "s" holds an index into the workbook's shared texts; one past their end (a truncated or
    badly written sharedStrings part) raised openpyxl's IndexError, which answered 500."""
    good = xlsx_bytes([full_record()])
    damaged = broken_sheet(
        good, lambda xml: re.sub(rb'<c r="A2" t="inlineStr">.*?</c>', b'<c r="A2" t="s"><v>7</v></c>', xml)
    )
    with pytest.raises(FileProblem):
        open_bulk(BulkFormat.XLSX, io.BytesIO(damaged)).count(10)


@pytest.mark.parametrize("numbered", ["1001", "99999999999"])
def test_a_row_numbered_past_the_last_row_a_sheet_may_have_is_a_file_problem(
    numbered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a sheet skips are read as empty ones: a tiny workbook whose second row is numbered
    99999999999 kept the count (and a thread of the service) filling empty rows for days. A row past the
    last a sheet may have (1,048,576; here 1,000, so that the test is quick) is damage."""
    monkeypatch.setattr(xlsx_rows, "MAX_SHEET_ROWS", 1000)
    good = xlsx_bytes([full_record(), full_record()])
    damaged = broken_sheet(
        good, lambda xml: re.sub(rb'(<row r="|<c r="[A-Z]+)3"', rb"\g<1>" + numbered.encode() + b'"', xml)
    )
    with pytest.raises(FileProblem):
        open_bulk(BulkFormat.XLSX, io.BytesIO(damaged)).count(10)


@pytest.mark.parametrize("line", ["," * (bulk_formats.MAX_LINE + 1), "x" * bulk_formats.MAX_LINE + ",y"])
def test_a_csv_line_longer_than_a_record_can_be_is_a_file_problem(line: str) -> None:
    """csv.reader holds a line's every cell before their count is checked: a line of commas as long as the
    body may be (200 MB) was 200 million cells, some 3 GB of memory for one request, and passed as blank."""
    body = f"姓名,身份证号\r\n{line}\r\n张三,123\r\n".encode()
    with pytest.raises(FileProblem, match="line 2 is longer than"):
        open_bulk(BulkFormat.CSV, io.BytesIO(body)).count(10)


def test_a_csv_line_of_the_longest_a_line_may_be_is_read_whole_with_its_line_ending() -> None:
    longest = "张三,123" + "," * (bulk_formats.MAX_LINE - len("张三,123"))  # empty cells past the header's
    bulk = open_bulk(BulkFormat.CSV, io.BytesIO(f"姓名,身份证号\r\n{longest}\r\n李四,456\r\n".encode()))
    assert [(row.number, row.record) for row in bulk.rows()] == [
        (2, {"person": {"name": "张三", "id_number": "123"}}),
        (3, {"person": {"name": "李四", "id_number": "456"}}),
    ]


def test_an_identity_number_a_sheet_holds_as_a_long_number_is_a_row_problem_that_does_not_quote_it() -> None:
    """A spreadsheet keeps 15 digits of a number: an 18-digit identity number typed as one ends in zeros, and one
    in eleven of those still passes the check character. Such a row is refused with what to do; a number of 15
    digits is read whole (the record's rules judge it), and a text cell is read as text."""
    typed = id_number()
    workbook = workbook_bytes(
        ["身份证号", "姓名"],
        [[int(typed[:15] + "000"), "甲"], [430102900307012, "乙"], [typed, "丙"], [float(typed[:15] + "000"), "丁"]],
    )
    rows = list(open_bulk(BulkFormat.XLSX, io.BytesIO(workbook)).rows())
    assert [row.number for row in rows] == [2, 3, 4, 5]
    lost, first_generation, text, as_float = rows
    assert lost.record is None
    assert lost.problem is not None
    assert "column A is stored as a number" in lost.problem
    assert "format the column as text" in lost.problem
    assert typed[:15] not in lost.problem
    assert first_generation.problem is None
    assert first_generation.record["person"]["id_number"] == "430102900307012"
    assert text.problem is None
    assert text.record["person"]["id_number"] == typed
    assert as_float.problem == lost.problem


def test_two_columns_of_one_field_with_different_values_reject_their_row() -> None:
    """身份证号 beside 公民身份号码, 电话 beside 联系电话: the record kept the later column's cell and dropped the other
    unsaid, so which person's number was stored followed from the order of the columns. A row whose two cells
    differ is rejected naming the columns, never a value; the same value twice, or one cell empty, is one value."""
    first, second = id_number(sequence=11), id_number(sequence=13)
    content = "\n".join(
        [
            "身份证号,姓名,公民身份号码,性别,sex",
            f"{first},张三,{second},男,",  # two numbers: rejected
            f"{first},李四,{first},男,male",  # the same number, and 男 is male
            f"{first},王五,,女,",  # one of them given
        ]
    ).encode()
    rows = list(open_bulk(BulkFormat.CSV, io.BytesIO(content)).rows())
    assert rows[0].problem == "columns A and C both give /person/id_number, with different values: keep one of them"
    assert [row.problem for row in rows[1:]] == [None, None]
    assert [(row.record["person"]["id_number"], row.record["person"]["sex"]) for row in rows[1:]] == [
        (first, "male"),
        (first, "female"),
    ]

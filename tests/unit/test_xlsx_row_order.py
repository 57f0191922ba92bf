"""A sheet whose rows or cells openpyxl's reader would drop is refused whole, naming rows and columns only.

openpyxl's `iter_rows` dropped a row numbered at or below the one before it, and the last of two cells with
the same reference won: a department list from a hand-made or buggy exporter lost people while the import
said it had read every row."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, cast

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from services.intake.adapters.bulk_formats import BulkFormat, FileProblem, open_bulk, table_lines
from services.intake.adapters.bulk_limits import MAX_COLUMNS
from services.intake.entrypoints.http.bulk import BulkLimits, bulk_router
from services.intake.service_layer.submissions import Rejected, Submissions
from shared.auth import Principal, parse_scope
from shared.http.problems import install_problem_handlers
from tests.support.bulk_files import broken_sheet, last_row_first, renumbered, row_element, workbook_bytes
from tests.support.records import id_number

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PEOPLE = [[id_number(sequence=n), name] for n, name in ((21, "甲一"), (22, "乙二"), (23, "丙三"))]
SECRETS = [cell for person in PEOPLE for cell in person]


def department_list() -> bytes:
    """A header (row 1) and three people (rows 2 to 4), as openpyxl writes them: cells as inline text."""
    return workbook_bytes(["身份证号", "姓名"], [list(person) for person in PEOPLE])


def refusal(workbook: bytes) -> str:
    with pytest.raises(FileProblem) as refused:
        open_bulk(BulkFormat.XLSX, io.BytesIO(workbook)).count(10)
    said = str(refused.value)
    assert not [secret for secret in SECRETS if secret in said]
    return said


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        (last_row_first, "row 2 comes after row 4: the sheet's rows are out of order; open it in a spreadsheet"),
        (lambda xml: renumbered(xml, 3, 2), "row 2 is in the sheet twice; open it in a spreadsheet"),
        (lambda xml: renumbered(xml, 2, 0), "a row is numbered 0, but a sheet's rows are numbered from 1"),
        # the same cell twice in a row: openpyxl kept the second, and 甲一's name stood in for his number
        (lambda xml: xml.replace(b'<c r="B2"', b'<c r="A2"'), "row 2 has two cells in column A (A2); open it"),
    ],
    ids=["out of order", "a row twice", "row 0", "a cell twice"],
)
def test_rows_or_cells_openpyxl_would_drop_refuse_the_file(broken: Callable[[bytes], bytes], said: str) -> None:
    assert refusal(broken_sheet(department_list(), broken)).startswith(said)


def test_a_value_in_any_column_past_the_last_a_record_has_refuses_the_file() -> None:
    """Only column 201 was looked at: a value further right was dropped without a word."""
    far = b'<c r="IP3" t="inlineStr"><is><t>x</t></is></c></row><row r="4"'  # column 250
    workbook = broken_sheet(department_list(), lambda xml: xml.replace(b'</row><row r="4"', far))
    assert refusal(workbook) == f"row 3 has more than {MAX_COLUMNS} columns"


def test_rows_a_sheet_skips_come_as_empty_lines_and_the_next_at_its_own_number() -> None:
    workbook = broken_sheet(department_list(), lambda xml: renumbered(xml.replace(row_element(xml, 4), b""), 3, 5))
    bulk = open_bulk(BulkFormat.XLSX, io.BytesIO(workbook))
    lines = list(table_lines(bulk))
    assert [number for number, _ in lines] == [1, 2, 3, 4, 5]
    assert lines[2][1] == lines[3][1] == [None] * MAX_COLUMNS
    assert lines[4][1][:3] == [*PEOPLE[1], None]
    assert len(lines[4][1]) == MAX_COLUMNS
    assert [(row.number, row.record["person"]["name"]) for row in bulk.rows()] == [(2, "甲一"), (5, "乙二")]


class Recording:
    """Submissions that reject every row, noting what reached them."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def prepare(self, raw: Any, principal: Principal, **_: Any) -> Rejected:
        self.seen.append("prepare")
        return Rejected([((), "checked")])

    async def note_rejections(self, rejections: list[Rejected], *, outage_s: float = 0.0) -> None:
        self.seen.extend("rejection" for _ in rejections)


async def admin(_: Request) -> Principal:
    return Principal("k1", parse_scope("admin"))


def post(workbook: bytes, submissions: Recording) -> Any:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(
        bulk_router(authenticate=admin, submissions=cast(Submissions, submissions), limits=BulkLimits(10, 1 << 20, 5))
    )
    return TestClient(app).post("/v1/records/bulk", content=workbook, headers={"Content-Type": XLSX})


def test_a_sheet_with_rows_out_of_order_answers_400_before_any_row_is_handled() -> None:
    submissions = Recording()
    answer = post(broken_sheet(department_list(), last_row_first), submissions)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["title"] == "The file cannot be read"
    assert "row 2 comes after row 4" in answer.json()["detail"]
    assert not [secret for secret in SECRETS if secret in answer.text]
    assert submissions.seen == []


def test_the_same_sheet_in_order_reaches_the_submissions() -> None:
    """The other half of the test above: the fake does see rows when the file is read."""
    submissions = Recording()
    answer = post(department_list(), submissions)
    assert answer.status_code == 200
    assert answer.json()["summary"] == {"rows": 3, "accepted": 0, "duplicate": 0, "rejected": 3}
    assert submissions.seen == ["prepare"] * 3 + ["rejection"] * 3

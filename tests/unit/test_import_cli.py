"""`popflow import` against a fake intake (httpx's MockTransport): what it says and exits with for the answers
a clerk's link and a proxy give; tests/e2e/test_intake_bulk.py runs it against a real intake."""

from __future__ import annotations

import io
import json
import os
import types
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from services.cli.main import app
from services.intake.entrypoints import cli as import_cli
from services.intake.entrypoints.import_warnings import SHOWN_CODES, RetiredCodes
from tests.support.bulk_files import table
from tests.support.records import record


def _fake_intake(monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response]) -> None:
    """`popflow import` talks to `answer` instead of a running intake (only that module's httpx is swapped)."""

    def stream(method: str, url: str, **kwargs: Any) -> Any:
        return httpx.Client(transport=httpx.MockTransport(answer)).stream(method, url, **kwargs)

    monkeypatch.setattr(import_cli, "httpx", types.SimpleNamespace(stream=stream))


def _lines(*results: dict[str, Any]) -> httpx.Response:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in results)
    return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})


def _two_rows(tmp_path: Path) -> Path:
    source = tmp_path / "学校名单.ndjson"
    source.write_text("".join(json.dumps(record(sequence=n), ensure_ascii=False) + "\n" for n in (21, 23)))
    return source


def test_an_answer_that_ends_before_its_summary_is_cut_off_not_a_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intake's last line is its summary. An answer that ends cleanly without it (a proxy closing a response
    it passed on without a length, say) left rows unanswered: exit 3, send again; not 0 with nothing said."""
    source = _two_rows(tmp_path)
    _fake_intake(monkeypatch, lambda _request: _lines({"row": 1, "status": "accepted", "record_id": "r1"}))
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "cut off after 1 of 2 rows" in said
    assert "send the same file again" in said
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_rejected_rows_for_a_folder_that_cannot_be_written_are_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list imported from a read-only share: its rejected rows cannot go beside it. Found after the rows were
    stored, it was a PermissionError's traceback and the rejected rows lost; before sending it is a refusal."""
    source = _two_rows(tmp_path)
    sent: list[httpx.Request] = []
    rejected = {"row": 2, "status": "rejected", "errors": [{"pointer": "", "detail": "does not fit"}]}

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return _lines(rejected, {"summary": {"rows": 2}})

    _fake_intake(monkeypatch, answer)
    writable = os.access
    # the test runs as root, whom a folder's mode does not stop: this folder stands for a read-only one
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path and writable(path, mode))
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 2, result.output
    assert "cannot be written" in " ".join(result.output.split())
    assert "--rejected" in result.output
    assert sent == []


def test_the_rejected_rows_of_a_workbook_come_back_as_a_workbook_whose_text_stays_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workbook's rejected rows written as CSV were opened by Excel or WPS with each 18-digit identity number
    made a number (4.30102E+17), saved back with its last digits zeroed, and a text cell starting with `=` run
    as a formula. As a workbook, text cells stay text as the clerk wrote them, dates stay dates."""
    header, cells = table([record(sequence=41), record(sequence=43)], "chinese")
    address, observed = header.index("现居住地址"), header.index("发现时间")
    cells[1][address] = '=HYPERLINK("http://example.invalid","同德路")'
    cells[1][observed] = datetime(2026, 2, 25, 10, 30)
    source = tmp_path / "学校名单.xlsx"
    source.write_bytes(_workbook(header, cells, text_at=(3, address + 1)))
    problem = [{"pointer": "/person/id_number", "detail": "the check digit", "column": "身份证号"}]
    _fake_intake(
        monkeypatch,
        lambda _request: _lines(
            {"row": 2, "status": "accepted", "record_id": "r1"},
            {"row": 3, "status": "rejected", "errors": problem},
            {"summary": {"rows": 2, "accepted": 1, "duplicate": 0, "rejected": 1}},
        ),
    )
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 1, result.output
    assert "学校名单.rejected.xlsx" in result.output.replace("\n", "")
    rejected = tmp_path / "学校名单.rejected.xlsx"
    assert rejected.stat().st_mode & 0o777 == 0o600  # identity numbers and names: the clerk's only
    sheet = load_workbook(rejected).worksheets[0]
    assert sheet.max_row == 2
    assert [c.value for c in sheet[1]] == [*header, "errors"]
    written = sheet[2]
    assert [c.value or "" for c in written] == [*cells[1], "身份证号: the check digit"]
    assert written[header.index("身份证号")].data_type == "s"  # text, as in the clerk's workbook
    assert written[address].data_type == "s"  # the text as written, never a formula to run
    assert written[observed].is_date


def _workbook(header: list[str], rows: list[list[Any]], *, text_at: tuple[int, int]) -> bytes:
    """A workbook of `header` and `rows` whose cell at (row, column) `text_at` is text even if it starts with `=`."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [header, *rows]:
        sheet.append(row)
    sheet.cell(*text_at).data_type = "s"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_import_that_rejects_nothing_removes_the_earlier_rejected_file_and_takes_a_url_ending_in_a_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list corrected and sent again, every row in: the earlier FILE.rejected.* was out of date and held
    names and identity numbers, so it goes. A base URL copied with its trailing slash still reaches the route."""
    source = _two_rows(tmp_path)
    earlier = tmp_path / "学校名单.rejected.ndjson"
    earlier.write_text('{"person": {"name": "..."}}\n')
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        accepted = [{"row": n, "status": "accepted", "record_id": f"r{n}"} for n in (1, 2)]
        return _lines(*accepted, {"summary": {"rows": 2, "accepted": 2, "duplicate": 0, "rejected": 0}})

    _fake_intake(monkeypatch, answer)
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y", "--url", "http://intake.test/"])
    assert result.exit_code == 0, result.output
    assert paths == ["/v1/records/bulk"]
    assert not earlier.exists()
    assert "Removed the earlier file of rejected rows" in " ".join(result.output.split())
    kept = tmp_path / "kept.ndjson"  # a place the clerk named is theirs: left as it is
    kept.write_text("{}\n")
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y", "--rejected", str(kept)])
    assert result.exit_code == 0, result.output
    assert kept.exists()


def test_rows_accepted_with_warnings_are_counted_with_the_rows_naming_each_retired_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intake answers a row naming a retired street with `warnings`: the clerk is told how many rows, and which
    rows name each code, never a name or identity number; the import still succeeds."""
    source = _two_rows(tmp_path)
    note = "440113118 was retired since 2021-01-01; its successor 440113017 is used"
    warned = {"field": "residence.street", "code": "440113118", "note": note}
    answers: list[dict[str, Any]] = [
        {"row": 2, "status": "accepted", "record_id": "r2", "warnings": [warned]},
        {"row": 3, "status": "accepted", "record_id": "r3"},
        {"row": 4, "status": "duplicate", "record_id": "r4", "warnings": [warned | {"field": "reporting_street"}]},
        {"summary": {"rows": 3, "accepted": 2, "duplicate": 1, "rejected": 0}},
    ]
    _fake_intake(monkeypatch, lambda _request: _lines(*answers))
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "2 rows name a retired division code, stored all the same" in said
    assert f"{note} (reporting_street, residence.street): rows 2, 4" in said
    assert "r2" not in said


def test_a_long_list_of_warnings_is_shown_in_part_with_how_many_more() -> None:
    retired = RetiredCodes()
    for row in range(2, 40):
        code = f"44011300{row % 12:02d}"
        retired.add(row, [{"field": "residence.street", "code": code, "note": f"{code} was retired"}])
    retired.add(40, "not a list")
    first, *codes, more = retired.lines()
    assert first.startswith("38 rows name a retired division code")
    assert len(codes) == SHOWN_CODES
    assert codes[0] == "  4401130002 was retired (residence.street): rows 2, 14, 26, 38"
    assert more == "  and 2 more retired codes"
    split = RetiredCodes()
    for row in range(2, 17):
        split.add(row, [{"field": "reporting_street", "note": "440113118 was split"}])
    shown = split.lines()[1]
    assert shown == "  440113118 was split (reporting_street): rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 5 more"


def test_a_refused_import_says_why_and_draws_no_progress_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused as a whole, nothing was imported: the bar drawn under the "Refused:" line (Importing ... 0/2)
    read as if the import had started and stalled."""
    source = _two_rows(tmp_path)
    problem = {"title": "Forbidden", "status": 403, "detail": "This key may not submit records."}
    _fake_intake(monkeypatch, lambda _request: httpx.Response(403, json=problem))
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 2, result.output
    assert "Refused: intake answered 403" in result.output
    assert "Importing" not in result.output
    assert "0/2" not in result.output

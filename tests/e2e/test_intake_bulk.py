"""Bulk import end to end: four formats, bad rows, Chinese headers, retries, limits, the import CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import types
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from services.cli.main import app
from services.intake.entrypoints import cli as import_cli
from shared.events import Envelope, RecordSubmitted, parse_event
from tests.support import kafka
from tests.support.bulk_files import (
    broken_sheet,
    csv_bytes,
    json_bytes,
    ndjson_bytes,
    table,
    workbook_bytes,
    xlsx_bytes,
)
from tests.support.infra import TEST_KEYRING
from tests.support.processes import parents, process_cpu_seconds
from tests.support.records import TONGDE, XINSHI, record
from tests.support.system import System, build_system, destroy_system, free_port
from tests.support.waiting import eventually

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
async def admin_key(intake: System) -> str:
    return await intake.create_key("admin")


def rows(base: int) -> list[dict[str, Any]]:
    """Five good rows (the second person twice) and three bad ones, at positions 3, 5 and 7."""
    good = [record(sequence=base + i) for i in range(4)]
    bad_check_digit = record(sequence=base + 10)
    number = bad_check_digit["person"]["id_number"]
    bad_check_digit["person"]["id_number"] = number[:17] + ("0" if number[17] != "0" else "1")
    unknown_street = record(sequence=base + 11, residence_street="440111999")
    bad_date = record(sequence=base + 12, observed_at="2026-02-30T10:00:00+08:00")
    again = record(sequence=base + 1, event="verification")
    return [good[0], good[1], bad_check_digit, good[2], unknown_street, again, bad_date, good[3]]


async def post(intake: System, key: str, content: bytes, media_type: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=intake.url("intake"), timeout=60) as client:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": media_type, **headers}
        return await client.post("/v1/records/bulk", content=content, headers=headers)


def statuses(body: dict[str, Any]) -> list[str]:
    return [result["status"] for result in body["results"]]


EXPECTED = ["accepted", "accepted", "rejected", "accepted", "rejected", "accepted", "rejected", "accepted"]


@pytest.mark.parametrize(
    ("kind", "media_type", "first_row"),
    [
        ("json", "application/json", 1),
        ("ndjson", "application/x-ndjson", 1),
        ("csv-chinese", "text/csv", 2),
        ("csv-dotted-gb18030", "text/csv", 2),
        ("xlsx-flat", XLSX, 2),
    ],
)
async def test_every_format_answers_per_row(
    intake: System, admin_key: str, kind: str, media_type: str, first_row: int
) -> None:
    base = 200 + 20 * ["json", "ndjson", "csv-chinese", "csv-dotted-gb18030", "xlsx-flat"].index(kind)
    records = rows(base)
    content = {
        "json": lambda: json_bytes(records),
        "ndjson": lambda: ndjson_bytes(records),
        "csv-chinese": lambda: csv_bytes(records, "chinese"),
        "csv-dotted-gb18030": lambda: csv_bytes(records, "dotted", encoding="gb18030"),
        "xlsx-flat": lambda: xlsx_bytes(records, "flat"),
    }[kind]()
    response = await post(intake, admin_key, content, media_type)
    assert response.status_code == 200, response.text
    body = response.json()
    assert statuses(body) == EXPECTED
    assert [r["row"] for r in body["results"]] == list(range(first_row, first_row + 8))
    assert body["summary"] == {"rows": 8, "accepted": 5, "duplicate": 0, "rejected": 3}
    errors = [r["errors"] for r in body["results"] if r["status"] == "rejected"]
    assert [[e["pointer"] for e in row] for row in errors] == [
        ["/person/id_number"],
        ["/residence/street"],
        ["/observed_at"],
    ]
    if kind.startswith("csv-chinese"):
        assert [row[0]["column"] for row in errors] == ["身份证号", "现居住街道", "发现时间"]
    accepted = [r for r in body["results"] if r["status"] == "accepted"]
    assert accepted[1]["case_id"] == accepted[3]["case_id"]
    assert (accepted[1]["case_version"], accepted[3]["case_version"]) == (1, 2)
    assert records[2]["person"]["id_number"] not in response.text


async def test_resending_with_the_same_key_stores_nothing_twice(intake: System, admin_key: str) -> None:
    content = ndjson_bytes(rows(400))
    key = {"Idempotency-Key": f"file-{uuid.uuid4()}"}
    first = (await post(intake, admin_key, content, "application/x-ndjson", **key)).json()
    second = (await post(intake, admin_key, content, "application/x-ndjson", **key)).json()
    assert statuses(second) == [s.replace("accepted", "duplicate") for s in EXPECTED]
    assert [r.get("record_id") for r in second["results"]] == [r.get("record_id") for r in first["results"]]
    assert second["summary"] == {"rows": 8, "accepted": 0, "duplicate": 5, "rejected": 3}


async def test_streamed_lines_and_rows_outside_the_keys_scope(intake: System) -> None:
    key = await intake.create_key(f"street:{TONGDE}")
    records = [record(sequence=430), record(sequence=431, reporting_street=XINSHI)]
    response = await post(intake, key, ndjson_bytes(records), "application/x-ndjson", Accept="application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line.get("status") for line in lines[:2]] == ["accepted", "rejected"]
    assert lines[1]["errors"][0]["pointer"] == "/reporting_street"
    assert lines[2] == {"summary": {"rows": 2, "accepted": 1, "duplicate": 0, "rejected": 1}}


async def test_a_line_with_a_number_too_long_to_read_is_rejected_alone(intake: System, admin_key: str) -> None:
    lines = [json.dumps(record(sequence=443)), '{"remarks": ' + "1" * 5000 + "}", json.dumps(record(sequence=444))]
    response = await post(intake, admin_key, "\n".join(lines).encode(), "application/x-ndjson")
    assert response.status_code == 200, response.text
    body = response.json()
    assert statuses(body) == ["accepted", "rejected", "accepted"]
    assert "digits" in body["results"][1]["errors"][0]["detail"]


async def test_an_identity_number_a_sheet_holds_as_a_number_is_rejected_alone_saying_what_to_do(
    intake: System, admin_key: str
) -> None:
    records = [record(sequence=n) for n in (445, 446, 447)]
    header, cells = table(records, "chinese")
    column = header.index("身份证号")
    typed = records[1]["person"]["id_number"]
    cells[1][column] = int(typed[:15] + "000")  # what a spreadsheet keeps of it: 15 digits, then zeros
    response = await post(intake, admin_key, workbook_bytes(header, cells), XLSX)
    assert response.status_code == 200, response.text
    body = response.json()
    assert statuses(body) == ["accepted", "rejected", "accepted"]
    (error,) = body["results"][1]["errors"]
    assert "stored as a number" in error["detail"]
    assert "format the column as text" in error["detail"]
    assert typed[:15] not in response.text


async def test_a_row_with_half_of_a_utf16_pair_is_rejected_alone(intake: System, admin_key: str) -> None:
    broken = record(sequence=441)
    broken["residence"]["address"] = "同德街\ud83d"  # an emoji's first half, its second lost
    records = [record(sequence=440), broken, record(sequence=442)]
    content = "".join(json.dumps(r) + "\n" for r in records).encode()  # ASCII: the surrogate written as \ud83d
    response = await post(intake, admin_key, content, "application/x-ndjson")
    assert response.status_code == 200, response.text
    body = response.json()
    assert statuses(body) == ["accepted", "rejected", "accepted"]
    assert [e["pointer"] for e in body["results"][1]["errors"]] == ["/residence/address"]


@pytest.mark.parametrize(
    ("kind", "media_type"),
    [("json", "application/json"), ("ndjson", "application/x-ndjson"), ("csv", "text/csv"), ("xlsx", XLSX)],
)
async def test_padded_codes_are_checked_as_stored_in_every_format(intake: System, kind: str, media_type: str) -> None:
    key = await intake.create_key(f"street:{TONGDE}")
    base = 600 + 10 * ["json", "ndjson", "csv", "xlsx"].index(kind)
    records = [
        record(sequence=base, reporting_street=f" {XINSHI}"),  # another street, padded: out of scope
        record(sequence=base + 1, residence_street=" 999999999"),  # not a street, padded: unknown
        record(sequence=base + 2, reporting_street=f" {TONGDE} "),  # its own street, padded: stored trimmed
    ]
    content = {
        "json": lambda: json_bytes(records),
        "ndjson": lambda: ndjson_bytes(records),
        "csv": lambda: csv_bytes(records, "chinese"),
        "xlsx": lambda: xlsx_bytes(records, "flat"),
    }[kind]()
    response = await post(intake, key, content, media_type)
    body = response.json()
    assert statuses(body) == ["rejected", "rejected", "accepted"], body
    assert [error["pointer"] for error in body["results"][0]["errors"]] == ["/reporting_street"]
    assert "/residence/street" in [error["pointer"] for error in body["results"][1]["errors"]]


@pytest.mark.parametrize(
    ("content", "media_type", "status"),
    [
        (b"name,shoe_size\nx,42\n", "text/csv", 400),
        # a character XML cannot hold (half of a UTF-16 pair), and a sheet cut short
        (
            broken_sheet(xlsx_bytes([record(sequence=501)]), lambda xml: xml.replace("同德".encode(), b"&#xD83D;", 1)),
            XLSX,
            400,
        ),
        (broken_sheet(xlsx_bytes([record(sequence=502)]), lambda xml: xml[: len(xml) // 2]), XLSX, 400),
        (b"PK\x03\x04 not really a workbook", XLSX, 400),
        (b'{"event": "new_inflow"}', "application/json", 400),
        (b"[{}, ", "application/json", 400),
        (b'[{"remarks": ' + b"1" * 5000 + b"}]", "application/json", 400),  # more digits than Python reads
        (b"a\tb", "text/tab-separated-values", 415),
        (ndjson_bytes([record(sequence=500)] * 61), "application/x-ndjson", 413),
    ],
)
async def test_file_level_problems(
    intake: System, admin_key: str, content: bytes, media_type: str, status: int
) -> None:
    response = await post(intake, admin_key, content, media_type)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_import_cli_writes_rejected_rows_to_correct_and_import_again(
    intake: System, admin_key: str, tmp_path: Path
) -> None:
    source = tmp_path / "学校名单.csv"
    source.write_bytes(csv_bytes(rows(600), "chinese"))
    env = {"POPFLOW_API_KEY": admin_key, "POPFLOW_INTAKE_URL": intake.url("intake")}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(source)], env=env)
    assert result.exit_code == 1, result.output
    assert "5 accepted" in result.output
    rejected = tmp_path / "学校名单.rejected.csv"
    assert rejected.stat().st_mode & 0o777 == 0o600  # whole rows, identity numbers and names: the clerk's only
    table = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8-sig"))))
    assert table[0][-1] == "errors"
    assert len(table) == 4
    assert "身份证号" in table[1][-1]
    fixed = [record(sequence=610), record(sequence=611), record(sequence=612)]
    fixed_cells = list(csv.reader(io.StringIO(csv_bytes(fixed, "chinese").decode())))
    assert fixed_cells[0] == table[0][:-1]  # same columns; the clerk keeps the errors column, intake ignores it
    out = io.StringIO()
    csv.writer(out).writerows(
        [table[0], *[[*cells, line[-1]] for cells, line in zip(fixed_cells[1:], table[1:], strict=False)]]
    )
    rejected.write_text(out.getvalue(), encoding="utf-8-sig")
    again = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(rejected)], env=env)
    assert again.exit_code == 0, again.output
    assert "3 accepted" in again.output


async def test_import_cli_says_refused_and_unreachable_by_exit_code(
    intake: System, admin_key: str, tmp_path: Path
) -> None:
    too_many = tmp_path / "too_many.ndjson"
    too_many.write_bytes(ndjson_bytes([record(sequence=700 + n) for n in range(61)]))  # the limit here is 60
    env = {"POPFLOW_API_KEY": admin_key, "POPFLOW_INTAKE_URL": intake.url("intake")}
    refused = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(too_many)], env=env)
    assert refused.exit_code == 2, refused.output
    assert "Refused" in refused.output

    command = [sys.executable, "-c", "from services.cli import main; main()", "import", str(too_many)]
    nobody = {**intake.env, **env, "POPFLOW_INTAKE_URL": f"http://127.0.0.1:{free_port()}"}
    unreachable = await asyncio.to_thread(subprocess.run, command, env=nobody, capture_output=True, text=True)
    assert unreachable.returncode == 3, unreachable.stderr
    assert "cannot reach http://127.0.0.1:" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1


async def test_import_cli_keeps_a_line_that_is_not_json_to_correct_and_import_again(
    intake: System, admin_key: str, tmp_path: Path
) -> None:
    """A line that is not JSON comes back as `_raw` text; as it is it is refused again, corrected it is stored."""
    typo = json.dumps(record(sequence=801), ensure_ascii=False)[:-1] + ",}"  # a trailing comma typed by hand
    source = tmp_path / "派出所名单.ndjson"
    source.write_text(json.dumps(record(sequence=800), ensure_ascii=False) + "\n" + typo + "\n", encoding="utf-8")
    env = {"POPFLOW_API_KEY": admin_key, "POPFLOW_INTAKE_URL": intake.url("intake")}
    first = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(source)], env=env)
    assert first.exit_code == 1, first.output
    rejected = tmp_path / "派出所名单.rejected.ndjson"
    (kept,) = [json.loads(line) for line in rejected.read_text(encoding="utf-8-sig").splitlines()]
    assert kept == {"_raw": typo, "_errors": "row: this line is not valid JSON"}

    again = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(rejected)], env=env)
    assert again.exit_code == 1, again.output  # not corrected: refused, and the text is still there
    (still,) = [
        json.loads(line)
        for line in (tmp_path / "派出所名单.rejected.rejected.ndjson").read_text("utf-8-sig").splitlines()
    ]
    assert still["_raw"] == typo
    assert "put the corrected record in its place" in still["_errors"]

    corrected = {**json.loads(typo.replace(",}", "}")), "_errors": kept["_errors"]}  # the clerk keeps `_errors`
    rejected.write_text(json.dumps(corrected, ensure_ascii=False) + "\n", encoding="utf-8-sig")
    fixed = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(rejected)], env=env)
    assert fixed.exit_code == 0, fixed.output
    assert "1 accepted" in fixed.output


# `popflow import` against a fake intake: what it writes and says for the answers intake (or a proxy) gives.


def _fake_intake(monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response]) -> list[str]:
    """`popflow import` talks to `answer` instead of a running intake (only that module's httpx is swapped).

    Returns the list of requests' URLs, filled as they are sent.
    """
    sent: list[str] = []

    def stream(method: str, url: str, **kwargs: Any) -> Any:
        sent.append(url)
        client = httpx.Client(transport=httpx.MockTransport(answer))
        return client.stream(method, url, **kwargs)

    monkeypatch.setattr(import_cli, "httpx", types.SimpleNamespace(stream=stream))
    return sent


def _lines(*results: dict[str, Any]) -> httpx.Response:
    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in results)
    return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})


def _second_row_rejected(_request: httpx.Request) -> httpx.Response:
    """Intake's answer for a two-row JSON or NDJSON file whose second row it rejects."""
    return _lines(
        {"row": 1, "status": "accepted", "record_id": "r1", "case_id": "c1", "case_version": 1},
        {"row": 2, "status": "rejected", "errors": [{"pointer": "", "detail": "this line is not valid JSON"}]},
        {"summary": {"rows": 2, "accepted": 1, "duplicate": 0, "rejected": 1}},
    )


def test_a_rejected_ndjson_line_that_is_not_json_keeps_its_text_in_the_rejected_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clerk corrects the rejected file and imports it again: a line that is not JSON must not be lost."""
    good = json.dumps(record(sequence=31), ensure_ascii=False)
    typo = json.dumps(record(sequence=33), ensure_ascii=False)[:-1] + ",}"  # a trailing comma typed by hand
    source = tmp_path / "派出所名单.ndjson"
    source.write_text(good + "\n" + typo + "\n", encoding="utf-8")
    _fake_intake(monkeypatch, _second_row_rejected)  # bulk_formats._ndjson_rows: line 2 is "not valid JSON"
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 1, result.output
    rejected = (tmp_path / "派出所名单.rejected.ndjson").read_text(encoding="utf-8-sig")
    assert [json.loads(line) for line in rejected.splitlines()] == [
        {"_raw": typo, "_errors": "row: this line is not valid JSON"}
    ]
    assert "同德路" not in result.output  # the row's text is the clerk's file's, never the terminal's


def test_the_rejected_workbook_of_a_workbook_has_the_original_columns_then_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An XLSX row is read padded to 200 cells; its rejected workbook is the sheet's own columns, then `errors`."""
    header, cells = table([record(sequence=41), record(sequence=43)], "chinese")
    source = tmp_path / "学校名单.xlsx"
    source.write_bytes(workbook_bytes(header, cells))
    _fake_intake(
        monkeypatch,
        lambda _request: _lines(
            {"row": 2, "status": "accepted", "record_id": "r1", "case_id": "c1", "case_version": 1},
            {
                "row": 3,
                "status": "rejected",
                "errors": [{"pointer": "/person/id_number", "detail": "the check digit", "column": "身份证号"}],
            },
            {"summary": {"rows": 2, "accepted": 1, "duplicate": 0, "rejected": 1}},
        ),
    )
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 1, result.output
    sheet = load_workbook(tmp_path / "学校名单.rejected.xlsx", read_only=True).worksheets[0]
    written = [["" if c is None else c for c in line] for line in sheet.iter_rows(values_only=True)]
    assert written[0] == [*header, "errors"], f"{len(written[0])} columns, errors at column {len(written[0])}"
    assert written[1] == [*["" if c is None else c for c in cells[1]], "身份证号: the check digit"]


def test_the_errors_of_a_short_or_long_csv_row_stand_under_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row with fewer cells than the header is padded (its errors are not read back as a field); one with more
    keeps the extra cells after `errors`, so nothing the clerk wrote is lost."""
    source = tmp_path / "企业名单.csv"
    source.write_text("姓名,身份证号,性别\n张三\n李四,1,男,多余\n", encoding="utf-8")
    problem = [{"pointer": "", "detail": "does not fit"}]
    _fake_intake(
        monkeypatch,
        lambda _request: _lines(
            {"row": 2, "status": "rejected", "errors": problem},
            {"row": 3, "status": "rejected", "errors": problem},
            {"summary": {"rows": 2, "accepted": 0, "duplicate": 0, "rejected": 2}},
        ),
    )
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 1, result.output
    written = list(csv.reader(io.StringIO((tmp_path / "企业名单.rejected.csv").read_text(encoding="utf-8-sig"))))
    assert written == [
        ["姓名", "身份证号", "性别", "errors"],
        ["张三", "", "", "row: does not fit"],
        ["李四", "1", "男", "row: does not fit", "多余"],
    ]


@pytest.mark.parametrize(
    ("status", "page", "said"),
    [
        (413, b"<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>", "413"),
        (502, b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>", "Bad Gateway"),
        (503, b"", "Service Unavailable"),
    ],
)
def test_a_refusal_that_is_not_json_is_said_plainly_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, page: bytes, said: str
) -> None:
    """A reverse proxy's HTML page (413, 502) is a refusal (exit 2, nothing imported), not a traceback and exit 1
    (which tells the clerk to look for a file of rejected rows)."""
    source = tmp_path / "list.ndjson"
    source.write_text(json.dumps(record(sequence=51), ensure_ascii=False) + "\n", encoding="utf-8")
    _fake_intake(monkeypatch, lambda _r: httpx.Response(status, content=page, headers={"content-type": "text/html"}))
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert f"intake answered {status}" in result.output
    assert said in result.output
    assert "<" not in result.output
    assert not (tmp_path / "list.rejected.ndjson").exists()


def test_rejected_naming_the_file_imported_is_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--rejected` naming the input (by any path to it) would empty the clerk's list before it is read back."""
    source = tmp_path / "list.ndjson"
    content = ndjson_bytes([record(sequence=61), record(sequence=63)])
    source.write_bytes(content)
    (tmp_path / "here").mkdir()
    sent = _fake_intake(monkeypatch, _second_row_rejected)
    for same in (source, tmp_path / "here" / ".." / "list.ndjson"):
        result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y", "--rejected", str(same)])
        assert result.exit_code == 2, result.output
        assert "--rejected names the file being imported" in result.output
    assert sent == []
    assert source.read_bytes() == content


def test_an_interrupted_write_leaves_the_earlier_rejected_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rejected rows are written beside the file and renamed into place: Ctrl-C half-way through leaves
    the earlier file as it was and no half file."""
    source = tmp_path / "list.json"
    source.write_bytes(json_bytes([record(sequence=71), [], "not a record"]))
    earlier = tmp_path / "list.rejected.ndjson"
    earlier.write_text('{"_errors": "from the import before"}\n', encoding="utf-8")
    _fake_intake(
        monkeypatch,
        lambda _request: _lines(
            {"row": 1, "status": "accepted", "record_id": "r1", "case_id": "c1", "case_version": 1},
            {"row": 2, "status": "rejected", "errors": [{"pointer": "", "detail": "must be a JSON object"}]},
            {"row": 3, "status": "rejected", "errors": [{"pointer": "", "detail": "must be a JSON object"}]},
            {"summary": {"rows": 3, "accepted": 1, "duplicate": 0, "rejected": 2}},
        ),
    )
    described = import_cli._describe

    def interrupted_at_the_second(errors: list[dict[str, str]]) -> str:
        if interrupted_at_the_second.calls:  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        interrupted_at_the_second.calls += 1  # type: ignore[attr-defined]
        return described(errors)

    interrupted_at_the_second.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(import_cli, "_describe", interrupted_at_the_second)
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code != 0
    assert earlier.read_text(encoding="utf-8") == '{"_errors": "from the import before"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.json", "list.rejected.ndjson"]

    monkeypatch.setattr(import_cli, "_describe", described)
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 1, result.output
    assert [json.loads(line) for line in earlier.read_text(encoding="utf-8-sig").splitlines()] == [
        {"_raw": "[]", "_errors": "row: must be a JSON object"},
        {"_raw": '"not a record"', "_errors": "row: must be a JSON object"},
    ]


@pytest.fixture(scope="module")
async def pooled(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Intake preparing bulk rows in a worker process (INTAKE_BULK_WORKERS), batches of three rows."""
    async with _intake(tmp_path_factory, "pooled", workers=1) as running:
        yield running


@pytest.fixture(scope="module")
async def threaded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Intake preparing bulk rows in a thread of its own process (INTAKE_BULK_WORKERS=0, for a host of one core)."""
    async with _intake(tmp_path_factory, "threaded", workers=0) as running:
        yield running


@asynccontextmanager
async def _intake(factory: pytest.TempPathFactory, name: str, *, workers: int) -> AsyncIterator[System]:
    running = await build_system(
        Path(factory.mktemp(name)), {"INTAKE_BULK_WORKERS": str(workers), "INTAKE_BULK_BATCH": "3"}
    )
    try:
        running.start("intake")
        yield running
    finally:
        await destroy_system(running)


def bulk_worker_pids(system: System) -> list[int]:
    """The worker processes: children of the forkserver, itself a child of intake."""
    intake_pid = system.processes["intake"].pid
    by_pid = parents()
    forkservers = [pid for pid, parent in by_pid.items() if parent == intake_pid]
    return [pid for pid, parent in by_pid.items() if parent in forkservers]


async def published(system: System, record_ids: set[str]) -> dict[str, RecordSubmitted]:
    topic = system.env["POPFLOW_TOPIC_PREFIX"] + RecordSubmitted.TOPIC
    envelopes = [Envelope.model_validate(e) for e in await kafka.read_all(system.env["KAFKA_BOOTSTRAP_SERVERS"], topic)]
    events = [parse_event(envelope, TEST_KEYRING) for envelope in envelopes]
    found = {e.record_id: e for e in events if isinstance(e, RecordSubmitted) and e.record_id in record_ids}
    return found if len(found) == len(record_ids) else {}


async def test_rows_prepared_in_a_worker_process_answer_and_publish(pooled: System) -> None:
    assert await eventually(lambda: bulk_worker_pids(pooled)), "the worker starts with the service"
    assert await eventually(lambda: workers_loaded(pooled)), "and says on /readyz when it has loaded"
    await _answers_and_publishes(pooled)
    cpu_before = sum(map(process_cpu_seconds, bulk_worker_pids(pooled)))
    many = [record(sequence=600 + i) for i in range(300)]  # enough work to show in the worker's CPU time
    response = await post(pooled, await pooled.create_key("admin"), csv_bytes(many, "chinese"), "text/csv")
    assert set(statuses(response.json())) == {"accepted"}
    assert sum(map(process_cpu_seconds, bulk_worker_pids(pooled))) > cpu_before, "the rows went through the worker"


SHIQIAO, SHAWAN_TOWN, SHAWAN_STREET = "440113007", "440113118", "440113017"  # 沙湾镇, retired for 沙湾街道


def naming_a_retired_street(sequence: int) -> list[dict[str, Any]]:
    """A row naming a retired street between two that name current ones."""
    return [
        record(sequence=sequence, reporting_street=SHIQIAO, residence_street=SHIQIAO),
        record(sequence=sequence + 1, reporting_street=SHIQIAO, residence_street=SHAWAN_TOWN),
        record(sequence=sequence + 2, reporting_street=SHIQIAO, residence_street=SHIQIAO),
    ]


async def test_a_row_naming_a_retired_street_is_answered_with_its_warning_from_a_worker_process(
    pooled: System,
) -> None:
    assert await eventually(lambda: workers_loaded(pooled))
    key = await pooled.create_key("district:440113")
    response = await post(pooled, key, csv_bytes(naming_a_retired_street(720), "chinese"), "text/csv")
    assert response.status_code == 200, response.text
    before, retired, after = response.json()["results"]
    assert [before["status"], retired["status"], after["status"]] == ["accepted"] * 3
    (warning,) = retired["warnings"]
    assert (warning["field"], warning["code"]) == ("residence.street", SHAWAN_TOWN)
    assert f"successor {SHAWAN_STREET}" in warning["note"]
    assert "warnings" not in before
    assert "warnings" not in after


async def test_import_cli_counts_the_rows_naming_a_retired_street(
    intake: System, admin_key: str, tmp_path: Path
) -> None:
    rows = naming_a_retired_street(730)
    source = tmp_path / "名单.csv"
    source.write_bytes(csv_bytes(rows, "chinese"))
    env = {"POPFLOW_API_KEY": admin_key, "POPFLOW_INTAKE_URL": intake.url("intake")}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["import", str(source)], env=env)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "1 row names a retired division code" in said
    assert f"its successor {SHAWAN_STREET} is used (residence.street): row 3" in said
    for row in rows:
        assert row["person"]["id_number"] not in said
        assert row["person"]["name"] not in said


async def _readyz(system: System) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=system.url("intake")) as client:
        return dict((await client.get("/readyz")).json())


async def workers_loaded(system: System) -> bool:
    return bool((await _readyz(system))["bulk_workers"]["loaded"])


async def test_rows_prepared_in_a_thread_answer_and_publish_alike(threaded: System) -> None:
    await asyncio.sleep(1)  # time enough for a worker to have started, were one started
    assert not bulk_worker_pids(threaded), "no worker process with INTAKE_BULK_WORKERS=0"
    await _answers_and_publishes(threaded)


async def _answers_and_publishes(system: System) -> None:
    admin = await system.create_key("admin")
    records = rows(500)
    response = await post(system, admin, csv_bytes(records, "chinese"), "text/csv")
    assert response.status_code == 200, response.text
    body = response.json()
    assert statuses(body) == EXPECTED
    assert [r["row"] for r in body["results"]] == list(range(2, 10))
    assert body["results"][2]["errors"][0]["column"]  # a rejection names its column, as in process
    accepted = {r["record_id"]: r for r in body["results"] if r["status"] == "accepted"}
    events = await eventually(lambda: published(system, set(accepted)))
    for record_id, event in events.items():
        assert (event.case_id, event.case_version) == (
            accepted[record_id]["case_id"],
            accepted[record_id]["case_version"],
        )
    assert events[body["results"][5]["record_id"]].record.event == "verification"  # the second person's second row
    assert body["results"][5]["case_version"] == 2


async def test_a_lost_worker_process_loses_no_row(pooled: System) -> None:
    admin = await pooled.create_key("admin")
    first = await eventually(lambda: bulk_worker_pids(pooled))
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    response = await post(pooled, admin, csv_bytes(rows(540), "chinese"), "text/csv")
    assert response.status_code == 200, response.text
    assert statuses(response.json()) == EXPECTED  # prepared in process once the pool broke
    again = await post(pooled, admin, csv_bytes(rows(580), "chinese"), "text/csv")
    assert statuses(again.json()) == EXPECTED
    later = await eventually(lambda: bulk_worker_pids(pooled))
    assert not set(later) & set(first), "a new pool, with new workers"
    log = pooled.log_text("intake")
    assert "bulk worker process lost" in log
    assert "Traceback" not in log


class _CutAfterFirstLine(httpx.SyncByteStream):
    """An answer whose connection drops after intake's first result line."""

    def __iter__(self) -> Iterator[bytes]:
        yield json.dumps({"row": 1, "status": "accepted", "record_id": "r1"}).encode() + b"\n"
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda _request: httpx.Response(200, stream=_CutAfterFirstLine()), "cut off after 1 of 2 rows"),
        (
            lambda _request: httpx.Response(200, content=b"<html><body>Portal login</body></html>\n"),
            "cut off after 0 of 2 rows",
        ),
    ],
    ids=["connection dropped", "not intake's answer"],
)
def test_an_answer_cut_off_part_way_says_what_stands_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response], said: str
) -> None:
    """Once rows were answered the import is no longer refused as a whole (2), nor intake unreachable before it
    began: the clerk is told the answered rows stand and to send the file again (stored rows: duplicates)."""
    source = tmp_path / "学校名单.ndjson"
    source.write_text("\n".join(json.dumps(record(sequence=n), ensure_ascii=False) for n in (41, 43)) + "\n")
    _fake_intake(monkeypatch, answer)
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y"])
    assert result.exit_code == 3, result.output
    assert said in " ".join(result.output.split())
    assert "send the same file again" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not (tmp_path / "学校名单.rejected.ndjson").exists()


def test_rejected_rows_for_a_folder_that_does_not_exist_are_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "list.ndjson"
    source.write_text(json.dumps(record(sequence=45), ensure_ascii=False) + "\n", encoding="utf-8")
    sent = _fake_intake(monkeypatch, _second_row_rejected)
    missing = tmp_path / "no-such-folder" / "rejected.ndjson"
    result = CliRunner().invoke(app, ["import", str(source), "--key", "pf_x_y", "--rejected", str(missing)])
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output
    assert sent == []

"""`popflow import` against a fake intake (httpx's MockTransport): what it says and exits with for the answers
a clerk's link and a proxy give; tests/e2e/test_intake_bulk.py runs it against a real intake."""

from __future__ import annotations

import json
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from services.cli.main import app
from services.intake.entrypoints import cli as import_cli
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

"""`popflow reporting rebuild` when the dead-letter topic refuses a dead letter: a line saying what to do, exit 2.

The replay's fold used to retry such a publish for ever, the rebuild hanging without a word; it now fails
the batch after a few tries (entrypoints/kafka.py), which the command says instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from services.reporting.adapters.fold_set_aside import DeadLetterRefused
from services.reporting.entrypoints import cli
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET


@dataclass
class Message:
    topic: str = "records.rejected"
    partition: int = 2
    offset: int = 17


def test_a_refused_dead_letter_stops_the_rebuild_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*_: Any) -> int:
        raise DeadLetterRefused(Message(), PermissionError("not authorised"))

    monkeypatch.setattr(cli, "_rebuild", refused)
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    done = CliRunner().invoke(cli.app, ["--into", "sqlite+aiosqlite:///unused.db"])
    assert done.exit_code == 2
    assert done.exception is None or isinstance(done.exception, SystemExit)  # no traceback
    said = " ".join(done.output.split())
    assert "records.rejected partition 2 offset 17" in said
    assert "(PermissionError)" in said
    assert "drop it" in said
    assert "rebuild again" in said

"""`popflow dead-letters replay` stopped by Ctrl-C: it says what was re-sent, and which one may or may not be."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaTimeoutError
from typer.testing import CliRunner

from services.cli import dead_letters
from services.cli.dead_letter_replays import Replay
from shared.settings import CommonSettings
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET


def plan(place: str, event_id: str) -> Replay:
    return Replay(
        topic="t.records.submitted",
        partition=0,
        offset=int(place.split(":")[1]),
        body=b"{}",
        headers={"replayed_from": place},
        event_id=event_id,
        event_type="RecordSubmitted",
        group="routing",
        error="UnknownKeyId",
    )


def test_a_replay_stopped_mid_way_names_the_re_sent_the_uncertain_and_the_unsent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    plans = [plan("0:1", "e-first"), plan("0:2", "e-second"), plan("0:3", "e-third")]

    async def planned(_: CommonSettings, __: object) -> list[Replay]:
        return plans

    async def resend(_: CommonSettings, __: list[Replay], *, by: str, sent: list[tuple[Replay, str, bool]]) -> None:
        sent.append((plans[0], "0:40", True))
        raise KeyboardInterrupt  # Ctrl-C while the second one was with Kafka

    monkeypatch.setattr(dead_letters, "replay_plans", planned)
    monkeypatch.setattr(dead_letters, "resend", resend)
    done = CliRunner().invoke(dead_letters.app, ["replay", "0:1", "0:2", "0:3", "--yes"], env={"COLUMNS": "300"})
    assert done.exit_code == 130
    assert "0:1: re-sent to t.records.submitted at 0:40." in done.output
    assert "stopped while re-sending 0:2" in done.output
    assert "look for event e-second" in done.output
    assert "1 after it were not re-sent." in done.output


def test_a_timeout_after_every_re_send_was_confirmed_says_so_and_names_none_as_uncertain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The producer's stop timing out once both re-sends were confirmed: no re-send is in doubt, and the replay
    is done (it read past the end of the plans, an IndexError, before)."""
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    plans = [plan("0:1", "e-first"), plan("0:2", "e-second")]

    async def planned(_: CommonSettings, __: object) -> list[Replay]:
        return plans

    async def resend(_: CommonSettings, __: list[Replay], *, by: str, sent: list[tuple[Replay, str, bool]]) -> None:
        sent.extend([(plans[0], "0:40", True), (plans[1], "0:41", True)])
        raise KafkaTimeoutError  # e.g. from the producer's stop

    monkeypatch.setattr(dead_letters, "replay_plans", planned)
    monkeypatch.setattr(dead_letters, "resend", resend)
    done = CliRunner().invoke(dead_letters.app, ["replay", "0:1", "0:2", "--yes"], env={"COLUMNS": "300"})
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert done.exit_code == 0
    assert "0:1: re-sent to t.records.submitted at 0:40." in done.output
    assert "0:2: re-sent to t.records.submitted at 0:41." in done.output
    assert "may have reached" not in done.output
    assert "every re-send was confirmed; Kafka then timed out as it closed." in done.output

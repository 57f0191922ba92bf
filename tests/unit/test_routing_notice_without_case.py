"""A notice whose case is not stored can never be handled: its answer is dead-lettered by the subscriber's
failure policy (not retried for ever), the reminder job sets it aside, and the error names the notice and the
record, never the person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlmodel import col

from services.routing.adapters.tables import CaseRow
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import reminders
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import NoticeWithoutCase, RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reminders import ReminderJob
from shared.clock import FixedClock
from shared.events import FeedbackResult, NoticeAnswered, NoticeIssued, parse_event
from shared.kafka.failures import is_permanent
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.logs import logged_by
from tests.support.records import XINSHI, record
from tests.support.routing import dead_letters_of, issued, recipients_answer, sqlite_routing

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[RoutingContext]:
    async with sqlite_routing(tmp_path, RECIPIENTS) as context:
        yield context


async def a_notice_without_its_case(context: RoutingContext) -> tuple[NoticeIssued, dict[str, object]]:
    """A record routed with a transfer notice, then its case row gone (the notice stays): the notice and the
    record's person."""
    body = record(residence_street=XINSHI, sequence=61)
    submitted = kafka.submitted(body)
    await RecordHandler(context).on_records([(submitted, parse_event(submitted, TEST_KEYRING))])
    (transfer,) = issued(context)
    async with context.sessions.begin() as session:
        await session.execute(delete(CaseRow).where(col(CaseRow.record_id) == transfer.record_id))
    return transfer, body["person"]


async def test_an_answer_to_a_notice_without_its_case_is_dead_lettered_with_ids_alone(
    context: RoutingContext,
) -> None:
    transfer, person = await a_notice_without_its_case(context)
    assert transfer.recipient_code == XINSHI  # who answers it
    envelope, answer = recipients_answer(transfer, FeedbackResult.CONFIRMED)
    with pytest.raises(NoticeWithoutCase) as caught:
        await AnswerHandler(context).on_notice_answered(envelope, answer)
    assert is_permanent(caught.value)

    # the subscriber's own classification: a retried error would leave publish raising, not a dead letter
    [headers] = await dead_letters_of(
        AnswerHandler(context).on_answers,
        [envelope.model_dump_json().encode()],
        topic=NoticeAnswered.TOPIC,
        group="routing-answers",
        batch=True,
    )
    assert headers["error_type"] == "NoticeWithoutCase"
    assert headers["error"] == f"notice {transfer.notice_id} has no stored case (record {transfer.record_id})"
    assert not any(str(value) in headers["error"] for value in person.values())


async def test_a_reminder_pass_sets_a_notice_without_its_case_aside_and_reminds_the_others(
    context: RoutingContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan, person = await a_notice_without_its_case(context)
    await RecordHandler(context).on_records(
        [
            (
                submitted := kafka.submitted(record(residence_street=XINSHI, sequence=62)),
                parse_event(submitted, TEST_KEYRING),
            )
        ]
    )
    other = next(notice for notice in issued(context) if notice.record_id != orphan.record_id)
    assert isinstance(context.clock, FixedClock)
    shanghai = ZoneInfo("Asia/Shanghai")
    context.clock.at = datetime(2027, 3, 10, 9, tzinfo=shanghai)  # past the reminder's day
    job = ReminderJob(context, deadline_days=3, holidays=[], zone=shanghai)
    before = len(issued(context))
    with logged_by(monkeypatch, reminders) as logs:
        assert await job.run_once() >= 1
    followed = issued(context)[before:]
    assert {notice.record_id for notice in followed} == {other.record_id}
    (aside,) = [line for line in logs if line["event"] == "notice set aside from follow-ups"]
    assert aside["notice_id"] == orphan.notice_id
    assert aside["log_level"] == "error"
    assert not any(str(value) in str(aside) for value in person.values())
    assert await job.run_once() == 0  # set aside: not met again

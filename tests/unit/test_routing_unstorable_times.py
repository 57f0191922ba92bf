"""An answer or a resolution stamped with a time no store can keep (without an offset, or before the year 1 once
in UTC) can never be applied: it is refused as it is decoded and dead-lettered, and the partition goes on. Taken
as valid, it failed when its time was written (SQLModel's datetime refuses a naive one, and cannot move one
before the year 1 to UTC), an error retried for ever that held back every later message of its partition."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reviews import ReviewHandler
from shared.events import (
    FeedbackResult,
    NoticeAnswered,
    Resolution,
    ReviewResolved,
    new_envelope,
    parse_event,
)
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import XINSHI, record
from tests.support.routing import dead_letters_of, issued, recipients_answer, sqlite_routing

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))
UNSTORABLE = ["2027-02-26T03:00:00", "0001-01-01T00:00:00+08:00"]  # no offset; before the year 1 in UTC


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[RoutingContext]:
    async with sqlite_routing(tmp_path, RECIPIENTS) as context:
        yield context


def stamped(body: bytes, field: str, moment: str) -> bytes:
    """The message with its event's `field` (a time, not sealed) set to `moment` as it is written."""
    message = json.loads(body)
    message["payload"][field] = moment
    return json.dumps(message).encode()


@pytest.mark.parametrize("moment", UNSTORABLE)
async def test_an_answer_at_a_time_no_store_keeps_is_dead_lettered(context: RoutingContext, moment: str) -> None:
    submitted = kafka.submitted(record(residence_street=XINSHI, sequence=91))
    await RecordHandler(context).on_records([(submitted, parse_event(submitted, TEST_KEYRING))])
    (transfer,) = issued(context)
    assert transfer.recipient_code == XINSHI  # who answers it
    envelope, _ = recipients_answer(transfer, FeedbackResult.CONFIRMED)
    body = stamped(envelope.model_dump_json().encode(), "answered_at", moment)
    [headers] = await dead_letters_of(
        AnswerHandler(context, park=True).on_answers,
        [body],
        topic=NoticeAnswered.TOPIC,
        group="routing-answers",
        batch=True,
    )
    assert headers["error_type"] == "ValidationError"
    assert headers["error"].startswith("answered_at")


@pytest.mark.parametrize("moment", UNSTORABLE)
async def test_a_resolution_at_a_time_no_store_keeps_is_dead_lettered(context: RoutingContext, moment: str) -> None:
    queued = kafka.unchecked_submitted(record(residence_street="440111999", sequence=92))
    await RecordHandler(context).on_records([(queued, parse_event(queued, TEST_KEYRING))])
    resolution = ReviewResolved(
        record_id=queued.correlation_id,
        resolution=Resolution.DISMISSED,
        field="residence.street",
        reason="a duplicate",
        resolved_by="440111",
        resolved_at=datetime(2027, 2, 26, 3, tzinfo=UTC),
    )
    envelope = new_envelope(resolution, producer="routing", correlation_id=resolution.record_id)
    body = stamped(envelope.model_dump_json().encode(), "resolved_at", moment)
    [headers] = await dead_letters_of(
        ReviewHandler(context).on_review_resolved,
        [body],
        topic=ReviewResolved.TOPIC,
        group="routing-reviews",
    )
    assert headers["error_type"] == "ValidationError"
    assert headers["error"].startswith("resolved_at")

"""An event of another type on a topic routing consumes (a producer writing to the wrong topic) can never be
handled there: it is dead-lettered by the subscriber's failure policy, and the partition goes on, instead of
being retried for ever and holding back every message behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reviews import ReviewHandler
from shared.events import Envelope, FeedbackResult, NoticeAnswered, RecordSubmitted, ReviewResolved, new_envelope
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import XINSHI, record
from tests.support.routing import dead_letters_of, issued, sqlite_routing

RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[RoutingContext]:
    async with sqlite_routing(tmp_path, RECIPIENTS) as context:
        yield context


def an_answer() -> Envelope:
    answer = NoticeAnswered(
        notice_id="00000000-0000-5000-8000-000000000001",
        record_id="00000000-0000-4000-8000-000000000001",
        result=FeedbackResult.CONFIRMED,
        answered_by=XINSHI,
        answered_at=datetime(2027, 2, 26, 3, tzinfo=UTC),
    )
    return new_envelope(answer, producer="notification", correlation_id=answer.record_id, keyring=TEST_KEYRING)


async def test_an_answer_on_the_records_topic_is_dead_lettered_and_the_next_record_routed(
    context: RoutingContext,
) -> None:
    good = kafka.submitted(record(residence_street=XINSHI, sequence=71))
    [headers] = await dead_letters_of(
        RecordHandler(context).on_records,
        [an_answer().model_dump_json().encode(), good.model_dump_json().encode()],
        topic=RecordSubmitted.TOPIC,
        group="routing",
        batch=True,
    )
    assert headers["error_type"] == "ForeignEvent"
    assert NoticeAnswered.TYPE in headers["error"]
    assert [notice.record_id for notice in issued(context)] == [good.correlation_id]


async def test_a_record_on_the_answers_topic_is_dead_lettered(context: RoutingContext) -> None:
    stray = kafka.submitted(record(residence_street=XINSHI, sequence=72))
    [headers] = await dead_letters_of(
        AnswerHandler(context, park=True).on_answers,
        [stray.model_dump_json().encode()],
        topic=NoticeAnswered.TOPIC,
        group="routing-answers",
        batch=True,
    )
    assert headers["error_type"] == "ForeignEvent"
    assert RecordSubmitted.TYPE in headers["error"]


async def test_an_answer_on_the_reviews_topic_is_dead_lettered(context: RoutingContext) -> None:
    [headers] = await dead_letters_of(
        ReviewHandler(context).on_review_resolved,
        [an_answer().model_dump_json().encode()],
        topic=ReviewResolved.TOPIC,
        group="routing-reviews",
    )
    assert headers["error_type"] == "ForeignEvent"
    assert NoticeAnswered.TYPE in headers["error"]

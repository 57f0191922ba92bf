"""A week where the rebuild's order matters, as routing ran it, kept by topic and partition.

One person's record waits in the review queue (its reporting street is
unknown); the bureau corrects it, and the record is routed; the next day the
person is reported gone from that street, which marks the routed case. A
rebuild that replayed every record before any resolution read the outflow
while the first record still waited (it marked nothing) and routed it
afterwards: the case stayed open. Another person's record sits on the
partition read first, and happened last.

`a_week_where_answers_come_between_records`: the residence streets' answers
move two persons' cases to another street before an outflow of each is
reported, which marks (or leaves) the case by the street it lives at then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from services.routing.adapters.emitter import RecordingEmitter
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer import reviews
from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared.auth import Principal, parse_scope
from shared.clock import FixedClock
from shared.events import (
    Envelope,
    Event,
    FeedbackResult,
    NoticeAnswered,
    Resolution,
    ReviewResolved,
    new_envelope,
    parse_event,
)
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, XINSHI, record

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
LAG = timedelta(seconds=2)  # from a message to the live service's handling of it
RECIPIENTS = Recipients.of(["440111"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))
SANYUANLI = "440111002"  # 三元里街道, Baiyun
STATE = {
    "cases": "SELECT record_id, version, status, route, reporting_street, residence_street FROM cases",
    # whether an outflow marked the case left: its notices are then no longer followed up (reminders.py)
    "left": "SELECT record_id FROM cases WHERE left_at IS NOT NULL",
    "decisions": "SELECT record_id, route, reporting_street, residence_street, notice_id FROM routed_records",
    "notices": "SELECT notice_id, kind, recipient_code, case_version, reason, result FROM notices",
    "review items": "SELECT record_id, field, reporting_street, resolution, resolved_code FROM review_queue",
}
Handle = Callable[[Envelope, Event], Awaitable[None]]


class Live:
    """Routing as it ran: each message handled LAG after it happened, kept on its topic's partition."""

    def __init__(self, context: RoutingContext, clock: FixedClock) -> None:
        self.context, self.clock = context, clock
        self.partitions: dict[str, dict[int, list[bytes]]] = {}

    async def handle(self, envelope: Envelope, handle: Handle, *, partition: int = 0) -> None:
        event = parse_event(envelope, TEST_KEYRING)
        self.partitions.setdefault(event.TOPIC, {}).setdefault(partition, []).append(
            envelope.model_dump_json().encode()
        )
        self.clock.at = envelope.occurred_at + LAG
        await handle(envelope, event)

    async def read(self, topic: str) -> list[AsyncIterator[bytes]]:
        """The topic's partitions, by partition number, each from its first message."""
        return [_stream(messages) for _, messages in sorted(self.partitions.get(topic, {}).items())]


async def a_week_where_order_matters(live: Live) -> str:
    """The week of the module's docstring, run live; returns the first record's id."""
    seen = record(reporting_street="440111999", sequence=71, observed_at="2026-11-23T09:00:00+08:00")
    first = await _submit(live, seen, MONDAY, partition=1)
    await _correct_reporting_street(live, first, MONDAY + timedelta(hours=4))
    gone = record(sequence=71, event="outflow", observed_at="2026-11-24T08:00:00+08:00")
    await _submit(live, gone, MONDAY + timedelta(days=1), partition=1)
    other = record(residence_street=XINSHI, sequence=72, observed_at="2026-11-25T09:00:00+08:00")
    await _submit(live, other, MONDAY + timedelta(days=2), partition=0)
    return first


async def a_week_where_answers_come_between_records(live: Live) -> dict[str, str]:
    """The second week of the module's docstring, run live; returns each case's record id by what befell it.

    `moved, then left`: 新市 answers that the person lives in 三元里 (the case is routed there); the next
    day the person is reported gone from 三元里, which marks the case left. `moved, then left the old
    street`: the same answer, then an outflow from 新市, which the person had left already (the case, in
    三元里 by then, is not marked). `confirmed, then left`: 新市 confirms, then the person leaves 新市.
    Answers are on the partition read first, records on the other.
    """
    cases = {}
    for sequence, what in enumerate(("moved, then left", "moved, then left the old street", "confirmed, then left")):
        seen = record(residence_street=XINSHI, sequence=81 + sequence, observed_at="2026-11-23T09:00:00+08:00")
        cases[what] = await _submit(live, seen, MONDAY + timedelta(minutes=sequence), partition=1)
    moved = {"residence_street": SANYUANLI}
    await _answer(live, cases["moved, then left"], MONDAY + timedelta(hours=3), FeedbackResult.CORRECTED, moved)
    await _answer(
        live, cases["moved, then left the old street"], MONDAY + timedelta(hours=3), FeedbackResult.CORRECTED, moved
    )
    await _answer(live, cases["confirmed, then left"], MONDAY + timedelta(hours=3), FeedbackResult.CONFIRMED)
    for sequence, left in ((81, SANYUANLI), (82, XINSHI), (83, XINSHI)):
        gone = record(
            residence_street=left, sequence=sequence, event="outflow", observed_at="2026-11-24T08:00:00+08:00"
        )
        await _submit(live, gone, MONDAY + timedelta(days=1, minutes=sequence), partition=1)
    return cases


async def answer_with_a_clock_behind(live: Live, behind: timedelta) -> str:
    """A record routed, and its transfer confirmed by a partner whose clock is `behind` ours: the answer is
    stamped before the record was submitted. Returns the record's id."""
    record_id = await _submit(live, record(residence_street=XINSHI, sequence=91), MONDAY, partition=1)
    await _answer(live, record_id, MONDAY + timedelta(minutes=5) - behind, FeedbackResult.CONFIRMED)
    return record_id


async def state(context: RoutingContext) -> dict[str, list[tuple[Any, ...]]]:
    """What the store decided (no times: a rebuilt time is the live one less LAG)."""
    async with context.sessions() as session:
        return {what: sorted(map(tuple, (await session.execute(text(sql))).all())) for what, sql in STATE.items()}


async def _stream(messages: list[bytes]) -> AsyncIterator[bytes]:
    for message in messages:
        yield message


async def _submit(live: Live, body: dict[str, Any], moment: datetime, *, partition: int) -> str:
    envelope = kafka.unchecked_submitted(body).model_copy(update={"occurred_at": moment})
    await live.handle(envelope, RecordHandler(live.context).on_record_submitted, partition=partition)
    return envelope.correlation_id


async def _correct_reporting_street(live: Live, record_id: str, moment: datetime) -> None:
    """Baiyun's bureau corrects the item's reporting street to 同德; routing applies what it published."""
    live.clock.at = moment
    emitter = live.context.emitter
    assert isinstance(emitter, RecordingEmitter)
    bureau = Principal("k", parse_scope("district:440111"))
    await reviews.resolve(
        live.context, bureau, record_id, resolution=Resolution.CORRECTED, code=TONGDE, reason=None, acting="440111"
    )
    (published,) = [e.envelope for e in emitter.events if e.type == ReviewResolved.TYPE]
    await live.handle(published, reviews.ReviewHandler(live.context).on_review_resolved)


async def _answer(
    live: Live, record_id: str, moment: datetime, result: FeedbackResult, corrections: dict[str, str] | None = None
) -> None:
    """The recipient of the record's notice that awaits an answer answers it, as notification publishes it."""
    async with live.context.sessions() as session:
        waiting = text("SELECT notice_id, recipient_code FROM notices WHERE record_id = :r AND awaits_answer")
        notice_id, recipient = (await session.execute(waiting, {"r": record_id})).one()
    answer = NoticeAnswered(
        notice_id=notice_id,
        record_id=record_id,
        result=result,
        corrections=corrections or {},
        answered_by=recipient,
        answered_at=moment,
    )
    envelope = new_envelope(
        answer, producer="notification", correlation_id=record_id, occurred_at=moment, keyring=TEST_KEYRING
    )
    await live.handle(envelope, AnswerHandler(live.context, park=True).on_notice_answered)

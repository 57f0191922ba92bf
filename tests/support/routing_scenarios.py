"""Routing's store contract: scenarios run through the use cases, on SQLite and on PostgreSQL alike.

Each scenario drives the handlers as the service does and returns what a test checks; the unit suite runs
them on the embedded store, the integration suite on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.routing.adapters import case_store, notice_store, review_store
from services.routing.adapters.emitter import RecordingEmitter
from services.routing.service_layer import reviews, views
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reminders import ReminderJob
from shared.auth import Principal, parse_scope
from shared.clock import FixedClock
from shared.events import Envelope, FeedbackResult, NoticeKind, Resolution, ReviewResolved, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, WUSHAN, XINSHI, record
from tests.support.routing import answer_as_recipient, issued

TIANHE_SHIPAI = "440106002"  # 石牌街道, Tianhe: where the residence district finds the person instead
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def route(context: RoutingContext, *bodies: dict[str, Any]) -> list[Envelope]:
    """The records routed, each in a batch of its own, in order; their envelopes."""
    envelopes = [kafka.submitted(body) for body in bodies]
    for envelope in envelopes:
        await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    return envelopes


async def relays_after_a_corrected_residence(
    context: RoutingContext, final: FeedbackResult
) -> tuple[list[str], list[tuple[int, str, str]]]:
    """Reported in Baiyun, living in Tianhe; Tianhe answers the forward `corrected` to another of its streets,
    then the new forward `final`. Returns the reasons of the feedback notices issued to the reporting bureau,
    and (version, occasion, reason) of those stored."""
    envelope = kafka.submitted(record(residence_street=WUSHAN, sequence=45))
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    (forward,) = [n for n in issued(context) if n.kind is NoticeKind.FORWARD]
    await answer_as_recipient(
        context, forward, FeedbackResult.CORRECTED, corrections={"residence_street": TIANHE_SHIPAI}
    )
    (again,) = [n for n in issued(context) if n.kind is NoticeKind.FORWARD and n.notice_id != forward.notice_id]
    await answer_as_recipient(context, again, final)
    relayed = [n.reason for n in issued(context) if n.kind is NoticeKind.FEEDBACK]
    async with context.sessions() as session:
        rows = await notice_store.notices_of(session, envelope.correlation_id)
    stored = sorted((n.case_version, n.occasion, n.reason) for n in rows if n.kind == NoticeKind.FEEDBACK.value)
    return relayed, stored


async def follow_ups_after_outflows(context: RoutingContext) -> dict[str, list[str]]:
    """Three people reported by 同德 on Friday 2027-02-26 (the context's clock) as living in 新市, each asked of
    新市 with a transfer: `stayed`, `left` (新市 reports on Monday that the person left for an unknown place), and
    `moved` (reported with an outflow from 同德 to 新市: 新市 is asked to verify the newcomer). The reminder job
    runs with N = 3 on Wednesday (reminders) and on the Monday after (escalations). Returns the kinds of the
    follow-ups by person."""
    assert isinstance(context.clock, FixedClock)
    assert isinstance(context.emitter, RecordingEmitter)
    moved = record(sequence=53, event="outflow")
    moved["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    friday = await route(
        context, record(residence_street=XINSHI, sequence=51), record(residence_street=XINSHI, sequence=52), moved
    )
    people = dict(zip(("stayed", "left", "moved"), (e.correlation_id for e in friday), strict=True))
    context.clock.at = datetime(2027, 3, 1, 9, tzinfo=SHANGHAI)
    await route(context, record(reporting_street=XINSHI, residence_street=XINSHI, sequence=52, event="outflow"))
    job = ReminderJob(context, deadline_days=3, holidays=[], zone=SHANGHAI)
    context.emitter.events.clear()
    for day in (3, 8):
        context.clock.at = datetime(2027, 3, day, 9, tzinfo=SHANGHAI)
        await job.run_once()
    follow_ups = [n for n in issued(context) if n.kind in (NoticeKind.REMINDER, NoticeKind.ESCALATION)]
    return {who: [n.kind.value for n in follow_ups if n.record_id == record_id] for who, record_id in people.items()}


async def statuses_after_an_outflow(context: RoutingContext, *, outflow_first: bool) -> dict[str, str]:
    """One person: reported living in 同德 on Saturday 2027-02-20 (`before`); reported by 新市 as a new inflow
    living there, seen on Monday the 22nd (`new_home`); reported by 同德 as gone to 新市, seen on Tuesday the 23rd
    (`outflow`, read before or after `new_home`); reported living in 同德 again, seen on Wednesday the 24th
    (`back`, read first). Returns each case's status."""

    def seen(day: int, **fields: Any) -> dict[str, Any]:
        return record(sequence=55, observed_at=f"2027-02-{day}T10:30:00+08:00", **fields)

    outflow = seen(23, event="outflow")
    outflow["new_residence"] = {"street": XINSHI, "address": "新市街道 棠乐路 8 号"}
    new_home = seen(22, reporting_street=XINSHI, residence_street=XINSHI)
    before, back = await route(context, seen(20), seen(24))
    later = await route(context, *((outflow, new_home) if outflow_first else (new_home, outflow)))
    moved, home = later if outflow_first else later[::-1]
    statuses = {}
    async with context.sessions() as session:
        for who, envelope in (("before", before), ("new_home", home), ("outflow", moved), ("back", back)):
            case = await case_store.load_case(session, envelope.correlation_id, TEST_KEYRING)
            assert case is not None
            statuses[who] = case.status.value
    return statuses


async def queues_after_a_correction_that_still_cannot_route(context: RoutingContext) -> dict[str, Any]:
    """Reported by a street unknown to the directory under Tianhe's code (440106999) about someone registered
    in no district (449999): the admin corrects the reporting street to Baiyun's 同德, and the record waits on
    its registration now. Returns the item's reporting street and field, whether each bureau's queue shows it,
    and whether Baiyun's bureau may correct the registration (None) or is refused (the status)."""
    assert isinstance(context.emitter, RecordingEmitter)
    body = record(reporting_street="440106999", sequence=59)
    body["registration"]["division"] = "449999"
    submitted = kafka.unchecked_submitted(body)
    record_id = submitted.correlation_id
    await RecordHandler(context).on_records([(submitted, parse_event(submitted, TEST_KEYRING))])
    admin = Principal("k", parse_scope("admin"))
    await _resolved(context, admin, record_id, TONGDE, acting="admin")
    async with context.sessions() as session:
        item = await review_store.load_review(session, record_id)
    assert item is not None
    queues = {}
    for bureau in ("440106", "440111"):
        items = await views.review_queue(context, Principal("k", parse_scope(f"district:{bureau}")), limit=10)
        queues[bureau] = record_id in {queued["record_id"] for queued in items}
    try:
        await _resolved(context, Principal("k", parse_scope("district:440111")), record_id, "440106", acting="440111")
        refused = None
    except reviews.ResolutionRefused as refusal:
        refused = refusal.status
    return {"reporting_street": item.reporting_street, "field": item.field, "queues": queues, "refused": refused}


async def _resolved(context: RoutingContext, principal: Principal, record_id: str, code: str, *, acting: str) -> None:
    """`principal` corrects the item's field to `code`, and routing applies the event it published."""
    assert isinstance(context.emitter, RecordingEmitter)
    await reviews.resolve(
        context, principal, record_id, resolution=Resolution.CORRECTED, code=code, reason=None, acting=acting
    )
    envelope = context.emitter.events[-1].envelope
    event = parse_event(envelope, TEST_KEYRING)
    assert isinstance(event, ReviewResolved)
    await reviews.ReviewHandler(context).on_review_resolved(envelope, event)

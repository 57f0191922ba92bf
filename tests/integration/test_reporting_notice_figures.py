"""Which notices the weekly report counts, on both stores.

Sent and received (表二's 发出/收到通知) count the notices that hand a case over: a transfer to the street
the person lives in, a forward to the bureau of their district. Routing issues more: for an inter-district
case a transfer that only informs the reporting bureau, reminders and escalations of unanswered notices,
registration notices ... None of those is a handover, and none awaits an answer, so none is ever
"unanswered" either. A notice folded before migration 0010 kept no kind and counts as it always did.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.service_layer.reports import ReportService
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations
from shared.events import (
    CaseRecord,
    Event,
    EventKind,
    FeedbackResult,
    NoticeAnswered,
    NoticeIssued,
    NoticeKind,
    NoticePerson,
    Person,
    RecordSubmitted,
    Registration,
    Residence,
    Route,
    new_envelope,
)
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.records import BAIYUN, FURONG, TONGDE, WUSHAN, XINSHI, id_number
from tests.support.reporting import report_service
from tests.support.stores import STORES, migrated_store

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WeekCalendar(SHANGHAI)
W08 = "2027-W08"  # Friday 2027-02-19 10:00 to Friday 2027-02-26 10:00, Shanghai
CUT_OFF = CALENDAR.bounds(W08).ends_at
TIANHE = "440106"


def at(day: int, hour: int) -> datetime:
    return datetime(2027, 2, day, hour, tzinfo=SHANGHAI)


def rid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"popflow-test/notice-figures/{name}"))


def submitted(name: str, residence: str) -> RecordSubmitted:
    return RecordSubmitted(
        record_id=rid(name),
        received_at=at(22, 11),
        record=CaseRecord(
            event=EventKind.NEW_INFLOW,
            person=Person(id_number=id_number(sequence=21), name="测试"),
            reporting_street=TONGDE,
            residence=Residence(street=residence, address="测试路 1 号"),
            registration=Registration(division=FURONG),
            observed_at=at(22, 10),
        ),
    )


def issued(name: str, record: str, recipient: str, route: Route, kind: NoticeKind, *, expected: bool) -> NoticeIssued:
    return NoticeIssued(
        notice_id=rid(name),
        record_id=rid(record),
        recipient_code=recipient,
        route=route,
        reason="test",
        person=NoticePerson(name="测试", id_number=id_number(sequence=21), residence_address="测试路 1 号"),
        issued_at=at(22, 12),
        kind=kind,
        answer_expected=expected,
    )


INTER, CROSS = Route.INTER_DISTRICT, Route.CROSS_STREET
# r1: an inter-district case as routing issues it; r2: a cross-street case, reminded, then escalated
EVENTS: list[Event] = [
    submitted("r1", WUSHAN),
    issued("r1-info", "r1", BAIYUN, INTER, NoticeKind.TRANSFER, expected=False),  # tells the reporting bureau
    issued("r1-forward", "r1", TIANHE, INTER, NoticeKind.FORWARD, expected=True),  # the handover
    submitted("r2", XINSHI),
    issued("r2-transfer", "r2", XINSHI, CROSS, NoticeKind.TRANSFER, expected=True),  # the handover
    issued("r2-reminder", "r2", XINSHI, CROSS, NoticeKind.REMINDER, expected=False),
    issued("r2-escalation", "r2", BAIYUN, CROSS, NoticeKind.ESCALATION, expected=False),
    issued("r2-change", "r2", XINSHI, CROSS, NoticeKind.CHANGE, expected=False),
]


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store(request.param, "notice_figures_", MIGRATIONS, tmp_path) as engine:
        yield engine


async def fold(engine: AsyncEngine, events: list[Event]) -> None:
    messages = [
        new_envelope(event, producer="test", correlation_id="c", keyring=TEST_KEYRING).model_dump_json().encode()
        for event in events
    ]
    decoded = Decoder(CALENDAR, b"secret", TEST_KEYRING).decode([Message(value) for value in messages])
    assert decoded.unreadable == []
    await FactWriter(engine).write(decoded.batch)


class Message:
    def __init__(self, value: bytes) -> None:
        self.value, self.topic, self.offset = value, "t", 0


def reports_at(engine: AsyncEngine, now: datetime) -> ReportService:
    return report_service(engine, CALENDAR, FixedClock(now))


async def test_an_inter_district_case_is_one_notice_sent_and_only_awaited_notices_stay_unanswered(
    engine: AsyncEngine,
) -> None:
    await fold(engine, EVENTS)
    reports = reports_at(engine, CUT_OFF + timedelta(days=30))  # long after: every notice over 7 days old
    district = await reports.weekly(BAIYUN, W08)
    streets = {s["code"]: s["figures"] for s in district["streets"]}

    assert (streets[TONGDE]["sent_inter-district"], streets[TONGDE]["sent_cross-street"]) == (1, 1)
    assert streets[XINSHI]["received_cross-street"] == 1  # the transfer, not its reminder or the change
    assert district["figures"]["received_inter-district"] == 0  # the bureau was only told
    assert district["figures"]["received_cross-street"] == 1  # the escalation to the bureau is none
    assert streets[XINSHI]["unanswered_3_to_7_days"] == 1  # 3-7 days old at the cut-off: the transfer alone
    assert district["figures"]["unanswered_3_to_7_days"] == 1

    for figure, street in (("sent_inter-district", TONGDE), ("sent_cross-street", TONGDE)):
        items = await reports.items(street, W08, figure)
        assert items["count"] == 1, figure
    assert (await reports.items(BAIYUN, W08, "unanswered_3_to_7_days"))["items"] == [
        {"id": rid("r2"), "street": XINSHI, "community": None}
    ]
    quality = {q["street"]: q for q in (await reports.quality(BAIYUN, W08))["streets"]}
    assert quality[XINSHI]["notices_answered_within_target"]["due"] == 1  # the transfer, not its reminder


async def test_the_fact_keeps_the_kind_the_upcast_gives_a_version_1_notice(engine: AsyncEngine) -> None:
    """A version-1 NoticeIssued is upcast to a transfer, awaited when cross-street: it counts as a handover
    then, and an inter-district one (routing awaited only forwards) does not."""
    cross = issued("old-cross", "r2", XINSHI, CROSS, NoticeKind.TRANSFER, expected=True)
    inter = issued("old-inter", "r1", TIANHE, INTER, NoticeKind.TRANSFER, expected=True)
    messages = []
    for event in (cross, inter):
        envelope = new_envelope(event, producer="test", correlation_id="c", keyring=TEST_KEYRING)
        payload = {
            k: v
            for k, v in event.model_dump(mode="json").items()
            if k not in ("kind", "exchange_endpoint", "answer_expected", "answer_due")
        }
        messages.append(
            Message(envelope.model_copy(update={"version": 1, "payload": payload}).model_dump_json().encode())
        )
    decoded = Decoder(CALENDAR, b"secret", TEST_KEYRING).decode(messages)
    facts = decoded.batch.issued
    assert (facts[rid("old-cross")].kind, facts[rid("old-cross")].answer_expected) == ("transfer", True)
    assert (facts[rid("old-inter")].kind, facts[rid("old-inter")].answer_expected) == ("transfer", False)
    await fold(engine, [submitted("r1", WUSHAN), submitted("r2", XINSHI)])
    await FactWriter(engine).write(decoded.batch)

    figures = (await reports_at(engine, CUT_OFF).weekly(TONGDE, W08))["figures"]
    assert (figures["sent_cross-street"], figures["sent_inter-district"]) == (1, 0)


@contextlib.asynccontextmanager
async def store_at(kind: str, revision: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    name = unique_name("notice_kinds_")
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db" if kind == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        await run_migrations(engine, MIGRATIONS, revision=revision)
        yield engine
    finally:
        await engine.dispose()
        if kind == "postgresql":
            await drop_database(name)


@pytest.mark.parametrize("kind", STORES)
async def test_notices_folded_before_their_kind_was_kept_count_as_they_did(kind: str, tmp_path: Path) -> None:
    """Revision 0010 on a store at 0009: its notices keep no kind, and count as handovers awaiting an answer."""
    async with store_at(kind, "0009", tmp_path) as engine:
        await fold(engine, [submitted("r1", WUSHAN), submitted("r2", XINSHI)])
        at_0009 = sa.table(
            "report_notices",
            *(sa.column(c) for c in ("notice_id", "record_id", "recipient_code", "route", "issued_at", "week")),
            sa.column("sender_street"),
        )
        rows = [
            (rid("r1-info"), rid("r1"), BAIYUN, "inter-district"),
            (rid("r1-forward"), rid("r1"), TIANHE, "inter-district"),
            (rid("r2-transfer"), rid("r2"), XINSHI, "cross-street"),
        ]
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(at_0009),
                [
                    dict(zip(("notice_id", "record_id", "recipient_code", "route"), row, strict=True))
                    | {"issued_at": at(22, 12), "week": W08, "sender_street": TONGDE}
                    for row in rows
                ],
            )
        await run_migrations(engine, MIGRATIONS)
        district = await reports_at(engine, CUT_OFF).weekly(BAIYUN, W08)

    streets = {s["code"]: s["figures"] for s in district["streets"]}
    assert (streets[TONGDE]["sent_inter-district"], streets[TONGDE]["sent_cross-street"]) == (2, 1)  # as before
    assert district["figures"]["received_inter-district"] == 1  # the bureau's, as before
    assert district["figures"]["unanswered_3_to_7_days"] == 2  # the bureau's and 新市's, as before


def answer(name: str, record: str, when: datetime) -> NoticeAnswered:
    return NoticeAnswered(
        notice_id=rid(name),
        record_id=rid(record),
        result=FeedbackResult.CONFIRMED,
        answered_by=XINSHI,
        answered_at=when,
    )


async def test_answers_within_target_are_judged_once_the_target_has_passed(engine: AsyncEngine) -> None:
    """Target 7 days. Issued on Monday 2027-02-22 12:00 of W08: answered after 3 days (in time), after
    9 days (late), never (due once the target has passed); a reminder expects no answer."""
    issued_at = at(22, 12)
    await fold(
        engine,
        [
            submitted("r2", XINSHI),
            *[issued(n, "r2", XINSHI, CROSS, NoticeKind.TRANSFER, expected=True) for n in ("n3d", "n9d", "never")],
            issued("r2-reminder", "r2", XINSHI, CROSS, NoticeKind.REMINDER, expected=False),
            answer("n3d", "r2", issued_at + timedelta(days=3)),
            answer("n9d", "r2", issued_at + timedelta(days=9)),
        ],
    )

    late = await reports_at(engine, CUT_OFF + timedelta(days=30)).quality(BAIYUN, W08)
    figure = {q["street"]: q for q in late["streets"]}[XINSHI]["notices_answered_within_target"]
    assert figure == {"count": 1, "due": 3, "share": 0.3333}
    assert late["answers_final"] is True
    assert late["answers_as_of"] == (CUT_OFF + timedelta(days=7)).isoformat()

    early = await reports_at(engine, CUT_OFF + timedelta(hours=1)).quality(BAIYUN, W08)
    figure = {q["street"]: q for q in early["streets"]}[XINSHI]["notices_answered_within_target"]
    assert figure == {"count": 1, "due": 1, "share": 1.0}  # only the answer in 3 days is in by then
    assert early["answers_final"] is False

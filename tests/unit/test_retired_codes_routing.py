"""Routing maps a retired street to its successor before deciding, and tells retired from unknown in review.

Real codes of the vendored change table: 沙湾镇 440113118 became 沙湾街道
440113017 (Panyu); 湘桥街道 445102001 was retired with no successor the data
can name; 440113999 was never a street.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.routing.adapters import decision_store, review_store
from services.routing.adapters.emitter import RecordingEmitter
from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared.events import NoticeIssued, RecordRouted, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import record
from tests.support.routing import sqlite_routing

pytestmark = pytest.mark.unit

SHIQIAO = "440113007"  # 市桥街道, Panyu
SHAWAN_TOWN, SHAWAN_STREET = "440113118", "440113017"
RECIPIENTS = Recipients.of(["440113"], ExchangeTable({}, ExchangeEndpoint("national", "https://cn")))


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[RoutingContext]:
    async with sqlite_routing(tmp_path, RECIPIENTS) as context:
        yield context


async def test_a_notice_for_a_retired_street_goes_to_its_successor_with_a_note(context: RoutingContext) -> None:
    envelope = kafka.unchecked_submitted(record(reporting_street=SHIQIAO, residence_street=SHAWAN_TOWN))
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])

    assert isinstance(context.emitter, RecordingEmitter)
    events = [parse_event(e.envelope, TEST_KEYRING) for e in context.emitter.events]
    (routed,) = [e for e in events if isinstance(e, RecordRouted)]
    (notice,) = [e for e in events if isinstance(e, NoticeIssued)]
    assert (routed.route.value, routed.residence_street) == ("cross-street", SHAWAN_STREET)
    assert notice.recipient_code == SHAWAN_STREET
    assert f"{SHAWAN_TOWN} was retired" in notice.reason
    async with context.sessions() as session:
        decision = await decision_store.load_decision(session, envelope.correlation_id)
    assert decision is not None
    assert decision.note is not None
    assert f"residence.street {SHAWAN_TOWN} was retired since 2022-10-31" in decision.note


@pytest.mark.parametrize(
    ("residence", "kind"),
    [("445102001", "retired"), ("330104005", None), ("440113999", "unknown")],
)
async def test_review_tells_retired_from_unknown(context: RoutingContext, residence: str, kind: str | None) -> None:
    envelope = kafka.unchecked_submitted(record(reporting_street=SHIQIAO, residence_street=residence))
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    async with context.sessions() as session:
        queue = await review_store.review_queue(session, limit=10)
    assert [(item.field, item.kind) for item in queue] == ([("residence.street", kind)] if kind else [])


async def test_a_record_of_a_retired_street_waits_in_its_successor_bureaus_queue(context: RoutingContext) -> None:
    """港闸区's 320611001 became 320613016 of the new 崇川区 (Nantong); the registration place 江干区 330104
    was split, so the record waits for a person, in the queue of the district its street belongs to now:
    under the retired code it was in no bureau's queue (each sees its own district's reporting streets)."""
    body = record(reporting_street="320611001", residence_street="320613001")
    body["registration"]["division"] = "330104"
    envelope = kafka.unchecked_submitted(body)
    await RecordHandler(context).on_records([(envelope, parse_event(envelope, TEST_KEYRING))])
    async with context.sessions() as session:
        queue = await review_store.review_queue(session, limit=10, reporting_prefix="320613")
    (item,) = queue
    assert (item.field, item.kind, item.reporting_street) == ("registration.division", "retired", "320613016")
    kept = review_store.review_record(item, TEST_KEYRING)
    assert kept is not None
    assert kept["reporting_street"] == "320613016"

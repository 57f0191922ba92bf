"""Routing's store contract: scenarios run through the use cases, on SQLite and on PostgreSQL alike.

Each scenario drives the handlers as the service does and returns what a test checks; the unit suite runs
them on the embedded store, the integration suite on PostgreSQL.
"""

from __future__ import annotations

from services.routing.adapters import store
from services.routing.service_layer.context import RoutingContext
from services.routing.service_layer.records import RecordHandler
from shared.events import FeedbackResult, NoticeKind, parse_event
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import WUSHAN, record
from tests.support.routing import answer_as_recipient, issued

TIANHE_SHIPAI = "440106002"  # 石牌街道, Tianhe: where the residence district finds the person instead


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
        rows = await store.notices_of(session, envelope.correlation_id)
    stored = sorted((n.case_version, n.occasion, n.reason) for n in rows if n.kind == NoticeKind.FEEDBACK.value)
    return relayed, stored

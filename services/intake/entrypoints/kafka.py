"""Intake's subscribers: each record's route, so GET /v1/records shows it; each
notice's recipient, so that office may open the record the notice is about.

Failure policy: both writes are idempotent (setting the same route again, a
notice id already noted is skipped), so re-delivery is harmless; database
errors are retried by the shared policy, malformed events dead-lettered.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.intake.adapters.notice_recipients import NoticeRecipients
from services.intake.adapters.repository import RecordRepository
from shared.events import Envelope, Event, NoticeIssued, RecordRouted
from shared.kafka.consuming import subscribe
from shared.topics import TopicNames


def register_consumers(
    broker: KafkaBroker, topics: TopicNames, repository: RecordRepository, notices: NoticeRecipients
) -> None:
    async def on_record_routed(_: Envelope, event: Event) -> None:
        if isinstance(event, RecordRouted):
            await repository.set_route(event.record_id, event.route.value)

    subscribe(broker, topics, topic=RecordRouted.TOPIC, group="intake", handler=on_record_routed)

    async def on_notice_issued(_: Envelope, event: Event) -> None:
        if isinstance(event, NoticeIssued):
            await notices.note(event)

    subscribe(broker, topics, topic=NoticeIssued.TOPIC, group="intake-notices", handler=on_notice_issued)

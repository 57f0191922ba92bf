"""Intake's subscribers: each record's route, so GET /v1/records shows it; each
notice's recipient, so that office may open the record the notice is about.

Failure policy: both read a Kafka batch and write it in one transaction
(shared subscribe_batch); both writes are idempotent (setting the same route
again, a notice id already noted is skipped), so re-delivery is harmless;
database errors are retried by the shared policy, a permanent error makes the
batch be written one event at a time so only the culprit is dead-lettered,
malformed events are dead-lettered.

Routes are shown on reads, which may lag a fraction of a second: that
subscriber lets the broker fill its fetches (shared.kafka.consuming.FILL_WAIT_MS). A notice's
recipient must be noted before the office opens the record the push names,
so that subscriber reads as soon as anything is there.
"""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker

from services.intake.adapters.notice_recipients import NoticeRecipients
from services.intake.adapters.repository import RecordRepository
from shared.events import Envelope, Event, NoticeIssued, RecordRouted
from shared.kafka.consuming import FILL_WAIT_MS, subscribe_batch
from shared.sealing import Keyring
from shared.topics import TopicNames


def register_consumers(
    broker: KafkaBroker, topics: TopicNames, repository: RecordRepository, notices: NoticeRecipients, keyring: Keyring
) -> None:
    async def on_records_routed(batch: Sequence[tuple[Envelope, Event]]) -> None:
        await repository.set_routes(
            [(event.record_id, event.route.value) for _, event in batch if isinstance(event, RecordRouted)]
        )

    subscribe_batch(
        broker,
        topics,
        topic=RecordRouted.TOPIC,
        group="intake",
        handler=on_records_routed,
        keyring=keyring,
        fill_wait_ms=FILL_WAIT_MS,
    )

    async def on_notices_issued(batch: Sequence[tuple[Envelope, Event]]) -> None:
        await notices.note_many([event for _, event in batch if isinstance(event, NoticeIssued)])

    subscribe_batch(
        broker, topics, topic=NoticeIssued.TOPIC, group="intake-notices", handler=on_notices_issued, keyring=keyring
    )

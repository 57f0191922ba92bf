"""Notification's subscriber: every issued notice lands in its recipient's inbox, its push scheduled.

Failure policy: a batch of notices is stored in one transaction (shared
subscribe_batch); storing is idempotent by notice id (a duplicate is a no-op,
and its push is not scheduled twice), and the inbox rows and the delivery
rows are written together, so offsets are committed after the insert and a
re-delivery is harmless. Database errors are retried (shared policy); a
permanent error makes the batch be stored one notice at a time, so only the
culprit is dead-lettered; undecodable events are dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from faststream.kafka import KafkaBroker

from services.notification.service_layer.receiving import NoticeReceiver
from shared.events import Envelope, Event, NoticeIssued
from shared.kafka.consuming import subscribe_batch
from shared.sealing import Keyring
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


def register_consumers(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    receiver: NoticeReceiver,
    keyring: Keyring,
) -> None:
    async def on_notices_issued(batch: Sequence[tuple[Envelope, Event]]) -> None:
        notices = [event for _, event in batch if isinstance(event, NoticeIssued)]
        outcomes = await receiver.receive(notices)
        # one line per batch, naming the notices it stored (a line per notice cost as much as its storing)
        log.info(
            "notices stored",
            notice_ids=[notice.notice_id for notice, (stored, _) in zip(notices, outcomes, strict=True) if stored],
            duplicates=sum(not stored for stored, _ in outcomes),
            push_scheduled=sum(scheduled for _, scheduled in outcomes),
        )

    subscribe_batch(
        broker,
        topics,
        topic=NoticeIssued.TOPIC,
        group="notification",
        handler=on_notices_issued,
        keyring=keyring,
        max_records=500,
    )

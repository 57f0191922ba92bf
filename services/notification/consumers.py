"""Notification's subscriber: every issued notice lands in its recipient's inbox.

Failure policy: storing is idempotent by notice id (a duplicate is a no-op),
so offsets are committed after the insert and a re-delivery is harmless.
Database errors are retried; undecodable events dead-lettered.
"""

from __future__ import annotations

import structlog
from faststream.kafka import KafkaBroker

from services.notification.adapters.inbox import Inbox
from shared.events import Envelope, Event, NoticeIssued
from shared.kafka.consuming import subscribe
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


def register_consumers(broker: KafkaBroker, topics: TopicNames, inbox: Inbox) -> None:
    async def on_notice_issued(_: Envelope, event: Event) -> None:
        assert isinstance(event, NoticeIssued)
        stored = await inbox.store(event)
        log.info("notice stored" if stored else "duplicate notice skipped", notice_id=event.notice_id)

    subscribe(broker, topics, topic=NoticeIssued.TOPIC, group="notification", handler=on_notice_issued)

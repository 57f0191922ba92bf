"""Notification's subscriber: every issued notice lands in its recipient's inbox, its push scheduled.

Failure policy: storing is idempotent by notice id (a duplicate is a no-op,
and its push is not scheduled twice), and the inbox row and the delivery row
are written in one transaction, so offsets are committed after the insert
and a re-delivery is harmless. Database errors are retried (shared policy);
undecodable events are dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from faststream.kafka import KafkaBroker

from services.notification.adapters.inbox import Inbox
from shared.clock import Clock
from shared.events import Envelope, Event, NoticeIssued
from shared.kafka.consuming import subscribe
from shared.sealing import Keyring
from shared.topics import TopicNames

log = structlog.get_logger(__name__)


def register_consumers(
    broker: KafkaBroker,
    topics: TopicNames,
    *,
    inbox: Inbox,
    clock: Clock,
    on_scheduled: Callable[[], None],
    keyring: Keyring,
) -> None:
    async def on_notice_issued(_: Envelope, event: Event) -> None:
        assert isinstance(event, NoticeIssued)
        structlog.contextvars.bind_contextvars(notice_id=event.notice_id)
        try:
            stored, scheduled = await inbox.store(event, now=clock.now())
            if scheduled:
                on_scheduled()
            log.info("notice stored" if stored else "duplicate notice skipped", push_scheduled=scheduled)
        finally:
            structlog.contextvars.unbind_contextvars("notice_id")

    subscribe(broker, topics, topic=NoticeIssued.TOPIC, group="notification", handler=on_notice_issued, keyring=keyring)

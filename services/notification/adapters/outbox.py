"""The status events notification publishes, as outbox rows ready to be written with the change.

Ids are derived from (notice, event type): a notice is delivered,
acknowledged and answered at most once, so one id each, and a re-published
row is recognisably the same event. Kafka keys are person keys, like every
other event of the person, so a consumer sees one person's events in order
(NoticeAnswered through `notice_answered_key`, one rule for every publisher).

Why an outbox (shared.db.outbox) rather than publish-then-commit: an answer
is accepted only if no answer was recorded before (409 otherwise), and that
check lives in the database. Publishing first would let a crash, or a lost
race between two clerks, put an answer on Kafka that the database never
recorded. With the outbox the status change and its event commit together.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import InboxNotice, OutboxRow, StoredNotice
from shared.events import (
    Event,
    FeedbackResult,
    NoticeAcknowledged,
    NoticeAnswered,
    NoticeDelivered,
    RejectionReason,
)
from shared.events.envelope import envelope_json
from shared.events.feedback import notice_answered_key
from shared.identity import person_key

STATUS_NAMESPACE = uuid.UUID("0b7c3f5e-8a41-4f0e-9d2c-5a6e7b8c9d01")


class StatusEvents:
    def __init__(self, key_secret: bytes, sealed: SealedNotices) -> None:
        self._key_secret = key_secret
        self._sealed = sealed

    def key_of(self, id_number: str) -> str:
        """The person key of an identity number, kept on the inbox row when the notice is stored."""
        return person_key(id_number, self._key_secret)

    def delivered(self, notice: StoredNotice, *, attempts: int, at: datetime) -> dict[str, Any]:
        """The outbox row's values: the delivery worker writes a batch of them with one insert."""
        event = NoticeDelivered(
            notice_id=notice.notice_id,
            record_id=notice.record_id,
            recipient_code=notice.recipient_code,
            route=notice.route,
            kind=notice.kind,
            attempts=attempts,
            delivered_at=at,
        )
        return self._values(event, notice, at, key=self._person_key(notice))

    def acknowledged(self, notice: InboxNotice, *, by: str, at: datetime) -> OutboxRow:
        event = NoticeAcknowledged(
            notice_id=notice.notice_id,
            record_id=notice.record_id,
            recipient_code=notice.recipient_code,
            route=notice.route,
            kind=notice.kind,
            acknowledged_by=by,
            acknowledged_at=at,
        )
        return OutboxRow(**self._values(event, notice, at, key=self._person_key(notice)))

    def answered(
        self,
        notice: InboxNotice,
        *,
        result: FeedbackResult,
        corrections: dict[str, object],
        reason: RejectionReason | None,
        note: str,
        by: str,
        at: datetime,
    ) -> tuple[OutboxRow, NoticeAnswered]:
        event = NoticeAnswered(
            notice_id=notice.notice_id,
            record_id=notice.record_id,
            result=result,
            corrections=corrections,
            reason=reason,
            note=note,
            answered_by=by,
            answered_at=at,
        )
        key = notice_answered_key(person_key=self._person_key(notice), notice_id=notice.notice_id)
        return OutboxRow(**self._values(event, notice, at, key=key)), event

    def _person_key(self, notice: StoredNotice) -> str:
        """Kept on the row since it was stored; a notice stored before that has its person opened."""
        if notice.person_key is not None:
            return notice.person_key
        return self.key_of(str(self._sealed.person(notice)["id_number"]))

    def _values(self, event: Event, notice: StoredNotice, at: datetime, *, key: str) -> dict[str, Any]:
        event_id = uuid.uuid5(STATUS_NAMESPACE, f"{notice.notice_id}/{event.TYPE}")
        envelope = envelope_json(
            event,
            producer="notification",
            correlation_id=notice.record_id,
            event_id=event_id,
            occurred_at=at,
            keyring=self._sealed.keyring,
        )
        return {"topic": event.TOPIC, "key": key, "envelope": envelope, "created_at": at}

"""Kafka messages to a fold batch: envelope JSON in, facts out, unreadable ones set aside."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.reporting.adapters.fold import FoldBatch
from services.reporting.domain.facts import (
    UnreadableEvent,
    answered_fact,
    issued_fact,
    record_fact,
    rejection_fact,
    routed_fact,
)
from services.reporting.domain.weeks import WeekCalendar


@dataclass
class Decoded:
    batch: FoldBatch = field(default_factory=FoldBatch)
    unreadable: list[tuple[Any, str]] = field(default_factory=list)  # (message, why)
    ignored: int = 0
    read: int = 0  # messages behind the batch, readable or not


class Decoder:
    """Turns raw messages (anything with .value bytes) into facts; tolerant of unknown event types.

    Other services add event types to the topics reporting reads (notice
    delivery status, for instance); a type reporting does not count is skipped,
    not dead-lettered.
    """

    def __init__(self, calendar: WeekCalendar, key_secret: bytes) -> None:
        self._calendar = calendar
        self._key_secret = key_secret

    def decode(self, messages: Iterable[Any]) -> Decoded:
        out = Decoded()
        for message in messages:
            try:
                self._add(out, json.loads(message.value))
            except (UnreadableEvent, ValueError, TypeError, KeyError, AttributeError) as error:
                out.unreadable.append((message, f"{type(error).__name__}: {str(error)[:200]}"))
        return out

    def _add(self, out: Decoded, envelope: dict[str, Any]) -> None:
        kind, payload = envelope["type"], envelope["payload"]
        batch, calendar = out.batch, self._calendar
        if kind == "RecordSubmitted":
            fact = record_fact(payload, calendar, self._key_secret)
            batch.submitted[fact.record_id] = fact
        elif kind == "RecordRouted":
            routed = routed_fact(payload, calendar)
            batch.routed[routed.record_id] = routed
        elif kind == "NoticeIssued":
            notice = issued_fact(payload, calendar)
            batch.issued[notice.notice_id] = notice
        elif kind == "NoticeAnswered":
            batch.add_answer(answered_fact(payload))
        elif kind == "RecordRejected":
            rejection = rejection_fact(str(envelope["event_id"]), payload, calendar)
            batch.rejected[rejection.rejection_id] = rejection
        else:
            out.ignored += 1

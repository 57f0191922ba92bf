"""Kafka messages to a fold batch: envelopes parsed by the shared contract, facts out, unreadable ones set aside."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import (
    answered_fact,
    issued_fact,
    record_fact,
    rejection_fact,
    routed_fact,
)
from services.reporting.domain.weeks import WeekCalendar
from shared.events import (
    Envelope,
    NoticeAnswered,
    NoticeIssued,
    RecordRejected,
    RecordRouted,
    RecordSubmitted,
    parse_event,
)
from shared.kafka.failures import error_location
from shared.sealing import Keyring, SealError

# The event types reporting counts; any other type on its topics is skipped.
FOLDED_TYPES = frozenset(
    cls.TYPE for cls in (RecordSubmitted, RecordRouted, NoticeIssued, NoticeAnswered, RecordRejected)
)


@dataclass
class Decoded:
    batch: FoldBatch = field(default_factory=FoldBatch)
    unreadable: list[tuple[Any, str]] = field(default_factory=list)  # (message, why)
    ignored: int = 0
    read: int = 0  # messages behind the batch, readable or not


class Decoder:
    """Turns raw messages (anything with .value bytes) into facts; tolerant of event types it does not count.

    Every envelope is parsed by shared/events (`parse_event`, which upcasts
    older versions), so a payload that breaks the contract is dead-lettered
    with the reason. Other services add event types to the topics reporting
    reads (notice delivery status, for instance); a type reporting does not
    count is skipped, not dead-lettered.
    """

    def __init__(self, calendar: WeekCalendar, key_secret: bytes, keyring: Keyring) -> None:
        self._calendar = calendar
        self._key_secret = key_secret
        self._keyring = keyring

    def decode(self, messages: Iterable[Any], into: Decoded | None = None) -> Decoded:
        """The facts of `messages`, added to `into` when given (a batch decoded slice by slice)."""
        out = Decoded() if into is None else into
        for message in messages:
            try:
                self._add(out, Envelope.model_validate_json(message.value))
            except (ValidationError, SealError, OverflowError) as error:
                # OverflowError: a time's arithmetic past year 9999 or before year 1 (a week, a day of it)
                out.unreadable.append((message, _why(error)))
        return out

    def _add(self, out: Decoded, envelope: Envelope) -> None:
        if envelope.type not in FOLDED_TYPES:
            out.ignored += 1
            return
        event, batch, calendar = parse_event(envelope, self._keyring), out.batch, self._calendar
        if isinstance(event, RecordSubmitted):
            fact = record_fact(event, calendar, self._key_secret)
            batch.submitted[fact.record_id] = fact
        elif isinstance(event, RecordRouted):
            routed = routed_fact(event, calendar)
            batch.routed[routed.record_id] = routed
        elif isinstance(event, NoticeIssued):
            notice = issued_fact(event, calendar)
            batch.issued[notice.notice_id] = notice
        elif isinstance(event, NoticeAnswered):
            batch.add_answer(answered_fact(event))
        elif isinstance(event, RecordRejected):
            rejection = rejection_fact(str(envelope.event_id), event, calendar)
            batch.rejected[rejection.rejection_id] = rejection


def _why(error: Exception) -> str:
    """The reason for the dead-letter header, without the input values pydantic would quote (personal data)."""
    if isinstance(error, ValidationError):
        fields = ", ".join(f"{error_location(e['loc'], e['type'])}: {e['type']}" for e in error.errors()[:5])
        return f"ValidationError: {fields}"[:200]
    return f"{type(error).__name__}: {str(error)[:200]}"

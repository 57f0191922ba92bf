"""Who produces and who consumes each topic, and how each event is keyed.

The consumers here are checked against the subscribers every service really
registers (tests/unit/test_catalogue.py); the producers are the services that
build the event (`new_envelope(...)` sites).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared import topics


class Via(StrEnum):
    """How a producer publishes: see CONTRIBUTING.md, "Outbox or direct"."""

    OUTBOX = "outbox"
    DIRECT = "direct"
    DEAD_LETTER_SINK = "dead-letter sink"


@dataclass(frozen=True, slots=True)
class Producer:
    service: str
    via: Via
    when: str


@dataclass(frozen=True, slots=True)
class Flow:
    topic: str
    key: str
    producers: tuple[Producer, ...]
    consumers: tuple[str, ...]


PERSON_KEY = "person key: hex HMAC-SHA256 of the identity number under POPFLOW_PERSON_KEY_SECRET (never the number)"

FLOWS = (
    Flow(
        topics.RECORDS_SUBMITTED,
        PERSON_KEY,
        (Producer("intake", Via.OUTBOX, "a record is accepted and stored"),),
        ("routing", "reporting"),
    ),
    Flow(
        topics.RECORDS_REJECTED,
        "the reporting street code (9 digits), or 'unknown' when the record names none",
        (Producer("intake", Via.OUTBOX, "a record is refused (validation failed)"),),
        ("reporting",),
    ),
    Flow(
        topics.RECORDS_ROUTED,
        PERSON_KEY,
        (Producer("routing", Via.DIRECT, "routing decided a record's route (id derived from the cause)"),),
        ("intake", "reporting"),
    ),
    Flow(
        topics.NOTICES_ISSUED,
        PERSON_KEY,
        (Producer("routing", Via.DIRECT, "the workflow issues a notice (id derived from the notice id)"),),
        ("intake", "notification", "reporting"),
    ),
    Flow(
        topics.NOTICES_ANSWERED,
        "person key of the notice's case, else the notice id (shared.events.feedback.notice_answered_key)",
        (Producer("notification", Via.OUTBOX, "a recipient answers a notice in its inbox (the one door)"),),
        ("routing", "reporting"),
    ),
    Flow(
        topics.NOTICES_DELIVERED,
        PERSON_KEY,
        (Producer("notification", Via.OUTBOX, "the first 2xx answer of the recipient's webhook"),),
        ("reporting",),
    ),
    Flow(
        topics.NOTICES_ACKNOWLEDGED,
        PERSON_KEY,
        (Producer("notification", Via.OUTBOX, "a recipient acknowledges a notice"),),
        ("reporting",),
    ),
    Flow(
        topics.REVIEWS_RESOLVED,
        "the record id of the review item (one item's resolutions in order)",
        (Producer("routing", Via.DIRECT, "the bureau resolves a review item (routing's review route)"),),
        ("routing", "reporting"),
    ),
    Flow(
        topics.DEAD_LETTER,
        "none",
        (
            *(
                Producer(service, Via.DEAD_LETTER_SINK, "a message its subscriber can never handle")
                for service in ("intake", "routing", "notification", "reporting")
            ),
            Producer("cli", Via.DIRECT, "`popflow dead-letters replay` re-sent a dead letter's message: its note"),
        ),
        (),
    ),
)


def flow_of(topic: str) -> Flow:
    return next(flow for flow in FLOWS if flow.topic == topic)

"""Every Kafka topic of PopFlow, in one place.

Names are relative: a deployment (or a test run) adds its prefix, so two
test runs can share one broker without seeing each other's events.
"""

from __future__ import annotations

from dataclasses import dataclass

RECORDS_SUBMITTED = "records.submitted"
RECORDS_ROUTED = "records.routed"
NOTICES_ISSUED = "notices.issued"
NOTICES_ANSWERED = "notices.answered"
RECORDS_REJECTED = "records.rejected"
NOTICES_DELIVERED = "notices.delivered"
NOTICES_ACKNOWLEDGED = "notices.acknowledged"
REVIEWS_RESOLVED = "reviews.resolved"
DEAD_LETTER = "deadletter"

ALL_TOPICS = (
    RECORDS_SUBMITTED,
    RECORDS_ROUTED,
    RECORDS_REJECTED,
    NOTICES_ISSUED,
    NOTICES_ANSWERED,
    NOTICES_DELIVERED,
    NOTICES_ACKNOWLEDGED,
    REVIEWS_RESOLVED,
    DEAD_LETTER,
)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Resolves relative topic names against a deployment's prefix."""

    prefix: str

    def __call__(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def all(self) -> list[str]:
        return [self(name) for name in ALL_TOPICS]

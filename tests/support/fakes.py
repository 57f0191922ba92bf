"""Hand-written fakes of outbound effects, for the unit tier."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.events import Envelope


@dataclass
class RecordingPublisher:
    """EventPublisher that keeps what it was given, in order."""

    published: list[tuple[str, str, Envelope]] = field(default_factory=list)

    async def publish(self, envelope: Envelope, *, topic: str, key: str) -> None:
        self.published.append((topic, key, envelope))

    def of_type(self, event_type: str) -> list[Envelope]:
        return [envelope for _, _, envelope in self.published if envelope.type == event_type]

"""Intake's outbox relay: the shared relay, opening sealed envelopes on their way out.

Envelopes carrying personal data are stored sealed (AES-GCM) and opened
only here, on their way to Kafka.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.sealing import Sealer
from services.intake.adapters.tables import OutboxRow
from shared.db.outbox import OutboxRelay
from shared.topics import TopicNames


def intake_relay(
    sessions: async_sessionmaker[AsyncSession], broker: KafkaBroker, topics: TopicNames, sealer: Sealer, *, batch: int
) -> OutboxRelay:
    def open_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in envelope:
            return envelope
        return sealer.open(str(envelope["sealed"]), bound_to=str(envelope["event_id"]))

    return OutboxRelay(sessions, broker, topics, OutboxRow, open_envelope=open_envelope, batch=batch)

"""Intake's outbox relay: the shared relay.

Envelopes carry their personal parts sealed (shared.events.envelope), in the
outbox as on Kafka. Rows written before that sealed the whole envelope
(`{"event_id", "type", "sealed"}`); they are opened on their way out.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.tables import OutboxRow
from shared.db.outbox import OutboxRelay
from shared.sealing import Keyring
from shared.topics import TopicNames


def intake_relay(
    sessions: async_sessionmaker[AsyncSession],
    broker: KafkaBroker,
    topics: TopicNames,
    keyring: Keyring,
    *,
    batch: int,
    keep_sent: bool = True,
    unclear_passes: int,
    unclear_for_s: float,
) -> OutboxRelay:
    def open_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in envelope:
            return envelope
        opened: dict[str, Any] = keyring.open(str(envelope["sealed"]), context=str(envelope["event_id"]))
        return opened

    return OutboxRelay(
        sessions,
        broker,
        topics,
        OutboxRow,
        open_envelope=open_envelope,
        batch=batch,
        keep_sent=keep_sent,
        unclear_passes=unclear_passes,
        unclear_for_s=unclear_for_s,
    )

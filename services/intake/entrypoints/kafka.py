"""Intake's subscriber: learns each record's route so GET /v1/records shows it.

Failure policy: setting a route is idempotent (the same value again changes
nothing), so re-delivery is harmless; database errors are retried by the
shared policy, malformed events dead-lettered.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.intake.adapters.repository import RecordRepository
from shared.events import Envelope, Event, RecordRouted
from shared.kafka.consuming import subscribe
from shared.sealing import Keyring
from shared.topics import TopicNames


def register_consumers(broker: KafkaBroker, topics: TopicNames, repository: RecordRepository, keyring: Keyring) -> None:
    async def on_record_routed(_: Envelope, event: Event) -> None:
        if isinstance(event, RecordRouted):
            await repository.set_route(event.record_id, event.route.value)

    subscribe(broker, topics, topic=RecordRouted.TOPIC, group="intake", handler=on_record_routed, keyring=keyring)

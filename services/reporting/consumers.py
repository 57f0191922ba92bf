"""Reporting's subscribers: records.submitted and records.routed, own group and store.

Failure policy: folding sets facts and is idempotent, so offsets are
committed after the write and a re-delivery changes nothing. The two topics
are not ordered with respect to each other; either event can create the
fact row. Database errors are retried; undecodable events dead-lettered.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker

from services.reporting.adapters.store import ReportStore
from services.reporting.domain.weeks import report_week_of
from shared.events import Envelope, Event, RecordRouted, RecordSubmitted
from shared.kafka.consuming import subscribe
from shared.topics import TopicNames


def register_consumers(broker: KafkaBroker, topics: TopicNames, store: ReportStore, zone: ZoneInfo) -> None:
    async def on_record_submitted(_: Envelope, event: Event) -> None:
        assert isinstance(event, RecordSubmitted)
        observed = event.record.observed_at
        await store.fold(
            record_id=event.record_id,
            reporting_street=event.record.reporting_street,
            week=report_week_of(observed, zone),
            observed_at=observed,
            submitted=True,
        )

    async def on_record_routed(_: Envelope, event: Event) -> None:
        assert isinstance(event, RecordRouted)
        await store.fold(
            record_id=event.record_id,
            reporting_street=event.reporting_street,
            week=report_week_of(event.observed_at, zone),
            observed_at=event.observed_at,
            route=event.route.value,
        )

    subscribe(broker, topics, topic=RecordSubmitted.TOPIC, group="reporting", handler=on_record_submitted)
    subscribe(broker, topics, topic=RecordRouted.TOPIC, group="reporting", handler=on_record_routed)

"""Consumer lag per group and partition: the end offset minus the group's committed offset.

Read from the broker when /metrics is scraped (shared/metrics.py), with one
admin client and one group-less consumer kept open between scrapes. A
partition the group has never committed on is not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import KafkaConnection
from shared.metrics import Samples


class ConsumerLag:
    def __init__(self, kafka: KafkaConnection, groups: Callable[[], Iterable[str]]) -> None:
        self._kafka, self._groups = kafka, groups
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self) -> Samples:
        admin, consumer = await self._clients()
        committed = {group: await admin.list_consumer_group_offsets(group) for group in self._groups()}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        end = await consumer.end_offsets(sorted(partitions)) if partitions else {}
        return [
            ((group, tp.topic, str(tp.partition)), float(max(0, end[tp] - meta.offset)))
            for group, offsets in committed.items()
            for tp, meta in offsets.items()
            if meta.offset >= 0 and tp in end
        ]

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._consumer = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(**self._kafka.options())
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self._kafka.options(), group_id=None, enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

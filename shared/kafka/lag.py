"""Consumer lag per group and partition: the end offset minus the group's committed offset.

Read from the broker when /metrics is scraped (shared/metrics.py), with one
admin client and one group-less consumer kept open between scrapes
(`BrokerOffsets`, which reporting's weekly export also asks whether its fold
has caught up). A partition the group has never committed on is not reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka.security import KafkaConnection
from shared.metrics import Samples


class BrokerOffsets:
    """The broker's offsets: a group's committed ones and the partitions' ends. Its clients open on first use."""

    def __init__(self, kafka: KafkaConnection) -> None:
        self._kafka = kafka
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's committed offset of each partition it has committed on."""
        admin, _ = await self._clients()
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        wanted = sorted(partitions)
        if not wanted:
            return {}
        _, consumer = await self._clients()
        return dict(await consumer.end_offsets(wanted))

    async def partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        """Every partition of `topics`; a topic not created yet has none."""
        admin, _ = await self._clients()
        described = await admin.describe_topics(list(topics))
        return [TopicPartition(t["topic"], part["partition"]) for t in described for part in t["partitions"]]

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._consumer = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        # a start that fails or is cancelled (a scrape's timeout against a slow broker) closes what it began:
        # kept by nobody, a half-started client would hold its connections, one more at every scrape
        if self._admin is None:
            admin = AIOKafkaAdminClient(**self._kafka.options())
            try:
                await admin.start()
            except BaseException:
                await asyncio.shield(admin.close())
                raise
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self._kafka.options(), group_id=None, enable_auto_commit=False)
            try:
                await consumer.start()
            except BaseException:
                await asyncio.shield(consumer.stop())
                raise
            self._consumer = consumer
        return self._admin, self._consumer


class ConsumerLag:
    def __init__(self, kafka: KafkaConnection, groups: Callable[[], Iterable[str]]) -> None:
        self._offsets, self._groups = BrokerOffsets(kafka), groups

    async def read(self) -> Samples:
        committed = {group: await self._offsets.committed(group) for group in self._groups()}
        end = await self._offsets.end_offsets({tp for offsets in committed.values() for tp in offsets})
        return [
            ((group, tp.topic, str(tp.partition)), float(max(0, end[tp] - offset)))
            for group, offsets in committed.items()
            for tp, offset in offsets.items()
            if tp in end
        ]

    async def close(self) -> None:
        await self._offsets.close()

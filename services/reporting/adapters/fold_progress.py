"""Whether reporting's fold has taken in every event that was on its topics at a moment.

The fold's consumer group may run in several replicas, each folding some
partitions, so the question is put to the broker: the group's committed
offsets against the end offsets read when asked. The fold commits a batch's
offsets once it is written (entrypoints/kafka.py), so a committed offset at
or past the end offset of then means every event before it is in the store.
The weekly export asks before writing a week's files (service_layer/scheduled.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from shared.kafka.lag import BrokerOffsets
from shared.kafka.security import KafkaConnection

POLL_S = 2.0


class FoldProgress:
    def __init__(self, kafka: KafkaConnection, *, topics: Sequence[str], group: str, poll_s: float = POLL_S) -> None:
        self._kafka, self._topics, self._group, self._poll_s = kafka, list(topics), group, poll_s

    async def settled(self, within_s: float) -> bool:
        """True once the group has committed past every partition's end offset of now; False after `within_s`."""
        offsets = BrokerOffsets(self._kafka)  # a few calls a week: opened for this one, closed after
        try:
            target = await offsets.end_offsets(await offsets.partitions(self._topics))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within_s
            while behind(target, await self._committed(offsets)):
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(self._poll_s)
            return True
        finally:
            await offsets.close()

    async def _committed(self, offsets: BrokerOffsets) -> dict[TopicPartition, int]:
        """The group's committed offsets; none yet while the broker cannot say (a new broker's group coordinator
        is not up for its first seconds): the fold counts as behind, and is asked again."""
        try:
            return await offsets.committed(self._group)
        except KafkaError as error:
            if not error.retriable:
                raise
            return {}


def behind(target: dict[TopicPartition, int], committed: dict[TopicPartition, int]) -> list[TopicPartition]:
    """The partitions holding events (`target`: end offsets) the group has not committed past yet."""
    return [tp for tp, end in target.items() if end > 0 and committed.get(tp, -1) < end]

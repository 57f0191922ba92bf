"""Reading topics from their first offset to the end they had when reading began (rebuilds)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import OffsetOutOfRangeError

from shared.kafka.security import KafkaConnection
from shared.retry import until_up

FETCH_TRIES = 30  # one second each


async def partitions_of(kafka: KafkaConnection, topics: Sequence[str]) -> list[TopicPartition]:
    """The topics' partitions, from the broker (a consumer only knows the topics it subscribed to)."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        descriptions = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in descriptions for p in d["partitions"])


async def batches_to_end(
    kafka: KafkaConnection, topics: Sequence[str], *, batch: int = 500
) -> AsyncIterator[list[ConsumerRecord]]:
    """The records of `topics` up to the end seen at the start, in batches, in order within each partition.

    Messages published after the start are left to the running service.
    """
    partitions = await partitions_of(kafka, topics)
    if not partitions:
        return
    consumer, end = await _from_the_start(kafka, partitions)
    try:
        async for records in _up_to(consumer, end, batch=batch):
            yield records
    finally:
        await consumer.stop()


async def _from_the_start(
    kafka: KafkaConnection, partitions: list[TopicPartition]
) -> tuple[AIOKafkaConsumer, dict[TopicPartition, int]]:
    """A reader of `partitions` at their first offsets, and the end each has now."""
    consumer = await _reader(kafka, partitions, auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024)
    try:
        end = await consumer.end_offsets(partitions)
        # explicit offsets: seek_to_beginning right after assign() was seen to land at the end
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, end


async def records_to_end(
    kafka: KafkaConnection, topics: Sequence[str], *, batch: int = 500
) -> AsyncIterator[ConsumerRecord]:
    """Every record of `topics` up to the end seen at the start, in order within each partition."""
    async for records in batches_to_end(kafka, topics, batch=batch):
        for record in records:
            yield record


class PartitionsToEnd:
    """Each partition of a topic read as a stream of its own, up to the end it had when it was asked for:
    for a reader that interleaves partitions itself (routing's rebuild, by when each message happened).

    One consumer per topic asked for, all stopped when the `async with` block ends.
    """

    def __init__(self, kafka: KafkaConnection, *, batch: int = 500) -> None:
        self._kafka, self._batch = kafka, batch
        self._consumers: list[AIOKafkaConsumer] = []

    async def __aenter__(self) -> PartitionsToEnd:
        return self

    async def __aexit__(self, *_: object) -> None:
        for consumer in self._consumers:
            await consumer.stop()

    async def of(self, topic: str) -> list[AsyncIterator[bytes]]:
        """The message values of each partition of `topic`, in partition order."""
        partitions = await partitions_of(self._kafka, [topic])
        if not partitions:
            return []
        consumer, end = await _from_the_start(self._kafka, partitions)
        self._consumers.append(consumer)
        return [self._values(consumer, tp, end[tp]) for tp in partitions]

    async def _values(self, consumer: AIOKafkaConsumer, partition: TopicPartition, end: int) -> AsyncIterator[bytes]:
        # the consumer fetches for every partition; getmany of one hands over that partition's records only
        async for records in _up_to(consumer, {partition: end}, batch=self._batch):
            for record in records:
                yield record.value


async def record_at(kafka: KafkaConnection, partition: TopicPartition, offset: int) -> ConsumerRecord | None:
    """The record at `offset` of `partition`; None when there is none (past the end, or gone by retention)."""
    consumer = await _reader(kafka, [partition])
    try:
        first = (await consumer.beginning_offsets([partition]))[partition]
        end = (await consumer.end_offsets([partition]))[partition]
        if not first <= offset < end:
            return None
        consumer.seek(partition, offset)
        for _ in range(FETCH_TRIES):
            try:
                fetched = await consumer.getmany(partition, timeout_ms=1000, max_records=1)
            except OffsetOutOfRangeError:  # gone by retention since the look at the first offset
                return None
            for record in fetched.get(partition, []):
                return record if record.offset == offset else None
        raise TimeoutError(f"{partition.topic} gave nothing at offset {offset} within {FETCH_TRIES} seconds")
    finally:
        await consumer.stop()


async def keyed_after(
    kafka: KafkaConnection,
    partition: TopicPartition,
    offset: int,
    key: bytes | None,
    *,
    excluding: frozenset[int] = frozenset(),
) -> int:
    """How many records of `partition` after `offset`, up to its end now, carry `key` (None: any), but for
    those at the offsets `excluding`."""
    consumer = await _reader(kafka, [partition])
    try:
        end = await consumer.end_offsets([partition])
        consumer.seek(partition, offset + 1)
        found = 0
        async for records in _up_to(consumer, end, batch=5000, idle_tries=FETCH_TRIES):
            found += sum(1 for r in records if (key is None or r.key == key) and r.offset not in excluding)
        return found
    finally:
        await consumer.stop()


async def _up_to(
    consumer: AIOKafkaConsumer, end: dict[TopicPartition, int], *, batch: int, idle_tries: int | None = None
) -> AsyncIterator[list[ConsumerRecord]]:
    """The records from each partition's position up to its `end`, in batches. `idle_tries`: TimeoutError
    after that many fetches in a row gave nothing (None: wait as long as it takes)."""
    pending = {tp for tp, last in end.items() if await consumer.position(tp) < last}
    idle = 0
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch)
        records = [r for tp, rs in fetched.items() for r in rs if r.offset < end[tp]]
        if records:
            idle = 0
            yield records
        elif idle_tries is not None and (idle := idle + 1) >= idle_tries:
            raise TimeoutError(f"{sorted(pending)} gave nothing within {idle_tries} seconds")
        pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}


async def _reader(kafka: KafkaConnection, partitions: list[TopicPartition], **options: Any) -> AIOKafkaConsumer:
    """A started consumer of no group, assigned `partitions`; unless `options` say otherwise, it raises
    rather than jump when an offset is gone (`auto_offset_reset="none"`)."""
    consumer = AIOKafkaConsumer(
        **kafka.options(), enable_auto_commit=False, group_id=None, **({"auto_offset_reset": "none"} | options)
    )
    try:
        async for attempt in until_up():
            with attempt:
                await consumer.start()
        consumer.assign(partitions)
    except BaseException:
        await consumer.stop()
        raise
    return consumer

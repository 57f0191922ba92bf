"""Reporting's fold: batches from Kafka into the fact tables.

Failure policy: reporting reads its five topics with its own consumer group
("reporting") in batches (aiokafka getmany, up to `batch_max` messages).
Each batch is written in one transaction and only then are its offsets
committed, so a crash re-delivers at most the batches in flight, and the
upserts (see fold.py) make the re-delivery change nothing. A database error
is retried with a pause until it succeeds (the batch is held, never
skipped); an unreadable message, and one whose values the database refuses
(found by writing the batch in halves), is sent to the dead-letter topic
with the reason and the batch goes on. The dead letters go out once the
batch's facts are written, in the order of their messages. A dead letter
Kafka does not take is tried SET_ASIDE_TRIES times; then the batch fails as
any subscriber's does (shared/kafka/failures.py): after a pause it is read
again from each partition's first message not done, that offset committed,
so a dead letter Kafka took before the refusal is not sent again; folded once
the dead letter is published (a topic that keeps refusing, not authorised
say, holds the fold there; it is logged at ERROR once, not once a try).
While one batch is written, the next is fetched and decoded; its offsets are
committed only after its own write.
Batching (and COPY on PostgreSQL, pg_fold.py), rather than one FastStream
handler per message, is what lets the fold keep up with a replay of
hundreds of thousands of events. Nobody waits for a fact within a second,
so the broker may hold each fetch until it is fuller (shared.kafka.consuming.FILL_WAIT_MS):
at a few hundred events a second the fold otherwise writes and commits a
few events at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from tenacity import AsyncRetrying, stop_after_attempt, wait_fixed

from services.reporting.adapters.decoding import Decoded, Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.fold_offsets import Fetched, commit, read_again_at
from services.reporting.adapters.fold_set_aside import SET_ASIDE_TRIES, DeadLetterRefused, in_order
from services.reporting.adapters.metrics import EVENTS_FOLDED
from services.reporting.domain.batch import FoldBatch
from shared.kafka.consuming import FILL_BYTES, FILL_WAIT_MS
from shared.kafka.failures import DeadLetters, Publish, describe, is_permanent
from shared.kafka.progress import Progress, done_count, where
from shared.kafka.replay import batches_to_end
from shared.kafka.rewind import read_again_from
from shared.kafka.security import KafkaConnection
from shared.retry import until_up

log = structlog.get_logger(__name__)

# Messages decoded between two turns of the event loop (a few milliseconds of work).
DECODE_SLICE = 50
# A batch of at least this many messages that are each refused on their own is the store's fault, not theirs
SYSTEMIC_AT_LEAST = 10


class FoldConsumer:
    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        topics: Sequence[str],
        group: str,
        writer: FactWriter,
        decoder: Decoder,
        dead_letter: Publish,
        batch_max: int = 5000,
        retry_pause_s: float = 1.0,
    ) -> None:
        self._kafka = kafka
        self._topics = list(topics)
        self.group = group
        self._writer = writer
        self._decoder = decoder
        self._dead_letters = DeadLetters(dead_letter)
        self._batch_max = batch_max
        self._retry_pause_s = retry_pause_s
        self.folded = 0
        self._refused_at: tuple[tuple[str, Any], Any] | None = None  # the dead letter last refused, said once

    @property
    def topics(self) -> list[str]:
        """The (prefixed) topics folded: the catalogue test checks them against docs/catalogue."""
        return list(self._topics)

    async def run(self) -> None:
        """Fold until cancelled."""
        consumer = AIOKafkaConsumer(
            *self._topics,
            **self._kafka.options(),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_min_bytes=FILL_BYTES,
            fetch_max_wait_ms=FILL_WAIT_MS,
        )
        await _start(consumer)
        log.info("fold started", topics=len(self._topics))
        try:
            await self.consume(consumer)
        finally:
            await consumer.stop()

    async def consume(self, consumer: Any) -> None:
        """Fold what the started `consumer` fetches, until cancelled.

        A batch whose dead letter Kafka refuses (DeadLetterRefused) is read again, with the batch fetched
        meanwhile, from each partition's first message not done, after a pause; that offset committed.
        """
        in_flight: tuple[asyncio.Task[None], Fetched, Progress] | None = None
        try:
            while True:
                fetched = Fetched(await consumer.getmany(timeout_ms=500, max_records=self._batch_max))
                messages = fetched.messages
                # Decoding this batch (CPU, here) overlaps with writing the previous one (the database).
                decoded = await self.decode(messages) if messages else None
                if in_flight is not None:
                    task, written, progress = in_flight
                    in_flight = None
                    if not await self._done(task):
                        await read_again_from(consumer, read_again_at(progress, fetched), commit=progress.moved())
                        await asyncio.sleep(self._retry_pause_s)
                        continue
                    await commit(consumer, written.ends())
                if decoded is not None:
                    progress = Progress(messages)
                    in_flight = (asyncio.create_task(self.write(decoded, messages, progress)), fetched, progress)
        finally:
            if in_flight is not None:
                # Stopping mid-write: the transaction rolls back, the offsets stay uncommitted,
                # and the batch is read again on the next start.
                in_flight[0].cancel()
                await asyncio.gather(in_flight[0], return_exceptions=True)

    async def _done(self, write: asyncio.Task[None]) -> bool:
        """Whether the batch's write succeeded; a refused dead letter is said once at ERROR while it lasts."""
        try:
            await write
        except DeadLetterRefused as refused:
            if self._refused_at != (refused.where, refused.offset):
                log.error(
                    "dead letter refused; its partition read again from it",
                    source_topic=refused.where[0],
                    source_partition=str(refused.where[1]),
                    source_offset=str(refused.offset),
                    error_type=refused.error_type,
                    tries=SET_ASIDE_TRIES,
                    pause_s=self._retry_pause_s,
                )
            self._refused_at = (refused.where, refused.offset)
            return False
        self._refused_at = None
        return True

    async def apply(self, messages: Sequence[Any]) -> None:
        """Decode and write one batch (the replay's path)."""
        await self.write(await self.decode(messages), messages)

    async def decode(self, messages: Sequence[Any]) -> Decoded:
        decoded = Decoded()
        for start in range(0, len(messages), DECODE_SLICE):
            self._decoder.decode(messages[start : start + DECODE_SLICE], into=decoded)
            # Between slices the previous batch's write takes its next step: its dozen round trips
            # (COPY, upsert, ... per table) each need the loop, which a whole batch's decoding held.
            await asyncio.sleep(0)
        decoded.read = len(messages)
        return decoded

    async def write(self, decoded: Decoded, messages: Sequence[Any], progress: Progress | None = None) -> None:
        """Write until it succeeds: a batch is held, never skipped for a store that is down.

        Values the database refuses (text it cannot hold, say) are refused on every try: the
        messages are then written in halves, and halves of those, until each refused message is
        alone; it is dead-lettered with the reason and everything else is folded. When every message
        of a batch (of SYSTEMIC_AT_LEAST or more) is refused on its own, the fault is the store's (a
        column changed, say), not the data's: the batch is held and retried, as for a store that is
        down, rather than emptied into the dead-letter topic.

        The dead letters (the unreadable messages' and the refused ones') go out once the rest is written,
        in the order of their messages, here rather than as they are decoded, so that any dead letter Kafka
        refuses fails the batch in one place: this write raises DeadLetterRefused. `progress` has every
        message marked done once written or once its dead letter is taken: the batch is read again from
        there, and a dead letter taken is not sent again.
        """
        progress = progress or Progress(messages)
        refused: list[tuple[Any, Exception]] = []
        while (error := await self._refused(decoded.batch)) is not None:
            refused = await self._refused_alone(messages, error)
            if len(messages) >= SYSTEMIC_AT_LEAST and len(refused) == len(messages):
                log.error("every event of a batch refused on its own; held", error=type(error).__name__)
                refused = []  # none of them set aside: the whole batch is written again
                await asyncio.sleep(self._retry_pause_s)
                continue
            break
        aside = in_order(
            messages,
            [(m, "UnreadableEvent", reason) for m, reason in decoded.unreadable]
            + [(m, type(why).__name__, describe(why)) for m, why in refused],
        )
        set_aside = {where(m) for m, _, _ in aside}
        for message in messages:
            if where(message) not in set_aside:
                progress.done(message)
        try:
            for message, error_type, why in aside:
                await self._set_aside(message, error_type, why)
                progress.done(message)
        except DeadLetterRefused:
            self._count(done_count(progress.read, progress.resume()))  # those not read again
            raise
        self._count(decoded.read)
        batch = decoded.batch
        log.info(
            "batch folded",
            read=decoded.read,
            submitted=len(batch.submitted),
            routed=len(batch.routed),
            issued=len(batch.issued),
            answered=len(batch.answered),
            rejected=len(batch.rejected),
            unreadable=len(decoded.unreadable),
            skipped=decoded.ignored,
        )

    def _count(self, folded: int) -> None:
        self.folded += folded
        EVENTS_FOLDED.inc(folded)

    async def _refused(self, batch: FoldBatch) -> Exception | None:
        """None once written; the error when the database refuses the values (retrying cannot help)."""
        while True:
            try:
                await self._writer.write(batch)
                return None
            except Exception as error:
                if is_permanent(error):
                    return error
                log.warning("fold write failed, will retry", error=type(error).__name__)
                await asyncio.sleep(self._retry_pause_s)

    async def _refused_alone(self, messages: Sequence[Any], error: Exception) -> list[tuple[Any, Exception]]:
        """The messages the database refuses on their own, each with its refusal (`error`: the refusal of
        `messages` together); the others are written, half by half. Decoded a second time without side
        effects: the unreadable were dead-lettered the first time."""
        if len(messages) == 1:
            return [(messages[0], error)]
        found: list[tuple[Any, Exception]] = []
        half = len(messages) // 2
        for part in (messages[:half], messages[half:]):
            if (refusal := await self._refused(self._decoder.decode(part).batch)) is not None:
                found += await self._refused_alone(part, refusal)
        return found

    async def _set_aside(self, message: Any, error_type: str, why: str) -> None:
        """Publish the dead letter, tried SET_ASIDE_TRIES times with a pause between; then DeadLetterRefused,
        and the batch is read again later (retried inside the batch, a topic that refuses it for good, not
        authorised say, held the fold there for ever)."""
        body = bytes(message.value or b"")  # a record without a value too
        tries = AsyncRetrying(
            stop=stop_after_attempt(SET_ASIDE_TRIES), wait=wait_fixed(self._retry_pause_s), reraise=True
        )
        try:
            async for attempt in tries:
                with attempt:
                    await self._dead_letters.set_aside(body, message, error_type, why, group=self.group)
        except Exception as error:
            raise DeadLetterRefused(message, error) from error


async def _start(consumer: AIOKafkaConsumer) -> None:
    async for attempt in until_up():
        with attempt:
            await consumer.start()


async def replay(
    *,
    kafka: KafkaConnection,
    topics: Sequence[str],
    fold: FoldConsumer,
    batch_max: int = 5000,
    on_batch: Callable[[int], None] = lambda _read: None,
) -> int:
    """Fold every message now on `topics`, from the beginning, without a consumer group.

    The end of each partition is taken when the replay starts; messages
    published meanwhile are left to the service, started on the new store
    afterwards from its group's offsets (so it must not run meanwhile: the
    rebuild command checks). Returns how many messages were read.
    """
    read = 0
    async for messages in batches_to_end(kafka, topics, batch=batch_max):
        await fold.apply(messages)
        read += len(messages)
        on_batch(len(messages))
    return read

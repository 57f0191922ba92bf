"""Reporting's fold: what it does with a batch the database refuses (no infrastructure: a scripted writer).

A refusal of the values themselves is set aside message by message; a batch of
which every message is refused alone is the store's fault and is held; a store
that is down is waited out. Nothing is written twice that the fold counts, and
nothing good is lost. The same on PostgreSQL: tests/integration/test_reporting_poison.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from aiokafka.errors import KafkaTimeoutError

from services.reporting.adapters.decoding import Decoded, Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.fold_set_aside import SET_ASIDE_TRIES
from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import RejectionFact
from services.reporting.entrypoints.kafka import SYSTEMIC_AT_LEAST, FoldConsumer
from shared.db.bulk import UnwritableValue

AT = datetime(2027, 2, 24, tzinfo=UTC)
Letters = list[tuple[bytes, dict[str, str]]]


@dataclass
class Message:
    value: bytes
    topic: str = "records.rejected"
    partition: int = 0
    offset: int = 0


class OneFactEach:
    """Each message is the rejection named by its value."""

    def decode(self, messages: Iterable[Message], into: Decoded | None = None) -> Decoded:
        out = into or Decoded()
        for m in messages:
            name = m.value.decode()
            out.batch.rejected[name] = RejectionFact(name, "440111005", "2027-W08", AT, 1, None)
        return out


@dataclass
class Store:
    refuses: set[str] = field(default_factory=set)  # rejection ids whose values the store refuses
    broken_for: int = 0  # whole batches refused, and every write meanwhile (a column changed under the fold)
    whole: int = 0  # how many messages a whole batch holds
    down_for: int = 0  # writes failing as a store that is down
    written: list[str] = field(default_factory=list)

    async def write(self, batch: FoldBatch) -> None:
        if self.down_for:
            self.down_for -= 1
            raise ConnectionRefusedError
        if self.broken_for and len(batch.rejected) == self.whole:
            self.broken_for -= 1  # mended once it has refused the whole batch so often
        if self.broken_for:
            raise UnwritableValue("every value")
        if self.refuses & set(batch.rejected):
            raise UnwritableValue("a NUL")
        self.written += list(batch.rejected)


def fold(store: Store, letters: Letters, *, kafka_down_for: int = 0) -> FoldConsumer:
    refusals = [kafka_down_for]

    async def dead_letter(body: bytes, headers: dict[str, str]) -> None:
        if refusals[0]:
            refusals[0] -= 1
            raise KafkaTimeoutError
        letters.append((body, headers))

    return folding(store, dead_letter)


def folding(store: Store, dead_letter: Callable[[bytes, dict[str, str]], Awaitable[None]]) -> FoldConsumer:
    """The fold of records.rejected into `store`, one fact a message, its dead letters to `dead_letter`."""
    return FoldConsumer(
        kafka=cast(Any, None),
        topics=["records.rejected"],
        group="reporting",
        writer=cast(FactWriter, store),
        decoder=cast(Decoder, OneFactEach()),
        dead_letter=dead_letter,
        retry_pause_s=0,
    )


def messages(count: int) -> list[Message]:
    return [Message(f"r{n}".encode(), offset=n) for n in range(count)]


async def test_a_refused_message_is_set_aside_and_every_other_one_written_once() -> None:
    store, letters = Store(refuses={"r7", "r13"}), Letters()
    batch = messages(20)
    await fold(store, letters).apply(batch)
    assert sorted(store.written) == sorted(f"r{n}" for n in range(20) if n not in (7, 13))
    assert [(body, headers["source_offset"]) for body, headers in letters] == [(b"r7", "7"), (b"r13", "13")]
    assert "SQLSTATE 22000" in letters[0][1]["error"]


async def test_a_batch_refused_in_every_message_is_held_until_the_store_takes_it() -> None:
    store, letters = Store(broken_for=3, whole=SYSTEMIC_AT_LEAST), Letters()
    await fold(store, letters).apply(messages(SYSTEMIC_AT_LEAST))
    assert letters == []  # not emptied into the dead-letter topic
    assert sorted(store.written) == sorted(f"r{n}" for n in range(SYSTEMIC_AT_LEAST))


async def test_a_store_that_is_down_is_waited_out_with_nothing_set_aside() -> None:
    store, letters = Store(down_for=3, refuses={"r1"}), Letters()
    consumer = fold(store, letters)
    await consumer.apply(messages(3))
    assert sorted(store.written) == ["r0", "r2"]
    assert [body for body, _ in letters] == [b"r1"]
    assert consumer.folded == 3


async def test_a_dead_letter_kafka_does_not_take_at_once_is_published_once_it_does_and_the_fold_goes_on() -> None:
    # a failed publish of the dead letter had ended the fold (and reporting's readiness) for good; one Kafka
    # refuses for longer fails the batch, read again later (tests/unit/test_fold_dead_letter_refused.py)
    store, letters = Store(refuses={"r1"}), Letters()
    consumer = fold(store, letters, kafka_down_for=SET_ASIDE_TRIES - 1)
    await consumer.apply(messages(3))
    assert [body for body, _ in letters] == [b"r1"]  # once, not once a try
    assert sorted(store.written) == ["r0", "r2"]

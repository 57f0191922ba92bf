"""Reporting's fold when the dead-letter topic keeps refusing a dead letter (no infrastructure).

A message the store can never take is set aside on the dead-letter topic. When
Kafka refuses that dead letter on every try (the topic not authorised for the
service, a message too large), the fold retried the publish inside the batch
for ever: the batch held, one warning a second, for good. The publish is now
tried SET_ASIDE_TRIES times; then the batch fails as any subscriber's does
(shared/kafka/failures.py): read again after a pause from each partition's
first message not done (committed there), said once at ERROR, and folded, its
dead letter published, once Kafka takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.fold_set_aside import SET_ASIDE_TRIES, DeadLetterRefused
from services.reporting.entrypoints import kafka as reporting_kafka
from services.reporting.entrypoints.kafka import FoldConsumer
from tests.support.logs import logged_by
from tests.unit.test_fold_set_aside import Letters, Message, OneFactEach, Store, folding, messages


class Spun(BaseException):
    """Raised by the refusing topic past any sane number of tries: the old fold's retry loop never ended."""


@dataclass
class RefusingTopic:
    """The dead-letter topic: refuses the first `refuse` publishes (all of them by default)."""

    refuse: int = 10**9
    tries: int = 0
    letters: Letters = field(default_factory=Letters)
    said: list[str] = field(default_factory=list)  # what happened, in order (with the consumer's commits)

    async def publish(self, body: bytes, headers: dict[str, str]) -> None:
        self.tries += 1
        if self.tries > 100:
            raise Spun
        if self.tries <= self.refuse:
            raise TopicAuthorizationFailedError
        self.letters.append((body, headers))
        self.said.append(f"letter {body.decode()}")


def fold(store: Store, topic: RefusingTopic) -> FoldConsumer:
    return folding(store, topic.publish)


async def test_a_dead_letter_the_topic_always_refuses_fails_its_batch_after_a_few_tries() -> None:
    store, topic = Store(refuses={"r1"}), RefusingTopic()
    consumer = fold(store, topic)
    with pytest.raises(DeadLetterRefused) as refused:
        await consumer.apply(messages(3))
    assert topic.tries == SET_ASIDE_TRIES  # not for ever
    assert topic.letters == []
    assert consumer.folded == 1  # only r0 is done: r1, and r2 behind it, are read again
    assert "records.rejected" in str(refused.value)
    assert "TopicAuthorizationFailedError" in str(refused.value)


async def test_an_unreadable_message_whose_dead_letter_is_refused_fails_its_batch_too() -> None:
    class Unreadable(OneFactEach):
        def decode(self, messages: Any, into: Any = None) -> Any:
            out = super().decode(messages, into)
            out.unreadable += [(m, "not an envelope") for m in messages if m.value == b"r1"]
            return out

    topic = RefusingTopic()
    consumer = fold(Store(), topic)
    consumer._decoder = cast(Decoder, Unreadable())
    with pytest.raises(DeadLetterRefused):
        await consumer.apply(messages(3))
    assert topic.tries == SET_ASIDE_TRIES


class Stop(Exception):
    """Every partition committed to its end: the scripted consumer ends the fold."""


@dataclass
class Partitions:
    """A consumer over scripted partitions: fetches `per_fetch` messages of each from its position."""

    logs: dict[TopicPartition, list[Message]]
    said: list[str]
    per_fetch: int = 2
    position: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Message]]:
        if all(self.committed.get(tp) == len(log) for tp, log in self.logs.items()):
            raise Stop
        fetched = {}
        for tp, log in self.logs.items():
            at = self.position.get(tp, 0)
            if part := log[at : at + self.per_fetch]:
                fetched[tp] = part
                self.position[tp] = at + len(part)
        return fetched

    def assignment(self) -> set[TopicPartition]:
        return set(self.logs)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset
        self.said.append(f"seek {tp.partition} {offset}")

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)
        self.said.append("commit " + " ".join(f"{tp.partition}:{o}" for tp, o in sorted(offsets.items())))


def partitions(said: list[str]) -> Partitions:
    logs = {
        TopicPartition("records.rejected", p): [Message(f"p{p}-{n}".encode(), partition=p, offset=n) for n in range(4)]
        for p in (0, 1)
    }
    return Partitions(logs, said)


async def test_a_refused_batch_is_read_again_from_its_first_message_not_done_and_committed_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two rounds of the batch refused, then the topic takes the dead letter
    store, topic = Store(refuses={"p0-1"}), RefusingTopic(refuse=2 * SET_ASIDE_TRIES)
    consumer = partitions(topic.said)
    with logged_by(monkeypatch, reporting_kafka) as logs, pytest.raises(Stop):
        await fold(store, topic).consume(consumer)
    # each time, each partition back to its first message not done (the refused one in partition 0; in partition
    # 1 the start of the batch read meanwhile, then its end), committed there where a message was done; nothing
    # skipped, and partition 1 goes on while partition 0 waits for its dead letter
    assert topic.said == [
        *["seek 0 1", "seek 1 2", "commit 0:1 1:2"],
        *["seek 0 1", "seek 1 4", "commit 1:4"],
        "letter p0-1",
        "commit 0:3",
        "commit 0:4",
    ]
    assert [body for body, _ in topic.letters] == [b"p0-1"]
    assert sorted(set(store.written)) == sorted(f"p{p}-{n}" for p in (0, 1) for n in range(4) if (p, n) != (0, 1))
    refusals = [line for line in logs if line["event"] == "dead letter refused; its partition read again from it"]
    assert len(refusals) == 1  # said once, not once a try or once a round
    assert refusals[0]["log_level"] == "error"
    assert refusals[0]["source_offset"] == "1"
    assert refusals[0]["error_type"] == "TopicAuthorizationFailedError"


async def test_a_dead_letter_taken_before_another_one_is_refused_is_not_sent_again() -> None:
    # the batch was read again from its start: the dead letter of p0-0, taken before p0-1's was refused, went
    # out again with every round of the batch (repeats `popflow dead-letters show` folded into "set aside 2 times")
    refusals, letters = [SET_ASIDE_TRIES], list[bytes]()

    async def publish(body: bytes, headers: dict[str, str]) -> None:
        if body == b"p0-1" and refusals[0]:
            refusals[0] -= 1
            raise TopicAuthorizationFailedError
        letters.append(body)

    store = Store(refuses={"p0-0", "p0-1"})
    consumer = folding(store, publish)
    with pytest.raises(Stop):
        await consumer.consume(partitions([]))
    assert letters == [b"p0-0", b"p0-1"]  # each once, in their order
    assert sorted(set(store.written)) == sorted(f"p{p}-{n}" for p in (0, 1) for n in range(4) if (p, n) > (0, 1))
    assert consumer.folded == 8  # every message counted once, the one done before the refusal too

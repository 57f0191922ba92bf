"""subscribe_batch in memory (FastStream's TestKafkaBroker): one bad message never takes its batch with it."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any, cast

import anyio.to_thread
import pytest
from aiokafka.errors import ConsumerStoppedError, KafkaTimeoutError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber import usecase as faststream_subscriber

from shared.events import Envelope, Event
from shared.kafka.consuming import (
    POLL_MS,
    InHand,
    message_in_hand,
    poll_without_pause,
    subscribe,
    subscribe_batch,
)
from shared.kafka.failures import DeadLetters, PermanentFailure, open_dead_letter
from shared.topics import DEAD_LETTER, RECORDS_SUBMITTED, TopicNames
from tests.support import kafka
from tests.support.infra import TEST_KEYRING
from tests.support.records import record

TOPICS = TopicNames("t.")


async def test_undecodable_and_refused_events_are_dead_lettered_alone() -> None:
    broker = KafkaBroker()
    handled: list[list[str]] = []

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        if any(envelope.correlation_id == "refused" for envelope, _ in events):
            raise PermanentFailure("this one can never be handled")
        handled.append([envelope.correlation_id for envelope, _ in events])

    subscribe_batch(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)
    dead: list[bytes] = []

    @broker.subscriber(TOPICS(DEAD_LETTER))
    async def on_dead_letter(body: bytes, message: KafkaMessage) -> None:
        assert b"\xe5\xbc\xa0" not in body  # no name in clear: the body is sealed
        dead.append(open_dead_letter(TEST_KEYRING, body, dict(message.headers)))

    good = kafka.submitted(record(sequence=1), record_id="good")
    refused = kafka.submitted(record(sequence=2), record_id="refused")
    also_good = kafka.submitted(record(sequence=3), record_id="also-good")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(
            good.model_dump(mode="json"),
            b"not json",
            refused.model_dump(mode="json"),
            also_good.model_dump(mode="json"),
            topic=TOPICS(RECORDS_SUBMITTED),
        )

    # the batch failed as a whole, then went one by one: only the refused event and the junk are gone
    assert handled == [["good"], ["also-good"]]
    assert len(dead) == 2
    assert b"not json" in dead
    assert any(body.startswith(b"{") and json.loads(body)["correlation_id"] == "refused" for body in dead)


class Polls:
    """An aiokafka consumer's getmany, answering from a script (one dict of batches per poll), then stopped."""

    def __init__(self, *answers: dict[str, list[str]]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[int, int | None]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[str]]:
        self.asked.append((timeout_ms, max_records))
        if not self.answers:
            raise ConsumerStoppedError
        return self.answers.pop(0)


async def test_an_empty_poll_is_followed_by_the_next_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # FastStream's own batch poll sleeps batch_timeout_ms after an empty poll, deaf to the topic meanwhile
    async def pause(seconds: float) -> None:
        raise AssertionError(f"paused {seconds} s after an empty poll")

    monkeypatch.setattr(faststream_subscriber, "anyio", SimpleNamespace(sleep=pause))
    broker = KafkaBroker()

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        raise AssertionError("not called: the consuming loop's batches are collected below")

    subscribe_batch(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)
    (registered,) = broker.subscribers
    subscriber = cast(Any, registered)
    batches: list[tuple[str, ...]] = []

    async def collect(batch: tuple[str, ...]) -> None:
        batches.append(batch)

    subscriber.consume_one = collect
    subscriber.running = True
    polls = Polls({}, {"p0": ["a", "b"], "p1": ["c"]}, {})

    await subscriber._run_consume_loop(polls)  # FastStream's own loop, as a started subscriber runs it

    assert batches == [("a", "b", "c")]  # every partition's records in one batch, as FastStream's poll
    assert polls.asked == [(POLL_MS, 2000)] * 4  # getmany waits up to POLL_MS itself: no spinning


def test_a_poll_that_would_spin_is_refused() -> None:
    broker = KafkaBroker()
    subscriber = broker.subscriber("t", group_id="g", batch=True, batch_timeout_ms=0)
    with pytest.raises(ValueError, match="spin"):
        poll_without_pause(subscriber)


def _bodies(*record_ids: str) -> list[bytes]:
    """A record submitted for each id, as its message's body."""
    return [
        kafka.submitted(record(sequence=n), record_id=rid).model_dump_json().encode()
        for n, rid in enumerate(record_ids, start=1)
    ]


async def _published_together(broker: KafkaBroker, bodies: list[bytes]) -> None:
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(*bodies, topic=TOPICS(RECORDS_SUBMITTED))


def _as_it_came(in_hand: InHand | None) -> tuple[bytes, str, bool, bool]:
    """A message in hand's body and topic, and whether its partition and offset are known."""
    assert in_hand is not None
    return in_hand.body, in_hand.topic, in_hand.partition is not None, in_hand.offset is not None


async def test_a_handler_knows_the_message_it_handles_as_it_came() -> None:
    """`message_in_hand`: the body as it came and where it came from, for a handler that keeps a message
    to handle later (routing's parked answers); nothing outside a handler."""
    broker = KafkaBroker()
    seen: list[tuple[bytes, str, bool, bool]] = []

    async def handler(envelope: Envelope, event: Event) -> None:
        seen.append(_as_it_came(message_in_hand()))
        if envelope.correlation_id == "refused":
            raise PermanentFailure("set aside")

    subscribe(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)
    bodies = _bodies("refused", "kept")
    await _published_together(broker, bodies)

    assert seen == [(body, TOPICS(RECORDS_SUBMITTED), True, True) for body in bodies]
    assert message_in_hand() is None


async def test_a_batch_handler_finds_each_message_of_its_batch_by_its_event_id() -> None:
    """The same for a `subscribe_batch` handler (routing's answers come in batches): each message of the batch
    by its event's id, in the whole batch and when a refusal sends it one message at a time; nothing else."""
    broker = KafkaBroker()
    seen: list[tuple[bytes, str, bool, bool]] = []
    runs: list[int] = []

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        runs.append(len(events))
        seen.extend(_as_it_came(message_in_hand(str(envelope.event_id))) for envelope, _ in events)
        assert message_in_hand(str(uuid.uuid4())) is None  # an event not of this batch
        assert message_in_hand() is None  # no event named: no single message in hand
        if any(envelope.correlation_id == "refused" for envelope, _ in events):
            raise PermanentFailure("set aside")

    subscribe_batch(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)
    bodies = _bodies("kept", "refused")
    await _published_together(broker, bodies)

    assert runs == [2, 1, 1]  # the batch, then one at a time
    assert seen == [(body, TOPICS(RECORDS_SUBMITTED), True, True) for body in bodies * 2]
    assert message_in_hand(str(Envelope.model_validate_json(bodies[0]).event_id)) is None  # outside the handler


class PausedDeadLetters(DeadLetters):
    """Dead letters Kafka does not take (a broker away), the pauses before a retry counted."""

    def __init__(self) -> None:
        super().__init__(self.refuse, retry_pause_s=0)
        self.pauses: list[str] = []

    async def refuse(self, body: bytes, headers: dict[str, str]) -> None:
        raise KafkaTimeoutError

    async def pause_before_retry(self, error: Exception) -> None:
        self.pauses.append(type(error).__name__)


async def test_a_dead_letter_kafka_does_not_take_fails_the_batch_after_the_pause() -> None:
    # the undecodable message's dead letter failed the batch at once: FastStream handed it back at once,
    # and the consumer went round as fast as the broker could refuse
    broker = KafkaBroker()
    handled: list[str] = []

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        handled.extend(envelope.correlation_id for envelope, _ in events)

    sink = PausedDeadLetters()
    subscribe_batch(
        broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING, dead_letters=sink
    )
    good = kafka.submitted(record(sequence=1), record_id="good")
    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(KafkaTimeoutError):
            await test_broker.publish_batch(b"not json", good.model_dump(mode="json"), topic=TOPICS(RECORDS_SUBMITTED))

    assert sink.pauses == ["KafkaTimeoutError"]
    # the decoded are handled before the undecodable are set aside: the batch is not acknowledged and comes again
    # from the junk (tests/unit/test_dead_letters_not_repeated.py), the good record with it, handled again harmlessly
    assert handled == ["good"]


def test_members_are_consumers_of_one_group_each_reading_its_own_partitions() -> None:
    broker = KafkaBroker()

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        raise AssertionError("not called: nothing is consumed here")

    subscribe_batch(
        broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING, members=3
    )

    members = [cast(Any, s) for s in broker.subscribers]
    assert len(members) == 3  # three consumers, so the group's partitions are shared out three ways
    assert {m.group_id for m in members} == {"t.g"}
    assert {tuple(m.topic_names) for m in members} == {(TOPICS(RECORDS_SUBMITTED),)}
    assert all(m.ack_policy is not AckPolicy.ACK_FIRST for m in members)  # each commits after its batch


async def test_a_message_whose_field_names_fill_it_is_dead_lettered_within_kafkas_message_size() -> None:
    # pydantic names each field it refuses: a hostile message of one 900 KB field name (Kafka takes it) made a
    # 900 KB error header beside the sealed body, a dead letter Kafka never takes, so the message came again
    # for ever and its partition stood still
    [(body, headers)] = await dead_letters_on_the_topic(b'{"' + b"x" * 900_000 + b'": 1}')
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(None, body, [(k, v.encode()) for k, v in headers.items()])
    assert size <= 1024 * 1024  # aiokafka's max_request_size and Kafka's default message.max.bytes


async def test_a_dead_letter_names_our_fields_only_never_one_the_sender_made_up() -> None:
    """A field the model does not have, and a key of a mapping, are the sender's text: a broken producer's
    may be a name or an identity number. The dead letter's headers (not sealed) and the log say where the
    error lies in our own field names only."""
    envelope = json.loads(kafka.submitted(record()).model_dump_json())
    number = record()["person"]["id_number"]
    envelope["payload"]["record"][number] = "张三"  # a field named by a value
    envelope["payload"]["张三"] = 1
    [(_, headers)] = await dead_letters_on_the_topic(json.dumps(envelope).encode())
    assert number not in headers["error"]
    assert "张三" not in headers["error"]
    assert "(a field it does not have)" in headers["error"]


async def dead_letters_on_the_topic(message: bytes) -> list[tuple[bytes, dict[str, str]]]:
    """What the dead-letter topic holds (body, headers) once a batch subscriber has read `message`."""
    broker, letters = KafkaBroker(), []

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        pass

    subscribe_batch(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)

    @broker.subscriber(TOPICS(DEAD_LETTER))
    async def on_dead_letter(body: bytes, message: KafkaMessage) -> None:
        letters.append((body, dict(message.headers)))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(message, topic=TOPICS(RECORDS_SUBMITTED))
    return letters


async def test_a_batch_is_consumed_without_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # a `KafkaMessage` parameter is resolved by fast-depends in anyio's worker threads: a thread hop every batch
    # of every subscriber (docs/performance.md, round 55); the message comes from FastStream's context instead
    hops: list[Any] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    broker = KafkaBroker()
    handled: list[str] = []

    async def handler(events: list[tuple[Envelope, Event]]) -> None:
        handled.extend(envelope.correlation_id for envelope, _ in events)

    subscribe_batch(broker, TOPICS, topic=RECORDS_SUBMITTED, group="g", handler=handler, keyring=TEST_KEYRING)
    async with TestKafkaBroker(broker) as test_broker:
        for n in range(3):
            body = kafka.submitted(record(sequence=n), record_id=f"r{n}").model_dump(mode="json")
            await test_broker.publish_batch(body, topic=TOPICS(RECORDS_SUBMITTED))

    assert handled == ["r0", "r1", "r2"]
    assert hops == []

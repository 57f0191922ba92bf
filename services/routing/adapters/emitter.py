"""Publishes the events a unit of work produced.

Sends without waiting for each confirmation, then awaits them all:
one round trip per unit of work instead of one per event. A unit of work
that writes in runs hands each run's events over as the run is written (a
`Publication`), so the broker takes them while the next run is decided.
Raises if any send failed, so the caller's transaction is not committed and
the cause is re-delivered.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from time import monotonic
from typing import Any, Protocol

import orjson
from faststream.kafka import KafkaBroker

from shared.events import Envelope
from shared.kafka.direct import DirectSender
from shared.kafka.renewal import Renewal
from shared.topics import TopicNames


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to publish: its envelope as JSON (`envelope_json`), the topic and the key."""

    body: dict[str, Any]
    topic: str
    key: str

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def envelope(self) -> Envelope:
        """The envelope as the model, validated: for tests and readers off the hot path."""
        return Envelope.model_validate(self.body)


class Publication(Protocol):
    """One unit of work's events, handed over a run at a time and confirmed once at the end."""

    async def hand_over(self, events: list[Outgoing]) -> None:
        """Start publishing `events`, after those handed over before (one person's stay in order)."""

    async def confirmed(self) -> None:
        """Wait until the broker has every event handed over; raises if any send failed."""

    def abandon(self) -> None:
        """Stop caring how the sends handed over end: the unit of work failed, and comes again."""


class Emitter(Protocol):
    async def emit(self, events: list[Outgoing]) -> None: ...

    def publication(self) -> Publication: ...


class KafkaEmitter:
    """Hands each event straight to the broker's aiokafka producer (idempotent, acks=all).

    FastStream's `publish` costs more per event than routing's decision does
    (a command object, middlewares, its codec): the body is encoded here as
    FastStream would (compact JSON; orjson, the same bytes as pydantic's encoder
    in a quarter of its time) with the headers FastStream would add.
    Under FastStream's test broker, which has no aiokafka producer, events go
    through `broker.publish`.
    """

    def __init__(self, broker: KafkaBroker, topics: TopicNames) -> None:
        self._broker = broker
        self._topics = topics

    async def emit(self, events: list[Outgoing]) -> None:
        publication = self.publication()
        try:
            await publication.hand_over(events)
            await publication.confirmed()
        except BaseException:
            publication.abandon()
            raise

    def publication(self) -> Publication:
        # a refusal's new producer id is taken between hand-overs, once what was sent before has settled
        return _KafkaPublication(DirectSender(self._broker, renewal=Renewal.WHEN_SETTLED), self._topics)


class _KafkaPublication:
    def __init__(self, sender: DirectSender, topics: TopicNames) -> None:
        self._sender, self._topics = sender, topics
        self._sent: list[Any] = []
        self._events: list[Outgoing] = []  # what was handed over, the first len(_sent) of them sent
        self._runs: list[tuple[int, float]] = []  # each hand-over's first index in _events, and its monotonic()
        self._settling = sender.settling
        self._generation = self._settling.generation  # the producer id this publication's sends leave on
        self._settling.join(self)

    def unsettled(self) -> list[Any]:
        return self._sent

    async def hand_over(self, events: list[Outgoing]) -> None:
        settling = self._settling
        if settling.wanted is not None or settling.generation != self._generation:
            await settling.settle()  # Kafka refused a batch: the producer takes a new id once the sends out settle
            if self._sent:  # sent on the id before: a refused earlier event fails this unit of work before a later
                await self.confirmed()  # one of the person leaves on the new id
            self._generation = settling.generation
        send, topics, sent = self._sender.send, self._topics, self._sent
        self._runs.append((len(self._events), monotonic()))
        self._events.extend(events)
        settling.sending()
        try:
            for e in events:  # each kept as it is made: a send that raises leaves the earlier ones to `abandon`
                sent.append(await send(topics(e.topic), e.key.encode(), e.body, encoded(e.body)))
        finally:
            settling.sent()

    async def confirmed(self) -> None:
        for n, future in enumerate(self._sent):  # in order: most are done once the first is, and a done one at once
            if isinstance(future, asyncio.Future):  # the test broker has delivered already
                try:
                    if future.done():
                        future.result()
                    else:  # cancelling this unit of work must not cancel the send: its record leaves all the same
                        await asyncio.shield(future)  # (aiokafka's `send`), and the new id waits for it (`abandon`)
                except Exception as error:  # the producer takes a new id at the next hand-over (`Settling`)
                    event = self._events[n]
                    self._sender.failed(
                        self._topics(event.topic), event.key.encode(), error, generation=self._generation
                    )
                    self._sent, self._events = self._sent[n + 1 :], self._events[n + 1 :]  # `abandon` has the rest
                    self._runs = []  # nothing of these is called taken
                    raise
        if self._sent:  # a refusal's note at /readyz is let go once its partition takes a send again
            self._sender.taken(self._taken_runs())
        self._sent, self._events, self._runs = [], [], []  # kept until then: `abandon` sees the rest of a failure

    def _taken_runs(self) -> Iterator[tuple[float, Iterator[tuple[str, bytes]]]]:
        """Each run handed over, with when: (monotonic(), its sends as (topic, key))."""
        events, topics = self._events, self._topics
        ends = [start for start, _ in self._runs[1:]] + [len(events)]
        for (start, made_at), end in zip(self._runs, ends, strict=True):
            yield made_at, ((topics(e.topic), e.key.encode()) for e in events[start:end])

    def abandon(self) -> None:
        sent, events, self._sent, self._events, self._runs = self._sent, self._events, [], [], []
        for future, event in zip(sent, events, strict=False):  # events handed over but never sent have no future
            if isinstance(future, asyncio.Future):
                self._settling.left(future)  # the new id, if one is wanted, waits for these too
                future.add_done_callback(functools.partial(self._unawaited, event, self._generation))

    def _unawaited(self, event: Outgoing, generation: int, future: asyncio.Future[Any]) -> None:
        """The outcome of a send nobody awaits: a refusal still asks for the new id; not reported as "never
        retrieved" on top of the unit of work's own error."""
        if not future.cancelled() and (error := future.exception()) is not None:
            self._sender.failed(self._topics(event.topic), event.key.encode(), error, generation=generation)


def encoded(body: dict[str, Any]) -> bytes:
    """The body as compact JSON, byte for byte what pydantic's `to_json` (FastStream's encoder) writes."""
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


class RecordingEmitter:
    """Keeps what would be published: for unit tests, and for a rebuild that must not re-publish."""

    def __init__(self) -> None:
        self.events: list[Outgoing] = []

    async def emit(self, events: list[Outgoing]) -> None:
        self.events.extend(events)

    def publication(self) -> Publication:
        return _AtOnce(self)


class DiscardingEmitter:
    """Publishes nothing: a rebuild reconstructs the store, the topics already hold the events."""

    async def emit(self, events: list[Outgoing]) -> None:
        return None

    def publication(self) -> Publication:
        return _AtOnce(self)


class _AtOnce:
    """A publication through an emitter that has what it is given at once."""

    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter

    async def hand_over(self, events: list[Outgoing]) -> None:
        await self._emitter.emit(events)

    async def confirmed(self) -> None:
        return None

    def abandon(self) -> None:
        return None

"""Publishes the events a unit of work produced, all at once.

Sends without waiting for each confirmation, then awaits them all:
one round trip per unit of work instead of one per event. Raises if any
send failed, so the caller's transaction is not committed and the cause is
re-delivered.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from faststream.kafka import KafkaBroker

from shared.events import Envelope
from shared.kafka.direct import DirectSender
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


class Emitter(Protocol):
    async def emit(self, events: list[Outgoing]) -> None: ...


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
        sender = DirectSender(self._broker)
        pending = [await sender.send(self._topics(e.topic), e.key.encode(), e.body, encoded(e.body)) for e in events]
        for sent in pending:  # in order: most are done once the first is, and a done future returns at once
            if inspect.isawaitable(sent):  # the test broker has delivered already
                await sent


def encoded(body: dict[str, Any]) -> bytes:
    """The body as compact JSON, byte for byte what pydantic's `to_json` (FastStream's encoder) writes."""
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


class RecordingEmitter:
    """Keeps what would be published: for unit tests, and for a rebuild that must not re-publish."""

    def __init__(self) -> None:
        self.events: list[Outgoing] = []

    async def emit(self, events: list[Outgoing]) -> None:
        self.events.extend(events)


class DiscardingEmitter:
    """Publishes nothing: a rebuild reconstructs the store, the topics already hold the events."""

    async def emit(self, events: list[Outgoing]) -> None:
        return None

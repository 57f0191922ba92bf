"""A never-started aiokafka producer put behind every broker, and a clock the producer's notes read, for unit tests.

The direct sender (shared/kafka/direct.py), what /readyz says of refusals
(shared/kafka/refusals.py) and the producer's new ids (shared/kafka/renewal.py)
each bind `aiokafka_producer` or `monotonic` in their own module: a fake
patched into one of them alone would leave the others reading the real one.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from shared.kafka import direct, refusals, renewal


def never_started(**options: object) -> AIOKafkaProducer:
    """A producer that never connects (its broker's address answers nothing). aiokafka warns "Unclosed
    AIOKafkaProducer" for every producer collected unstopped, and under pytest-xdist the warning's log line met a
    closed stream: this one reads as never started, so it says nothing (a test that sets `_closed = False` to
    read as started does so with monkeypatch, which puts this back)."""
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **options)
    producer._closed = None
    return producer


def behind_every_broker(monkeypatch: pytest.MonkeyPatch, producer: AIOKafkaProducer) -> None:
    """`producer` is what every broker's `aiokafka_producer` answers, for the senders and for /readyz alike."""
    for module in (direct, refusals):
        monkeypatch.setattr(module, "aiokafka_producer", lambda broker: producer)


def producer_clock(monkeypatch: pytest.MonkeyPatch, start: float = 1000.0) -> list[float]:
    """The seconds the producer's modules read from their monotonic clock (`now[0]`), for a test to move on."""
    now = [start]
    for module in (direct, refusals, renewal):
        monkeypatch.setattr(module, "monotonic", lambda: now[0])
    return now

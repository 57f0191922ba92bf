"""The envelope around every event on Kafka, and the registry that parses payloads.

The envelope is the same for every event; the payload is a versioned, frozen
pydantic model. Consumers call `parse_event`, which upcasts old versions so a
handler only ever sees the current shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(BaseModel):
    """Base of every payload: frozen, unknown fields rejected, typed and versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    TOPIC: ClassVar[str]
    # upcasters[v] turns a version-v payload into version v+1
    UPCASTERS: ClassVar[dict[int, Upcaster]] = {}


class Envelope(BaseModel):
    """What travels on every topic: metadata plus the payload as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(description="Unique id of this event; consumers deduplicate on it")
    type: str = Field(max_length=60, description="Payload type, e.g. RecordSubmitted")
    version: int = Field(ge=1, description="Schema version of the payload")
    occurred_at: datetime = Field(description="When the fact happened (UTC)")
    producer: str = Field(max_length=40, description="Service that published the event")
    correlation_id: str = Field(max_length=64, description="The record id the event belongs to")
    payload: dict[str, Any] = Field(description="The payload, shaped by type and version")


REGISTRY: dict[str, type[Event]] = {}


def register(event_class: type[Event]) -> type[Event]:
    """Class decorator: makes a payload class parseable by `parse_event`."""
    REGISTRY[event_class.TYPE] = event_class
    return event_class


def new_envelope(
    event: Event,
    *,
    producer: str,
    correlation_id: str,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Wrap a payload. Pass a deterministic `event_id` when a replay must re-emit the same event."""
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        type=event.TYPE,
        version=event.VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        payload=event.model_dump(mode="json"),
    )


class UnknownEventType(ValueError):
    """The envelope names a payload type no class is registered for."""


def parse_event(envelope: Envelope) -> Event:
    """The envelope's payload as its current class, upcasting older versions."""
    event_class = REGISTRY.get(envelope.type)
    if event_class is None:
        raise UnknownEventType(envelope.type)
    payload = dict(envelope.payload)
    for version in range(envelope.version, event_class.VERSION):
        payload = event_class.UPCASTERS[version](payload)
    return event_class.model_validate(payload)

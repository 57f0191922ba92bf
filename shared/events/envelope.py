"""The envelope around every event on Kafka, and the registry that parses payloads.

The envelope is the same for every event; the payload is a versioned, frozen
pydantic model. Consumers call `parse_event`, which upcasts old versions so a
handler only ever sees the current shape.

Personal parts of a payload travel sealed (shared.sealing): an event class
names them in `SEALED` (dotted paths into the payload), `new_envelope` seals
each with the keyring's current key, bound to the event id and the path, and
`parse_event` opens them again. On the wire such a part is a `pf1.<key id>....`
string; in memory a handler sees the plain model. From the version a class
names in `SEALED_TOGETHER_SINCE`, its parts travel together instead: taken
out of their places and sealed once, as one block under `payload.sealed`,
bound to the event id (shared/events/sealed_parts.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from shared.events.sealed_parts import SEALED_BLOCK, SealedTree, blocked, changed, paths_tree, unblocked
from shared.ids import new_id, new_uuid
from shared.sealing import Keyring, SealError

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(BaseModel):
    """Base of every payload: frozen, unknown fields rejected, typed and versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]
    TOPIC: ClassVar[str]
    # upcasters[v] turns a version-v payload into version v+1
    UPCASTERS: ClassVar[dict[int, Upcaster]] = {}
    # dotted paths of the payload that travel sealed, from version SEALED_SINCE on, or from the version
    # SEALED_FROM names for a path sealed later (a payload of a version before it carries that part in clear)
    SEALED: ClassVar[tuple[str, ...]] = ()
    SEALED_SINCE: ClassVar[int] = 1
    SEALED_FROM: ClassVar[dict[str, int]] = {}
    # from this version on, the present SEALED parts travel as one block sealed once (SEALED_BLOCK), not
    # each sealed in its place: a seal costs about the same whatever its size, so three parts cost three
    SEALED_TOGETHER_SINCE: ClassVar[int | None] = None


class Envelope(BaseModel):
    """What travels on every topic: metadata plus the payload as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(description="Unique id of this event; consumers deduplicate on it")
    type: str = Field(max_length=60, description="Payload type, e.g. RecordSubmitted")
    version: int = Field(ge=1, description="Schema version of the payload")
    # a time without an offset is no instant a consumer can place (whose clock? read as UTC or as Beijing time,
    # 8 hours apart): such an envelope is invalid, dead-lettered as it is read, never retried
    occurred_at: AwareDatetime = Field(description="When the fact happened, with its offset (written in UTC)")
    producer: str = Field(max_length=40, description="Service that published the event")
    correlation_id: str = Field(max_length=64, description="The record id the event belongs to")
    payload: dict[str, Any] = Field(description="The payload, shaped by type and version")


REGISTRY: dict[str, type[Event]] = {}


def register(event_class: type[Event]) -> type[Event]:
    """Class decorator: makes a payload class parseable by `parse_event`."""
    if event_class.SEALED_TOGETHER_SINCE is not None and SEALED_BLOCK in event_class.model_fields:
        raise TypeError(f"{event_class.TYPE} seals its parts as one block: no field may be named {SEALED_BLOCK!r}")
    REGISTRY[event_class.TYPE] = event_class
    return event_class


def new_envelope(
    event: Event,
    *,
    producer: str,
    correlation_id: str,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    keyring: Keyring | None = None,
) -> Envelope:
    """Wrap a payload, its `SEALED` parts sealed with `keyring` (required when there are any).

    Pass a deterministic `event_id` when a replay must re-emit the same event.
    """
    event_id = event_id or new_uuid()  # time-ordered: every consumer's table of handled events grows by it
    payload = sealed_payload(type(event), event.model_dump(mode="json"), event_id=event_id, keyring=keyring)
    return Envelope(
        event_id=event_id,
        type=event.TYPE,
        version=event.VERSION,
        occurred_at=occurred_in_utc(occurred_at),
        producer=producer,
        correlation_id=correlation_id,
        payload=payload,
    )


def envelope_json(
    event: Event,
    *,
    producer: str,
    correlation_id: str,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    keyring: Keyring | None = None,
) -> dict[str, Any]:
    """`new_envelope(...).model_dump(mode="json")`, without building the Envelope model.

    For writers of many events (an outbox batch, a routing batch): the payload
    is already JSON from the event's own dump, so validating it again as an
    Envelope and dumping it once more only cost time. The envelope's bounds
    are checked all the same, so the result is what `Envelope` accepts.
    """
    return payload_envelope_json(
        type(event),
        event.model_dump(mode="json"),
        producer=producer,
        correlation_id=correlation_id,
        event_id=event_id,
        occurred_at=occurred_at,
        keyring=keyring,
    )


def payload_envelope_json(
    event_class: type[Event],
    payload: dict[str, Any],
    *,
    producer: str,
    correlation_id: str,
    event_id: uuid.UUID | str | None = None,
    occurred_at: datetime | None = None,
    keyring: Keyring | None = None,
) -> dict[str, Any]:
    """`envelope_json` for a payload already in JSON form (the event's current version, times by `json_time`):
    for a writer that has the payload's parts as JSON and would otherwise build the event to dump it.
    `event_id` may be given as a UUID's text (routing derives its ids as text)."""
    _check_bounds(event_class.TYPE, producer, correlation_id)
    # once: UUID.__str__ is Python, and a routing batch writes thousands
    event_id_text = str(event_id) if event_id else new_id()
    return {
        "event_id": event_id_text,
        "type": event_class.TYPE,
        "version": event_class.VERSION,
        "occurred_at": json_time(occurred_in_utc(occurred_at)),
        "producer": producer,
        "correlation_id": correlation_id,
        "payload": _sealed(event_class, payload, event_id_text, keyring),
    }


def occurred_in_utc(moment: datetime | None) -> datetime:
    """An envelope's `occurred_at` as every producer of ours writes it: aware and in UTC (now when None).

    A time without an offset is a bug of the producer's: every consumer would dead-letter its event
    (Envelope), so it is refused here, before anything is sent, with ValueError.
    """
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is UTC:
        return moment
    if moment.utcoffset() is None:
        raise ValueError("an envelope's occurred_at needs a time zone: write an aware time (UTC)")
    return moment.astimezone(UTC)


def json_time(moment: datetime) -> str:
    """A time as the event models write it in JSON (UTC as `Z`): byte for byte what pydantic writes.

    Remembered: a batch writes the same few times (its `now`, a due day) into thousands of
    events. Keyed by the offset too: the same instant in another zone is equal, but written
    otherwise. A time not seen yet is written by orjson, under half of pydantic's cost (a
    record's own times miss every time). What orjson writes otherwise goes to pydantic (none
    in practice): an offset in seconds (orjson rounds it, pydantic truncates), a subclass of
    datetime (orjson refuses it).

    A time without an offset (naive, or of a zone that gives none) is refused with ValueError:
    every time of every event carries one, so each consumer would dead-letter the event. Those
    who write a payload as JSON directly (routing's batches, intake's records) thus cannot send
    one, as the models refuse it to those who build the event.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("an event's time needs a time zone: write an aware time (UTC)")
    key = (moment, offset)
    text = _TIME_TEXTS.get(key)
    if text is None:
        if len(_TIME_TEXTS) >= _TIME_TEXTS_KEPT:
            _TIME_TEXTS.clear()
        if _orjson_writes_as_pydantic(moment, offset):
            text = orjson.dumps(moment, option=orjson.OPT_UTC_Z)[1:-1].decode()
        else:
            text = _DATETIME.dump_python(moment, mode="json")
        _TIME_TEXTS[key] = text
    return text


def _orjson_writes_as_pydantic(moment: datetime, offset: timedelta) -> bool:
    """A plain datetime with an offset in whole minutes."""
    return type(moment) is datetime and not offset % _MINUTE


_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_MINUTE = timedelta(minutes=1)
_TIME_TEXTS: dict[tuple[datetime, timedelta], str] = {}
_TIME_TEXTS_KEPT = 4096
_BOUNDS = (("type", 60), ("producer", 40), ("correlation_id", 64))


def _check_bounds(*values: str) -> None:
    for (name, limit), value in zip(_BOUNDS, values, strict=True):
        if len(value) > limit:
            raise ValueError(f"envelope {name} is longer than {limit} characters")


def sealed_payload(
    event_class: type[Event], payload: dict[str, Any], *, event_id: uuid.UUID, keyring: Keyring | None
) -> dict[str, Any]:
    """`payload` (JSON of the current version) with its `SEALED` parts sealed for the event `event_id`."""
    return _sealed(event_class, payload, str(event_id), keyring)


def _sealed(
    event_class: type[Event], payload: dict[str, Any], event_id: str, keyring: Keyring | None
) -> dict[str, Any]:
    if not event_class.SEALED:
        return payload
    if keyring is None:
        raise TypeError(f"{event_class.TYPE} carries personal data: sealing it needs the keyring")
    prefix = f"{event_class.TYPE}/{event_id}/"
    if sealed_together(event_class):
        return blocked(
            payload, _sealed_tree(event_class), lambda parts: keyring.seal(parts, context=prefix + SEALED_BLOCK)
        )
    return changed(payload, _sealed_tree(event_class), lambda value, path: keyring.seal(value, context=prefix + path))


class UnknownEventType(ValueError):
    """The envelope names a payload type no class is registered for."""


class SealedWithoutKeyring(SealError):
    """A payload with sealed parts was parsed without the keyring that opens them."""


def parse_event(envelope: Envelope, keyring: Keyring | None = None) -> Event:
    """The envelope's payload as its current class, its sealed parts opened, older versions upcast.

    SealError (a subclass of ValueError) when a sealed part does not open, or when a payload of a
    version that seals its parts together has a part in clear or a block that does not fit it.
    The envelope itself is left as it is (its payload still sealed).
    """
    event_class = REGISTRY.get(envelope.type)
    if event_class is None:
        raise UnknownEventType(envelope.type)
    sealed = bool(_sealed_tree(event_class, envelope.version))
    if sealed and keyring is None:
        raise SealedWithoutKeyring(f"{envelope.type} carries sealed parts: parse_event needs the keyring")
    if envelope.version >= event_class.VERSION:
        # the hot path, once per consumed message: validation does not change its input, so only
        # the dicts on the way to a sealed part are copied (to open it in), nothing when none is
        if not sealed:
            return event_class.model_validate(envelope.payload)
        return event_class.model_validate(_opened(event_class, envelope, keyring))
    payload = _copied(envelope.payload)  # an upcaster may change what it is given
    if sealed:
        payload = _opened(event_class, envelope, keyring, payload)
    for version in range(envelope.version, event_class.VERSION):
        payload = event_class.UPCASTERS[version](payload)
    return event_class.model_validate(payload)


def _opened(
    event_class: type[Event], envelope: Envelope, keyring: Keyring | None, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    assert keyring is not None
    prefix = f"{event_class.TYPE}/{envelope.event_id}/"
    payload = envelope.payload if payload is None else payload
    tree = _sealed_tree(event_class, envelope.version)
    if sealed_together(event_class, envelope.version):
        return unblocked(
            payload,
            tree,
            lambda token: keyring.open(str(token), context=prefix + SEALED_BLOCK),
            f"{event_class.TYPE} v{envelope.version}",
        )
    return changed(payload, tree, lambda token, path: keyring.open(str(token), context=prefix + path))


def sealed_paths(event_class: type[Event], version: int | None = None) -> tuple[str, ...]:
    """The SEALED paths a payload of `version` (by default the class's current one) carries sealed."""
    version = event_class.VERSION if version is None else version
    return tuple(
        path for path in event_class.SEALED if version >= event_class.SEALED_FROM.get(path, event_class.SEALED_SINCE)
    )


def sealed_together(event_class: type[Event], version: int | None = None) -> bool:
    """Whether a payload of `version` (by default the current one) carries its sealed parts as one block."""
    version = event_class.VERSION if version is None else min(version, event_class.VERSION)
    since = event_class.SEALED_TOGETHER_SINCE
    return since is not None and version >= since


# A class's sealed paths at a version as a tree (sealed_parts.SealedTree), by class and version
_SEALED_TREES: dict[tuple[type[Event], int], SealedTree] = {}


def _sealed_tree(event_class: type[Event], version: int | None = None) -> SealedTree:
    """What a payload of `version` (by default the current one) carries sealed; empty before SEALED_SINCE."""
    version = event_class.VERSION if version is None else min(version, event_class.VERSION)
    tree = _SEALED_TREES.get((event_class, version))
    if tree is None:
        tree = _SEALED_TREES[(event_class, version)] = paths_tree(sealed_paths(event_class, version))
    return tree


def changed_parts(payload: dict[str, Any], paths: tuple[str, ...], change: Callable[[Any, str], Any]) -> dict[str, Any]:
    """A copy of `payload` with `change(value, path)` applied at each dotted path of `paths`: the walk
    `new_envelope` and `parse_event` seal and open `SEALED` with before a class seals them together, for
    a store that keeps the same parts sealed in place. Absent or null parts stay as they are; dicts off
    those paths are shared, not copied."""
    return changed(payload, paths_tree(paths), change)


def _copied(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: _copied(v) if isinstance(v, dict) else v for k, v in payload.items()}

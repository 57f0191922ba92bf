"""A batch as the subscribers handle it: its messages decoded or not, in the order they came, and a batch
handler's run over them (the whole batch, then one message at a time when it fails for good).

Each run marks a message done (Progress) once it is handled or its dead letter taken, in its partition's
order, so that a batch failing part way is read again from its first message not done (shared.kafka.consuming).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from shared.events.envelope import Envelope, Event, parse_event
from shared.kafka.failures import PERMANENT_ERRORS, DeadLetters, is_permanent
from shared.kafka.progress import Progress
from shared.sealing import Keyring

BatchHandler = Callable[[list[tuple[Envelope, Event]]], Awaitable[None]]


@dataclass(frozen=True)
class Readable:
    """A message of a batch that decoded: its envelope and event, its body as it came, its consumer record."""

    envelope: Envelope
    event: Event
    body: bytes
    record: Any


@dataclass(frozen=True)
class Unreadable:
    """A message of a batch that did not decode, and why: it is set aside in its turn."""

    body: bytes
    record: Any
    error: Exception


Decoded = Sequence[Readable | Unreadable]  # a batch's messages, in the order they came
Run = Callable[[Decoded, Progress], Awaitable[None]]  # handles a batch, marking each message done as it is


def decoded(records: list[Any], keyring: Keyring) -> list[Readable | Unreadable]:
    """Each consumer record decoded (its sealed parts opened with `keyring`), or why it does not decode."""
    messages: list[Readable | Unreadable] = []
    for record in records:
        # a record without a value (a tombstone, a console producer's null) is undecodable like any other
        body = bytes(record.value or b"")
        try:
            envelope = Envelope.model_validate_json(body)
            messages.append(Readable(envelope, parse_event(envelope, keyring), body, record))
        except PERMANENT_ERRORS as error:
            messages.append(Unreadable(body, record, error))
    return messages


# the messages of the batch a batch handler is handling, by event id (`in_batch`)
_IN_BATCH: ContextVar[dict[str, Readable] | None] = ContextVar("popflow_batch_in_hand", default=None)


def in_batch(event_id: str) -> Readable | None:
    """The message of the batch being handled whose event has this id; None outside a batch handler."""
    messages = _IN_BATCH.get()
    return messages.get(event_id) if messages else None


@contextmanager
def _handling(readable: list[Readable]) -> Iterator[None]:
    token = _IN_BATCH.set({str(m.envelope.event_id): m for m in readable})
    try:
        yield
    finally:
        _IN_BATCH.reset(token)


def batch_then_singles(handler: BatchHandler, sink: DeadLetters, group_id: str) -> Run:
    """`handler` over the whole batch, then its undecodable set aside in their order; when the handler raises a
    permanent error, the batch one message at a time instead. Meanwhile `in_batch` finds a message by its
    event's id (for a handler that keeps a message to handle it later)."""

    async def handle_batch(batch: Decoded, progress: Progress) -> None:
        readable = [m for m in batch if isinstance(m, Readable)]
        try:
            with _handling(readable):
                await handler([(m.envelope, m.event) for m in readable])
        except Exception as error:
            if not is_permanent(error):
                raise
            with _handling(readable):
                await _one_at_a_time(handler, batch, sink, group_id, progress)
            return
        for message in readable:
            progress.done(message.record)
        for unreadable in (m for m in batch if isinstance(m, Unreadable)):  # done once Kafka takes the dead letter
            await sink.send(unreadable.body, unreadable.record, unreadable.error, group=group_id)
            progress.done(unreadable.record)

    return handle_batch


async def _one_at_a_time(
    handler: BatchHandler, batch: Decoded, sink: DeadLetters, group_id: str, progress: Progress
) -> None:
    """Each message of a batch that failed for good, alone and in order: only the culprits are dead-lettered,
    the rest applied."""
    for message in batch:
        if isinstance(message, Unreadable):
            await sink.send(message.body, message.record, message.error, group=group_id)
        else:
            try:
                await handler([(message.envelope, message.event)])
            except Exception as single:
                if not is_permanent(single):
                    raise
                await sink.send(message.body, message.record, single, group=group_id)
        progress.done(message.record)

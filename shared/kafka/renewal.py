"""When a producer whose batch the broker refused takes a new id, and how writers with sends in flight wait for it.

aiokafka 0.14's idempotent producer counts a refused batch's sequence numbers
as used; a new producer id makes its sequences whole again
(shared/kafka/sequence.py). Apart from the sending (shared/kafka/direct.py)
because the rules are their own: how often a refusal that goes on may take
one (`may_renew`), and, for a writer that keeps several sends of a key in
flight, waiting until every send on the old id has its outcome (`Settling`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from enum import Enum
from time import monotonic
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
    UnsupportedVersionError,
)

from shared.kafka.refusals import REFUSED
from shared.kafka.sequence import renew_producer_id

log = structlog.get_logger(__name__)


class Renewal(Enum):
    """When a producer whose batch the broker refused takes its new id (`DirectSender.failed`)."""

    AT_ONCE = "at once"  # the outbox relay: one send of a key in flight, so nothing of a key is left on the old id
    WHEN_SETTLED = "when settled"  # routing's emitter: several of a key in flight (`Settling`)


# A refusal that goes on, the deployment's (a topic whose grant is missing, a clock that stays off), comes back at
# every relay pass, about once a second: a new producer id each time would leave the broker holding thousands a day
# (each for producer.id.expiration.ms, a day by default). Those renew at most once a minute. Any other refusal
# renews at once: one of a row's (its size) ends with the row set aside, one the broker does not explain with the
# row set aside after its strikes, and a sequence the broker calls broken is what a new id mends.
RENEW_EVERY_S = 60.0
_LASTING = (
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    InvalidTimestampError,
    UnsupportedVersionError,
    # the producer's or the topic's settings, refused for every batch until they are changed (NOT_THE_ROW,
    # shared/db/outbox_failures.py)
    InvalidRequiredAcksError,
    InvalidTopicError,
    UnsupportedForMessageFormatError,
)
_RENEWED_AT: weakref.WeakKeyDictionary[AIOKafkaProducer, float] = weakref.WeakKeyDictionary()


def may_renew(producer: AIOKafkaProducer, error: BaseException, *, backs_off: bool = False) -> bool:
    """Whether a refusal of `error` may give the producer a new id now (`RENEW_EVERY_S`).

    `backs_off`: for a writer whose every refusal may go on (it sends the same events again until they are
    taken): the gaps between its new ids grow from a second to a minute (`_GAPS`) while refusals go on."""
    last = _RENEWED_AT.get(producer)
    if last is None:
        return True
    if backs_off:
        return monotonic() - last >= _GAPS.get(producer, 0.0)
    return not isinstance(error, _LASTING) or monotonic() - last >= RENEW_EVERY_S


FIRST_GAP_S = 1.0
# producer -> how long after its last new id the next may be taken, for a writer that backs off: doubled at each
# renewal that follows the last within a minute and the gap it kept, up to RENEW_EVERY_S; back to a second after
# that long without one (a minute and the gap: two at most)
_GAPS: weakref.WeakKeyDictionary[AIOKafkaProducer, float] = weakref.WeakKeyDictionary()


def _next_gap(producer: AIOKafkaProducer, now: float) -> float:
    last, gap = _RENEWED_AT.get(producer), _GAPS.get(producer, 0.0)
    if last is None or now - last >= RENEW_EVERY_S + gap:
        return FIRST_GAP_S
    return min(max(gap * 2, FIRST_GAP_S), RENEW_EVERY_S)


def renew(producer: AIOKafkaProducer, topic: str, partition: int, error: str) -> bool:
    """`renew_producer_id`, noted and logged; False where the producer's layout has no id to renew."""
    if not renew_producer_id(producer):
        return False
    now = monotonic()
    _GAPS[producer] = _next_gap(producer, now)
    _RENEWED_AT[producer] = now
    log.warning("Kafka refused a batch: the producer takes a new id", topic=topic, partition=partition, error=error)
    if refused := REFUSED.get(producer):
        refused.sequence_broken, refused.batch_seen_at = False, 0.0
    if settling := _SETTLING.get(producer):  # taken at once or when settled, the sends before were on the old id
        settling.generation += 1
    return True


class Writer(Protocol):
    """A writer whose sends `Settling` waits for: those it made and has not confirmed."""

    def unsettled(self) -> Iterable[Any]: ...


SETTLE_SAID_EVERY_S = 30.0  # a new id that waits longer for the sends before says so in the log, this often


class Settling:
    """A producer's new id, for writers that keep a key's sends in flight over several hand-overs and confirm them
    once (routing's runs, confirmed at the end of a unit of work).

    Renewed at once, as the relay's is, a person's later event could leave on the new id while an earlier one,
    still out on the old id, is refused: the later one taken, the earlier sent again after it when its unit of work
    comes again. So a refusal only asks for the new id (`want`), and the next hand-over takes it (`settle`) once no
    send is being made and every send made on the old id has its outcome: those after the refused batch in its
    partition are refused with it, in order, and fail their units of work. A writer that sent on the old id and
    goes on after the renewal (`generation` changed) confirms what it sent first, so a unit of work whose earlier
    event was refused fails before any later one leaves: it comes again whole, as after a restart, without one.
    """

    def __init__(self, producer: AIOKafkaProducer | None) -> None:
        self._producer = weakref.ref(producer) if producer is not None else None
        self.generation = 0  # new ids taken
        self.wanted: tuple[str, int, str] | None = None  # the first refusal since the last new id: where, why
        self._sending = 0  # hand-overs in their sends
        self._quiet: asyncio.Future[None] | None = None  # set when the last of them ends, while `settle` waits
        self._writers: weakref.WeakSet[Writer] = weakref.WeakSet()
        self._left: set[asyncio.Future[Any]] = set()  # sends out whose writers gave up on them (a unit of work failed)
        self._lock = asyncio.Lock()

    def want(self, topic: str, partition: int, error: str) -> None:
        """A batch was refused: the next hand-over takes a new id, once the sends before have settled."""
        if self.wanted is None and self._producer is not None:
            self.wanted = (topic, partition, error)

    def join(self, writer: Writer) -> None:
        self._writers.add(writer)

    def left(self, send: asyncio.Future[Any]) -> None:
        """A send its writer no longer awaits: the new id waits for it all the same."""
        if not send.done():
            self._left.add(send)
            send.add_done_callback(self._left.discard)

    def sending(self) -> None:
        self._sending += 1

    def sent(self) -> None:
        self._sending -= 1
        if not self._sending and self._quiet is not None and not self._quiet.done():
            self._quiet.set_result(None)

    async def settle(self) -> None:
        """Take the new id `want` asked for, once nothing sent on the old one is still out."""
        async with self._lock:
            while self.wanted is not None:
                if self._sending:
                    self._quiet = asyncio.get_running_loop().create_future()
                    await self._quiet
                    continue
                out = [send for w in list(self._writers) for send in w.unsettled() if not send.done()]
                out += [send for send in self._left if not send.done()]
                if out:
                    _, pending = await asyncio.wait(out, timeout=SETTLE_SAID_EVERY_S)
                    if pending:  # an idempotent aiokafka producer never gives up on a send: a partition without
                        topic, partition, _ = self.wanted  # a leader holds the new id, and every hand-over, till back
                        log.warning(
                            "the producer's new id waits for sends still out on the old one",
                            sends=len(pending),
                            topic=topic,
                            partition=partition,
                            waited_s=SETTLE_SAID_EVERY_S,
                        )
                    continue
                (topic, partition, error), self.wanted = self.wanted, None
                producer = self._producer() if self._producer is not None else None
                if producer is not None:
                    renew(producer, topic, partition, error)  # the generation with it


# producer -> its Settling; weak, as REFUSED
_SETTLING: weakref.WeakKeyDictionary[AIOKafkaProducer, Settling] = weakref.WeakKeyDictionary()


def settling_of(producer: AIOKafkaProducer | None) -> Settling:
    """The producer's `Settling`; without a producer (the test broker's) one that never wants a new id."""
    if producer is None:
        return Settling(None)
    settling = _SETTLING.get(producer)
    if settling is None:
        settling = _SETTLING[producer] = Settling(producer)
    return settling

"""One relay pass's sends: its rows handed to Kafka, one row of a key in flight at a time, and each refusal judged.

Apart from the relay's loop and its reads (shared/db/outbox.py) because this
is where its failure policy lives: which refusal sets a row aside, which stops
the pass, which is retried.

Kafka answers a request per partition: when it refuses one row after it left
(too large for the topic, say), every row of the request in that partition
gets the error. aiokafka 0.14's idempotent producer, the services' own, counts
a refused request's sequence numbers as used, and the broker would refuse the
partition's later requests as out of sequence; at the refusal the producer
takes a new producer id instead, its sequences whole again
(`DirectSender.failed`, shared/kafka/sequence.py). The rows refused together
are then sent again one at a time, each once the one before is settled, and
a row is set aside only when it is refused alone for its own fault; the others
are published. So with an error that does not say whose it is (below): only
a row refused alone counts its strikes. A refusal that goes on (a grant
missing, a clock off) takes a new id at most once a minute.
So are the producer's batches of the partition that left after the refused
one, before the new id, and were refused as out of sequence: they are sent
again alone too (`sent_again_alone`). Where aiokafka's layout is not the one
known and no new id can be taken, the rows refused together are set aside
together (an admin retries the ones that were fine), the partition's later
requests are refused (the deployment's: the pass stops, the rows wait) until
the service restarts, and /readyz says so (`producer_problem`).
Within a pass one row of a key is in flight at a time: a later row of the key
leaves once the earlier is confirmed, so a row refused after it left (by a
broker's own limit, or unconfirmed when the connection drops) is never
overtaken by the next row of its person. An error that is the deployment's,
not the row's (`NOT_THE_ROW`: a timeout, a closing producer, refused
credentials, a producer's or topic's setting the broker refuses) sets nothing
aside: the pass stops and the next one tries again. An error that does not
say whose it is (the broker's "unexpected server error", a bare KafkaError,
any other that is named neither the row's, `THE_ROWS`, nor the deployment's)
stops the pass too, and the row is retried, first of its key, until it has
failed so in 5 passes over a minute at least (the services read both from
POPFLOW_OUTBOX_UNCLEAR_PASSES and POPFLOW_OUTBOX_UNCLEAR_FOR_S); it is then
set aside with its error (shared/db/outbox_failures.py has the why of the
bound, and what counts towards it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared.db.outbox_failures import FailsForGood, Fault, Strikes, UnclearFailures, fault_of, sent_again_alone
from shared.db.outbox_reads import Pending
from shared.kafka.direct import DirectSender
from shared.kafka.refusals import producer_problem
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Envelope = dict[str, Any]


ERROR_MAX = 500  # the error column's length
HEADER_FIELDS = ("event_id", "type", "correlation_id")  # what a send's headers carry (`json_headers`)


class OutboxSends:
    """A relay's rows handed to Kafka and judged, round by round (`send_round`); the relay reads and marks them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        topics: TopicNames,
        table: type[Any],
        *,
        open_envelope: Callable[[Envelope], Envelope],
        unclear: UnclearFailures,
    ) -> None:
        """`unclear`: the relay's count of each row's unclear failures, kept across its passes."""
        self._sessions = sessions
        self._broker = broker
        self._topics = topics
        self._table = table
        self._open = open_envelope
        self._unclear = unclear

    async def send_round(
        self, sender: DirectSender, rows: list[Pending], held: set[str], sent: list[int]
    ) -> tuple[list[Pending], BaseException | None]:
        """Send the first unsent row of each key, await every confirmation, and return the rows left
        for the next round (the later rows of a key in flight) and the error that ends the pass, if any.

        One row of a key in flight at a time: a later row of a person leaves only once the earlier is
        confirmed, so a row Kafka refuses after it left (a broker-side limit, a lost connection) is never
        overtaken by the next row of its person. Most passes have each key once: one round.
        """
        attempted: list[Pending] = []
        futures: list[asyncio.Future[object]] = []
        in_flight: set[str] = set()
        later: list[Pending] = []
        failure: BaseException | None = None
        for row in rows:
            if row.key in held:
                continue
            if row.key in in_flight:
                later.append(row)
                continue
            try:
                futures.append(await self._send(sender, row))
                attempted.append(row)
                in_flight.add(row.key)
            except Exception as error:
                if not await self._set_aside_if_given_up(row, error):  # Kafka unreachable (or unclear): stop
                    failure = error
                    break
                held.add(row.key)
        alone, failure = await self._settle(sender, attempted, await _outcomes(futures), held, sent, failure)
        if alone and failure is None:  # after a failure they wait, with their keys, for the next pass
            log.warning("outbox rows refused with their request, sent one by one", rows=len(alone))
            failure = await self._send_each_alone(sender, alone, held, sent)
        return later, failure

    async def _settle(
        self,
        sender: DirectSender,
        attempted: list[Pending],
        results: list[object],
        held: set[str],
        sent: list[int],
        failure: BaseException | None,
    ) -> tuple[list[Pending], BaseException | None]:
        """Count the confirmed rows sent and judge the others; return the rows to send again alone
        (`sent_again_alone`: refused with others of their partition) and the error that ends the pass, if any."""
        failed: list[tuple[Pending, BaseException]] = []
        for row, result in zip(attempted, results, strict=True):
            if isinstance(result, BaseException):
                failed.append((row, result))
                sender.failed(self._topics(row.topic), row.key.encode(), result)  # a refused batch: a new producer id
            else:
                sent.append(row.id)
        places = [((row.topic, sender.partition(self._topics(row.topic), row.key.encode())), e) for row, e in failed]
        again = sent_again_alone(places, renews=sender.renews_sequences)
        alone: list[Pending] = []
        for (row, error), is_alone in zip(failed, again, strict=True):
            held.add(row.key)  # judged or not, its key's later rows wait: set aside, unconfirmed, or sent alone next
            if is_alone:
                alone.append(row)
            elif not await self._set_aside_if_given_up(row, error):
                failure = failure or error
        return alone, failure

    async def _send_each_alone(
        self, sender: DirectSender, rows: list[Pending], held: set[str], sent: list[int]
    ) -> BaseException | None:
        """Send the rows one at a time, each once the one before is settled (a request of its own, through a
        producer whose sequence is whole again), setting aside those refused alone for a fault of theirs; the
        error that ends the pass, if any. A row refused alone with an unclear error has its strike and waits, and
        the others go on alone: the rows after it are not held for its minute. The deployment's error stops at
        once (the rows not yet sent wait for the next pass)."""
        failure: BaseException | None = None
        for row in rows:
            try:
                (result,) = await _outcomes([await self._send(sender, row)])
            except Exception as error:
                result = error
            if not isinstance(result, BaseException):
                sent.append(row.id)
                held.discard(row.key)
                continue
            sender.failed(self._topics(row.topic), row.key.encode(), result)
            if not await self._set_aside_if_given_up(row, result):
                if not self._counted(result):  # the deployment's: the pass stops
                    return result
                failure = failure or result
        return failure

    def _counted(self, error: BaseException) -> bool:
        """An unclear error counted against its row (`UnclearFailures`). Not while the producer itself is broken
        (said on /readyz): a dead sender task raises a copy of its error for every send (a bare KafkaError,
        unclear), whichever the row. Counted, it set aside a row a minute."""
        return fault_of(error) is Fault.UNCLEAR and not producer_problem(self._broker)

    async def _set_aside_if_given_up(self, row: Pending, error: BaseException) -> bool:
        """Set the row aside if the error is its own, or unclear for too long; False when it is to be retried."""
        fault, counted = fault_of(error), self._counted(error)
        if fault is Fault.DEPLOYMENT or (fault is Fault.UNCLEAR and not counted):
            return False
        strikes = self._unclear.failed(row.id) if counted else None
        if strikes is not None and not strikes.given_up:
            if strikes.passes == 1:  # not every pass: each failed pass is logged already
                log.warning("outbox row failed, whose fault unclear", row_id=row.id, error=type(error).__name__)
            return False
        await self._set_aside(row, error, strikes)
        return True

    async def _set_aside(self, row: Pending, error: BaseException, strikes: Strikes | None) -> None:
        note = f" (in {strikes.passes} passes since {strikes.first.isoformat(timespec='seconds')})" if strikes else ""
        reason = f"{type(error).__name__}: {error}"[: ERROR_MAX - len(note)] + note
        passes = {"unclear_passes": strikes.passes} if strikes else {}
        log.error("outbox row set aside", row_id=row.id, topic=row.topic, error=type(error).__name__, **passes)
        async with self._sessions.begin() as session:
            await session.execute(
                update(self._table)
                .where(col(self._table.id) == row.id)
                .values(set_aside_at=datetime.now(UTC), error=reason)
            )

    async def _send(self, sender: DirectSender, row: Pending) -> Any:
        """The row handed to the producer, its envelope opened: the send's future (FailsForGood when it does not
        open)."""
        envelope, body = self._opened(row)
        return await sender.send(self._topics(row.topic), row.key.encode(), envelope, body)

    def _opened(self, row: Pending) -> tuple[Envelope, bytes]:
        """The row's envelope opened, and the body to publish (the JSON FastStream would send). One that opens to
        anything but an object with the fields a send's headers carry fails for good too: read in the send, a
        missing one failed every pass as if Kafka were away, and held every later row of every key."""
        try:
            envelope = self._open(orjson.loads(row.envelope))
            body = orjson.dumps(envelope)
        except Exception as error:
            raise FailsForGood(f"the envelope cannot be opened ({type(error).__name__})") from error
        if not isinstance(envelope, dict) or not all(field in envelope for field in HEADER_FIELDS):
            raise FailsForGood(f"the envelope is not an object with {', '.join(HEADER_FIELDS)}")
        return envelope, body


async def _outcomes(futures: list[asyncio.Future[object]]) -> list[object]:
    """Each confirmation or its error, in order: most are done by the time they are asked for.

    gather() with its callback per future was a twentieth of a bulk import's CPU.
    """
    results: list[object] = []
    for future in futures:
        try:
            results.append(await future)
        except asyncio.CancelledError as error:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # the relay itself is stopping (cancelling the task cancelled the send it awaited too):
                # stop, or a leader that lost its lock would go on publishing beside the next one
                raise
            results.append(error)  # a send the producer gave up (as gather() reported it)
        except Exception as error:
            results.append(error)
    return results

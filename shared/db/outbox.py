"""The outbox relay: publishes events written in the same transaction as their state change.

A service writes its state change and the event's outbox row in one
transaction; the relay publishes unsent rows afterwards, oldest first,
without waiting for each confirmation, then marks as sent exactly the rows
Kafka confirmed. The producer is idempotent with acks=all, so per-partition
order holds through retries. If Kafka is unreachable the rows stay unsent
and the next pass (woken by new work or by the poll interval) tries again;
a crash between publish and mark publishes a row twice with the same event
id, which every consumer deduplicates. With `keep_sent` off
(POPFLOW_OUTBOX_KEEP_DAYS=0) the confirmed rows are deleted instead of
marked: an UPDATE writes the whole row again (its envelope included) and a
new entry in each index, and the purge later deletes it anyway.

A row that can never be published (larger than Kafka takes, an envelope that
no longer opens) is set aside with its error instead of holding back every
row behind it: `set_aside_at` and `error` are filled and an admin sees it
at GET /v1/admin/outbox/set-aside.
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
The rule that keeps one person's events in order: the later rows of the
SAME key (person key) are held behind a set-aside row, unsent, until an
admin acts on it: `retry` puts it back in line (it is still the oldest of
its key), `discard` gives it up (it stays listed as discarded, never
published) and lets the held rows go. Rows of other keys flow on. Within a
pass one row of a key is in flight at a time: a later row of the key leaves
once the earlier is confirmed, so a row refused after it left (by a broker's
own limit, or unconfirmed when the connection drops) is never overtaken by
the next row of its person. An error that is the deployment's, not the row's
(`NOT_THE_ROW`: a timeout, a closing producer, refused credentials, a
producer's or topic's setting the broker refuses) sets nothing aside: the
pass stops and the next one tries again. An error that does not say whose
it is (the broker's "unexpected server error", a bare KafkaError, any other
that is named neither the row's, `THE_ROWS`, nor the deployment's) stops the
pass too, and the row is retried, first of its key, until it has failed so
in 5 passes over a minute at least (the services read both from
POPFLOW_OUTBOX_UNCLEAR_PASSES and POPFLOW_OUTBOX_UNCLEAR_FOR_S);
it is then set aside with its error (shared/db/outbox_failures.py has the why of the
bound, and what counts towards it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import BigInteger, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared.clock import Clock, SystemClock
from shared.db.among import among
from shared.db.engine import SingleStatements
from shared.db.outbox_failures import FailsForGood, Fault, Strikes, UnclearFailures, fault_of, sent_again_alone
from shared.db.outbox_reads import Pending, pending, set_aside_keys
from shared.kafka.direct import DirectSender, producer_problem
from shared.metrics import Metrics, Samples
from shared.topics import TopicNames

log = structlog.get_logger(__name__)

Envelope = dict[str, Any]


ERROR_MAX = 500  # the error column's length
HEADER_FIELDS = ("event_id", "type", "correlation_id")  # what a send's headers carry (`json_headers`)


# a pass that waits on Kafka this long is said on /readyz: a healthy one takes milliseconds, a broker's restart
# or a leader's move a few seconds
STALLED_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class Failing:
    """The relay's passes failing in a row: since the first, how many, and the last one's error kind."""

    since: datetime
    passes: int = 0
    error: str = ""

    def again(self, error: str) -> Failing:
        return Failing(self.since, self.passes + 1, error)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        topics: TopicNames,
        table: type[Any],
        *,
        open_envelope: Callable[[Envelope], Envelope] = lambda envelope: envelope,
        batch: int = 1000,
        poll_interval_s: float = 1.0,
        linger_s: float = 0.02,
        keep_sent: bool = True,
        unclear_passes: int = 5,
        unclear_for_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        """`unclear_passes`, `unclear_for_s`: how long a row failing with an error that does not say whose
        fault it is keeps being retried before it is set aside (shared/db/outbox_failures.py says why both;
        the services read them from POPFLOW_OUTBOX_UNCLEAR_PASSES and POPFLOW_OUTBOX_UNCLEAR_FOR_S)."""
        self._sessions = sessions
        # a pass's reads and its update are each a statement of its own: three round trips, not six
        self._single_statements = SingleStatements(sessions)
        self._broker = broker
        self._topics = topics
        self._table = table
        self._open = open_envelope
        self._batch = batch
        # built once: building them was a fifth of a relay pass at low rates (with keys held back, per pass)
        self._held_keys = set_aside_keys(table)
        self._pending = pending(table, batch, [])
        self._poll_interval_s = poll_interval_s
        self._linger_s = linger_s
        self._keep_sent = keep_sent
        self._clock = clock or SystemClock()
        self._unclear = UnclearFailures(self._clock, passes=unclear_passes, over_s=unclear_for_s)
        self._wake = asyncio.Event()
        self._failing: Failing | None = None  # since the last pass that went through
        self._pass_started: datetime | None = None  # the pass under way

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; a failed pass is logged and retried, never fatal."""
        loop = asyncio.get_running_loop()
        while True:
            failed = False
            try:
                while await self.deliver_pending() == self._batch:
                    pass
            except Exception as error:
                failed = True
                # the pass's own RuntimeError wraps Kafka's: the operator needs the cause's kind
                cause = error.__cause__ if isinstance(error, RuntimeError) and error.__cause__ else error
                log.warning("outbox relay pass failed", error=type(cause).__name__)
                self._failing = (self._failing or Failing(self._clock.now())).again(type(cause).__name__)
            else:
                self._failing = None
            passed = loop.time()
            if failed:
                # the next try a poll later, however soon new rows wake it: under load they come every few ms, and
                # a refusal that goes on took a new producer id at each pass (the broker holds each for a day)
                await asyncio.sleep(self._poll_interval_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
            # passes at least `linger_s` apart: a steady stream leaves in batches, not a pass a row,
            # while a row after a quiet spell leaves at once instead of waiting out a linger
            await asyncio.sleep(max(0.0, passed + self._linger_s - loop.time()))
            self._wake.clear()

    def shown(self) -> dict[str, dict[str, Any]]:
        """For /readyz, while the relay's passes fail (credentials refused, a row whose fault is unclear) or one
        has waited on Kafka for STALLED_AFTER_S or more (Kafka unreachable: the producer retries its sends and the
        pass waits for their answers): since when, how many passes failed and the last one's error kind. The
        service stays ready: what it accepts is stored, and leaves once Kafka takes it. Shown by the replica that
        leads the relay."""
        failing, started = self._failing, self._pass_started
        if started is not None and (self._clock.now() - started).total_seconds() < STALLED_AFTER_S:
            started = None  # a pass under way, not yet waiting long
        if failing is None and started is None:
            return {}
        shown: dict[str, Any] = {}
        if failing is not None:
            shown |= {
                "failing_since": failing.since.isoformat(timespec="seconds"),
                "failed_passes": failing.passes,
                "error": failing.error,
            }
        if started is not None:
            shown["pass_waiting_since"] = started.isoformat(timespec="seconds")
        return {"outbox_relay": shown}

    async def backlog(self) -> int:
        """Rows waiting to be published, set-aside ones apart (an operator's gauge: it should stay near zero;
        GET /v1/admin/outbox/set-aside lists the others). Counted from the unsent rows' own index: the
        `sent_at` index holds published rows only (intake's migration 0009, notification's 0017)."""
        table = self._table
        waiting = (col(table.sent_at).is_(None), col(table.set_aside_at).is_(None))
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(table).where(*waiting))
        return int(count or 0)

    def measure(self, metrics: Metrics) -> None:
        """Report the backlog as `popflow_outbox_backlog` on every scrape."""

        async def read() -> Samples:
            return [((), float(await self.backlog()))]

        waiting = "Outbox rows waiting to be published to Kafka, set-aside rows apart"
        metrics.gauge("popflow_outbox_backlog", waiting, [], read)

    async def deliver_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were read."""
        self._pass_started = self._clock.now()
        try:
            return await self._deliver_pending()
        finally:
            self._pass_started = None

    async def _deliver_pending(self) -> int:
        async with self._single_statements.connect() as connection:
            blockers = [(key, first) for key, first in (await connection.execute(self._held_keys)).all()]
            query = pending(self._table, self._batch, blockers) if blockers else self._pending
            rows = [Pending(*row) for row in (await connection.execute(query)).all()]
        self._unclear.keep_only(row.id for row in rows)
        if not rows:
            return 0
        read = len(rows)
        held: set[str] = set()  # keys with a row set aside in this pass: their later rows wait
        sent: list[int] = []
        failure: BaseException | None = None
        sender = DirectSender(self._broker)
        while rows and failure is None:
            rows, failure = await self._send_round(sender, rows, held, sent)
        if sent:
            async with self._single_statements.connect() as connection:
                confirmed = among(col(self._table.id), "ids", connection.dialect.name, BigInteger())
                await connection.execute(
                    update(self._table).where(confirmed).values(sent_at=datetime.now(UTC))
                    if self._keep_sent
                    else delete(self._table).where(confirmed),
                    {"ids": sent},
                )
        if failure is not None:
            raise RuntimeError(f"{read - len(sent)} outbox rows not confirmed by Kafka") from failure
        return read

    async def _send_round(
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

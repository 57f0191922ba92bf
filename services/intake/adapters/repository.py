"""Stores accepted records with their cases and outbox rows, and reads them back.

A batch (one record, or up to INTAKE_BULK_BATCH rows of a bulk import) is
written in one transaction: duplicates are recognised first (same source
and external id, or same Idempotency-Key), then each person is matched to
their case (by blind index) and gets the next version, then records, outbox
rows and idempotency keys are inserted together. Keys are kept per kind
(tables.KeyKind): a single POST's and a bulk row's never answer for each
other. A keyed item's key is
stored whatever its answer, a new record or a duplicate of one stored before
or earlier in the batch, so the key answers the same next time and refuses
another body. Cases are counted up with one upsert, so two writers of the
same person serialise on its row. Records are inserted in the order of their
source refs, and keys in the order of their text, so two writers of the same
sources or keys wait for each other rather than deadlock. A concurrent writer
that stored the same source (or key) first makes the transaction fail on a
unique constraint; the batch is then retried and sees its work.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import orjson
import structlog
from sqlalchemy import (
    JSON,
    Column,
    Dialect,
    MetaData,
    Table,
    TypeDecorator,
    bindparam,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random

from services.intake.adapters.tables import IdempotencyRow, KeyKind, OutboxRow, PersonCaseRow, RecordRow
from shared.db import bulk
from shared.db.among import among
from shared.db.engine import SingleStatements
from shared.db.errors import is_connection_lost, is_rolled_back, sqlstate_of
from shared.db.upsert import conflict_insert
from shared.ids import new_id

log = structlog.get_logger(__name__)

ATTEMPTS = 5
ROLLED_BACK_WAIT_S = 0.1  # at most, at random, before a try after a deadlock: no two tries in step again
COPY_FROM = 100  # rows of one table in one transaction: a bulk batch is copied, grouped POSTs inserted


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A validated record, ready to store; `person_sealed` is the person, encrypted."""

    record_id: str
    person_key: str
    reporting_street: str
    residence_street: str
    record: dict[str, Any]
    person_sealed: str
    received_at: datetime
    source_ref: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    key_kind: str = KeyKind.REQUEST  # the namespace of `idempotency_key`

    def __reduce__(self) -> tuple[type[NewRecord], tuple[Any, ...]]:
        # a bulk worker sends thousands: its fields as a tuple, where a frozen dataclass's own
        # pickling sets each field by name in Python (a fifth of a row's unpickling)
        return NewRecord, tuple(getattr(self, name) for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class Stored:
    status: Literal["accepted", "duplicate", "conflict"]
    record_id: str
    case_id: str | None
    case_version: int


# (record, case id, case version) -> (topic, sealed envelope) for the outbox: a dict, or its JSON already written
EventFor = Callable[[NewRecord, str, int], tuple[str, dict[str, Any] | orjson.Fragment]]
# record -> (topic, the envelope's JSON up to its case: everything before `CASE_AT`), see `with_case`
HeadFor = Callable[[NewRecord], tuple[str, bytes]]

CASE_AT = b'"case_id":'  # the envelope's last two keys are payload.case_id and payload.case_version


def with_case(head: bytes, case_id: str, version: int) -> bytes:
    """The envelope whose JSON up to its case is `head`, for this case id and version.

    ONE_STATEMENT splices the same bytes in SQL (tested equal)."""
    return head + CASE_AT + orjson.dumps(case_id) + b',"case_version":' + str(int(version)).encode() + b"}}"


class RecordRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._single_statements = SingleStatements(sessions)

    async def write_batch(
        self, items: Sequence[NewRecord], event_for: EventFor, head_for: HeadFor | None = None
    ) -> list[Stored]:
        """One outcome per item, in order; the records and their events are kept, or none.

        With `head_for` on PostgreSQL, a batch below COPY_FROM first goes in as one
        statement, without looking for earlier submissions: a duplicate or a
        conflict breaks a unique constraint, and the batch is then written the
        careful way (look first, then insert, in a transaction), as a batch that
        met a concurrent writer always was. Tries are counted by `_attempts`.
        """
        postgres = self._single_statements.postgres
        async for attempt in _attempts(len(items)):
            with attempt:
                first = attempt.retry_state.attempt_number == 1
                if first and head_for is not None and postgres and len(items) < COPY_FROM:
                    return await self._write_at_once(items, head_for)
                async with self._sessions.begin() as session:
                    return await _write(session, items, event_for)
        raise AssertionError("unreachable")

    async def _write_at_once(self, items: Sequence[NewRecord], head_for: HeadFor) -> list[Stored]:
        """`_write` as one statement, sent alone (no BEGIN, no COMMIT): one round trip for the batch.

        Counting cases up, storing records, events and idempotency keys is the
        statement ONE_STATEMENT; the database fills each event's case id and
        version in. It is atomic alone, as the transaction was.
        """
        outcomes: dict[int, Stored] = {}
        fresh = _fresh(items, outcomes)
        person_keys = [items[i].person_key for i in fresh]
        counts = Counter(person_keys)
        persons = sorted(counts)  # concurrent batches lock the cases they share in one order
        now = datetime.now(UTC)
        nth, seen = [], Counter[str]()
        for key in person_keys:
            seen[key] += 1
            nth.append(seen[key])
        news = [items[i] for i in fresh]
        heads = [head_for(item) for item in news]
        keys = _new_keys(items, outcomes, known=())  # a key stored before breaks its primary key: the careful way
        arrays: list[Any] = [
            [new_id() for _ in persons],
            persons,
            [counts[key] for key in persons],
            now,
            [item.record_id for item in news],
            person_keys,
            [item.reporting_street for item in news],
            [item.residence_street for item in news],
            [orjson.dumps(item.record).decode() for item in news],
            [item.received_at for item in news],
            [item.source_ref for item in news],
            [item.person_sealed for item in news],
            nth,
            [counts[key] for key in person_keys],
            [topic for topic, _ in heads],
            [head.decode() for _, head in heads],
            [key for _, key, _, _ in keys],
            [fingerprint for _, _, fingerprint, _ in keys],
            [record_id for _, _, _, record_id in keys],
            [kind for kind, _, _, _ in keys],
        ]
        async with self._single_statements.driver() as driver:  # one statement: atomic alone
            with _as_sqlalchemy_errors("INSERT"):  # a duplicate: written the careful way
                rows = await driver.fetch(ONE_STATEMENT, *arrays)
        totals = {key: (case_id, versions) for key, case_id, versions in rows}
        for index, (case_id, version) in zip(fresh, _in_turn(person_keys, counts, totals), strict=True):
            outcomes[index] = Stored("accepted", items[index].record_id, case_id, version)
        return [_resolve(outcomes, index, outcomes[index]) for index in range(len(items))]

    async def add_events(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Outbox rows (topic, key, envelope) that belong to no stored record."""
        now = datetime.now(UTC)
        rows = [{"topic": t, "key": k, "envelope": e, "created_at": now} for t, k, e in events]
        async with self._sessions.begin() as session:
            await session.execute(insert(OutboxRow), rows)

    async def get(self, record_id: str) -> RecordRow | None:
        async with self._sessions() as session:
            return await session.get(RecordRow, record_id)

    async def versions(self, row: RecordRow) -> list[RecordRow]:
        """Every record of the row's case, oldest version first."""
        if row.case_id is None:
            return [row]
        query = select(RecordRow).where(col(RecordRow.case_id) == row.case_id).order_by(col(RecordRow.case_version))
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def of_person(self, person_key: str) -> list[RecordRow]:
        query = select(RecordRow).where(col(RecordRow.person_key) == person_key).order_by(col(RecordRow.received_at))
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def listing(
        self, *, street_prefix: str, limit: int, offset: int, also: Collection[str] = ()
    ) -> list[RecordRow]:
        """Records whose reporting street starts with `street_prefix` ('' = all) or is one of `also`, newest first."""
        streets = col(RecordRow.reporting_street)
        within = streets.startswith(street_prefix)
        query = (
            select(RecordRow)
            .where(or_(within, streets.in_(also)) if also else within)
            .order_by(col(RecordRow.received_at).desc(), col(RecordRow.record_id))
            .limit(limit)
            .offset(offset)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def set_routes(self, routes: Sequence[tuple[str, str]]) -> None:
        """(record id, route) pairs in one transaction, applied in order (a record routed again: the last wins).

        Idempotent: setting the same route twice changes nothing. On PostgreSQL the batch is one UPDATE
        (one row per record, the last route of each), planned for this batch and the table as it is:
        a generic plan made while `records` was young would scan it whole for every batch after
        (docs/performance.md, rounds 18 and 20); planning costs about a row's update, once a batch.
        """
        if not routes:
            return
        if self._single_statements.postgres:
            last = dict(routes)
            rows = [{"record_id": record_id, "route": route} for record_id, route in last.items()]
            async with self._sessions.begin() as session:  # SQLAlchemy's transaction: it ends it whatever happens
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
                raw = await bulk.driver(session)
                assert raw is not None, "PostgreSQL"
                await bulk.insert_together(raw, [bulk.Rows(RecordRow, rows, update_by="record_id")])
            return
        table = _table(RecordRow)
        statement = (
            update(table).where(table.c.record_id == bindparam("b_record_id")).values(route=bindparam("b_route"))
        )
        async with self._single_statements.connect() as connection:  # one statement: atomic alone
            await connection.execute(statement, [{"b_record_id": r, "b_route": route} for r, route in routes])


def _attempts(rows: int) -> AsyncRetrying:
    """A batch's tries, ATTEMPTS at most, each one transaction (or statement) begun afresh.

    Again at once after a unique violation: a concurrent writer stored some of the batch first, and the
    next try finds it. Again after a short random wait when PostgreSQL ended the transaction to break a
    lock cycle or a serialization conflict (nothing of it stayed): batches take their locks in one order
    (cases by person key, records by source ref) and do not deadlock one another, but a writer that takes
    them otherwise may; unretried, a POST would answer 503 and a bulk import's streamed answer, its 200
    sent, would be cut off. Again at once, on a new connection, when the connection was dropped under the
    statement (PostgreSQL restarted, the backend terminated): whether it had committed is unknown, and the
    next try, which looks for the batch's own record ids first, finds it if it had. A store that refuses
    new connections fails that try: 503, as before. Logged with the state and counts only: nothing personal."""
    jitter = wait_random(0, ROLLED_BACK_WAIT_S)

    def wait(state: RetryCallState) -> float:
        return jitter(state) if _rolled_back(state) else 0

    def note(state: RetryCallState) -> None:
        failed = state.outcome.exception() if state.outcome else None
        if failed is not None and is_rolled_back(failed):
            log.warning(
                "batch ended by the database, written again",
                sqlstate=sqlstate_of(failed),
                attempt=state.attempt_number,
                rows=rows,
            )
        elif failed is not None and is_connection_lost(failed):
            log.warning(
                "batch's connection dropped, written again on a new one",
                error=_kind(failed),
                attempt=state.attempt_number,
                rows=rows,
            )

    return AsyncRetrying(
        stop=stop_after_attempt(ATTEMPTS),
        retry=retry_if_exception(
            lambda error: isinstance(error, IntegrityError) or is_rolled_back(error) or is_connection_lost(error)
        ),
        wait=wait,
        before_sleep=note,
        reraise=True,
    )


def _kind(error: BaseException) -> str:
    """The driver's error class (ConnectionDoesNotExistError, ...): its message may quote a statement."""
    orig = getattr(error, "orig", None)
    return type(orig if isinstance(orig, BaseException) else error).__name__


def _rolled_back(state: RetryCallState) -> BaseException | None:
    """The try's error, when PostgreSQL ended its transaction for another's sake."""
    failed = state.outcome.exception() if state.outcome else None
    return failed if failed is not None and is_rolled_back(failed) else None


async def _write(session: AsyncSession, items: Sequence[NewRecord], event_for: EventFor) -> list[Stored]:
    outcomes, known = await _earlier_submissions(session, items)
    fresh = _fresh(items, outcomes)
    now = datetime.now(UTC)
    keys = [
        {"key": key, "kind": kind, "fingerprint": fingerprint, "record_id": record_id, "created_at": now}
        for kind, key, fingerprint, record_id in _new_keys(items, outcomes, known)
    ]
    versions = await _next_versions(session, [items[i].person_key for i in fresh])
    records, events = [], []
    for index, (case_id, version) in zip(fresh, versions, strict=True):
        item = items[index]
        outcomes[index] = Stored("accepted", item.record_id, case_id, version)
        records.append(_record_values(item, case_id, version))
        topic, envelope = event_for(item, case_id, version)
        events.append({"topic": topic, "key": item.person_key, "envelope": envelope, "created_at": now})
    records.sort(key=_source_ref)  # in lock order; events stay in batch order
    if records and len(records) < COPY_FROM and session.get_bind().dialect.name == "postgresql":
        await _insert_records_and_events(session, records, events)
    else:
        for table, values in ((RecordRow, records), (OutboxRow, events)):
            if values:
                await _insert(session, table, values)
    if keys:
        await _insert(session, IdempotencyRow, keys)
    return [_resolve(outcomes, index, outcomes[index]) for index in range(len(items))]


def _source_ref(record: dict[str, Any]) -> str:
    """What records are inserted in order of: their source ref, by code point (as ONE_STATEMENT's `COLLATE "C"`).

    Each insert takes the ref's entry in its unique index until the transaction ends, and waits for an open
    batch that holds it. Two batches that insert shared refs in one order queue behind each other; in file
    order (the same two external ids in opposite orders) each held one and waited for the other's, a
    deadlock. Only the insert is sorted: versions, events (per-person order) and answers keep batch order.
    A record with no ref (NULL) takes no entry, and goes first."""
    return record["source_ref"] or ""


def _fresh(items: Sequence[NewRecord], outcomes: dict[int, Stored]) -> list[int]:
    """Indexes of the items to store: not in `outcomes` (stored earlier), not repeating an item before them.

    A repeat within the batch (same source ref or idempotency key) goes into `outcomes` as a duplicate."""
    first_of: dict[tuple[str, str], int] = {}  # (source ref, or key kind, its text) -> its first item's index
    fresh: list[int] = []
    for index, item in enumerate(items):
        if index in outcomes:
            continue
        marks = [m for m in (_ref_of(item), _key_of(item)) if m]
        earlier = next((first_of[m] for m in marks if m in first_of), None)
        if earlier is None:
            fresh.append(index)
            first_of.update(dict.fromkeys(marks, index))
        else:
            outcomes[index] = Stored("duplicate", items[earlier].record_id, None, 0)
    return fresh


def _ref_of(item: NewRecord) -> tuple[str, str] | None:
    return ("source_ref", item.source_ref) if item.source_ref else None


def _key_of(item: NewRecord) -> tuple[str, str] | None:
    """The item's Idempotency-Key as the store tells keys apart: its kind and its text."""
    return (item.key_kind, item.idempotency_key) if item.idempotency_key else None


def _new_keys(
    items: Sequence[NewRecord], outcomes: dict[int, Stored], known: Collection[tuple[str, str]]
) -> list[tuple[str, str, str, str]]:
    """(kind, key, fingerprint, record id) to store for each Idempotency-Key of the batch not `known`
    (stored before).

    Every keyed item's first answer is kept: the record it stores (not in `outcomes`), or the record it
    duplicates, stored before (by its source ref) or earlier in the batch: a key forgotten after a
    duplicate would let another body through as a new record. A key twice in the batch is kept once,
    with its first item's answer.

    Sorted by the table's primary key (the key's text, then its kind; by code point, as ONE_STATEMENT's
    `COLLATE "C"`): each insert holds its key's entry in the unique index until the transaction ends, so two
    batches that share keys in opposite orders (a client's retries, each in another process's group commit)
    would each hold one and wait for the other's. In one order, the later batch waits, then finds them."""
    keys: list[tuple[str, str, str, str]] = []
    claimed = set(known)
    for index, item in enumerate(items):
        marked = _key_of(item)
        if marked and marked not in claimed:
            claimed.add(marked)
            answer = outcomes.get(index)
            record_id = answer.record_id if answer else item.record_id
            keys.append((*marked, item.fingerprint or "", record_id))
    keys.sort(key=lambda k: (k[1], k[0]))
    return keys


def _resolve(outcomes: dict[int, Stored], index: int, outcome: Stored) -> Stored:
    if outcome.status == "duplicate" and outcome.case_id is None:
        accepted = (o for o in outcomes.values() if o.status == "accepted")
        first = next((o for o in accepted if o.record_id == outcome.record_id), None)
        if first is not None:
            return Stored("duplicate", first.record_id, first.case_id, first.case_version)
    return outcome


def _record_values(item: NewRecord, case_id: str, version: int) -> dict[str, Any]:
    return {
        "record_id": item.record_id,
        "person_key": item.person_key,
        "reporting_street": item.reporting_street,
        "residence_street": item.residence_street,
        "record": item.record,
        "received_at": item.received_at,
        "case_id": case_id,
        "case_version": version,
        "source_ref": item.source_ref,
        "person_sealed": item.person_sealed,
    }


async def _earlier_submissions(
    session: AsyncSession, items: Sequence[NewRecord]
) -> tuple[dict[int, Stored], set[tuple[str, str]]]:
    """Items already stored by an earlier request: duplicates, or conflicts (same key, other body); and the
    batch's idempotency keys stored before, as (kind, key)."""
    refs = {item.source_ref for item in items if item.source_ref}
    idem = {marked for item in items if (marked := _key_of(item))}
    # an item's own record id, found stored: this very submission, committed by an attempt whose answer was lost
    # (the connection dropped after the server's COMMIT); it was accepted, and is not stored again
    dialect = session.get_bind().dialect.name
    record_ids = among(col(RecordRow.record_id), "ids", dialect)  # one array on PostgreSQL, whatever the count
    ids = [item.record_id for item in items]
    own = (await session.execute(select(RecordRow).where(record_ids), {"ids": ids})).scalars()
    by_id = {row.record_id: row for row in own}
    by_ref: dict[str, RecordRow] = {}
    if refs:
        of_refs = among(col(RecordRow.source_ref), "refs", dialect)
        rows = (await session.execute(select(RecordRow).where(of_refs), {"refs": list(refs)})).scalars()
        by_ref = {row.source_ref: row for row in rows if row.source_ref}
    by_key: dict[tuple[str, str], tuple[IdempotencyRow, RecordRow | None]] = {}
    if idem:
        # by text, the first column of the primary key (key, kind); a row of another kind answers nothing here
        texts = list({key for _, key in idem})
        of_texts = among(col(IdempotencyRow.key), "texts", dialect)
        found = (await session.execute(select(IdempotencyRow).where(of_texts), {"texts": texts})).scalars()
        keyed = [k for k in found if (k.kind, k.key) in idem]
        ids = [k.record_id for k in keyed]
        stored = (await session.execute(select(RecordRow).where(record_ids), {"ids": ids})).scalars()
        rows_by_id = {row.record_id: row for row in stored}
        by_key = {(k.kind, k.key): (k, rows_by_id.get(k.record_id)) for k in keyed}
    outcomes: dict[int, Stored] = {}
    for index, item in enumerate(items):
        if item.record_id in by_id:
            mine = by_id[item.record_id]
            outcomes[index] = Stored("accepted", mine.record_id, mine.case_id, mine.case_version)
        elif (marked := _key_of(item)) in by_key:
            key_row, row = by_key[marked]
            status: Literal["duplicate", "conflict"] = (
                "duplicate" if key_row.fingerprint == (item.fingerprint or "") else "conflict"
            )
            outcomes[index] = _stored(status, key_row.record_id, row)
        elif item.source_ref in by_ref:
            row = by_ref[item.source_ref]
            outcomes[index] = _stored("duplicate", row.record_id, row)
    return outcomes, set(by_key)


def _stored(status: Literal["duplicate", "conflict"], record_id: str, row: RecordRow | None) -> Stored:
    return Stored(status, record_id, row.case_id if row else None, row.case_version if row else 1)


async def _next_versions(session: AsyncSession, person_keys: list[str]) -> list[tuple[str, int]]:
    """(case id, version) for each person key in turn, creating cases for new persons.

    One upsert for the whole batch: each person's case count goes up by the
    number of their records in it, and the versions are handed out in order.
    Rows are upserted sorted by key, so concurrent batches lock in one order.
    """
    if not person_keys:
        return []
    counts = Counter(person_keys)
    now = datetime.now(UTC)
    persons = sorted(counts)
    rows: Sequence[Any]
    if raw := await bulk.driver(session):  # arrays, one statement: SQLAlchemy's executemany was 5 % of a bulk row
        with _as_sqlalchemy_errors("INSERT"):
            rows = await raw.fetch(COUNT_CASES, [new_id() for _ in persons], persons, [counts[k] for k in persons], now)
    else:
        values = [{"case_id": new_id(), "person_key": k, "versions": counts[k], "created_at": now} for k in persons]
        upsert = conflict_insert(session.get_bind().dialect)(_table(PersonCaseRow))
        upsert = upsert.on_conflict_do_update(
            index_elements=[col(PersonCaseRow.person_key)],
            set_={"versions": col(PersonCaseRow.versions) + upsert.excluded.versions},
        ).returning(col(PersonCaseRow.person_key), col(PersonCaseRow.case_id), col(PersonCaseRow.versions))
        rows = (await session.execute(upsert, values)).all()  # executemany: one compiled statement, cached
    return _in_turn(person_keys, counts, {key: (case_id, versions) for key, case_id, versions in rows})


def _in_turn(person_keys: list[str], counts: Counter[str], totals: dict[str, tuple[str, int]]) -> list[tuple[str, int]]:
    """(case id, version) for each person key in turn, from each case's count after the batch.

    A person with k records in the batch and n versions after it gets n-k+1 .. n, in batch order."""
    next_version = {key: totals[key][1] - counts[key] + 1 for key in counts}
    assigned = []
    for key in person_keys:
        assigned.append((totals[key][0], next_version[key]))
        next_version[key] += 1
    return assigned


def _table(model: type[SQLModel]) -> Table:
    """The model's Core table: statements on it skip the ORM's bulk-insert layer (a tenth of a POST's CPU)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


async def _insert(session: AsyncSession, model: type[SQLModel], values: list[dict[str, Any]]) -> None:
    """Rows into the model's table: COPY for a bulk batch on PostgreSQL, else one INSERT for them all.

    COPY costs the server and this process a fraction of an INSERT executed
    per row; below COPY_FROM rows (single POSTs grouped) the INSERT's cached
    statement is as quick. A unique violation is an IntegrityError either way,
    so a batch that met a concurrent writer is retried the same way.
    """
    if len(values) < COPY_FROM or session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(_written(model)), values)
        return
    table = _table(model)
    columns = list(values[0])
    cells = operator.itemgetter(*columns)
    json_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    rows = []
    for row in values:
        copied = list(cells(row))
        for i in json_at:
            copied[i] = orjson.dumps(copied[i]).decode()
        rows.append(tuple(copied))
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    with _as_sqlalchemy_errors("COPY"):
        await driver.copy_records_to_table(table.name, records=rows, columns=columns)


@contextlib.contextmanager
def _as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """asyncpg's failures of a statement sent on the driver, raised as SQLAlchemy raises its own: a unique
    violation is an IntegrityError (the batch is retried), anything else a DBAPIError (the store-error
    answer, 503, not a 500)."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(statement, None, error) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
        raise DBAPIError(statement, None, error) from None


# A few records and their events in one statement: a round trip fewer per group commit (at low rates a
# group is one POST, and each round trip to PostgreSQL costs this process about 0.2 ms of CPU, the
# kernel's share of the loopback included). Events are numbered in list order, as separate inserts did.
RECORDS_AND_EVENTS = """
WITH new_records AS (
    INSERT INTO records (record_id, person_key, reporting_street, residence_street, record, received_at,
                         case_id, case_version, source_ref, person_sealed)
    SELECT r.record_id, r.person_key, r.reporting_street, r.residence_street, r.record::json, r.received_at,
           r.case_id, r.case_version, r.source_ref, r.person_sealed
    FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[], $6::timestamptz[],
                $7::varchar[], $8::int[], $9::varchar[], $10::text[])
        AS r(record_id, person_key, reporting_street, residence_street, record, received_at,
             case_id, case_version, source_ref, person_sealed)
)
INSERT INTO outbox (topic, key, envelope, created_at)
SELECT e.topic, e.key, e.envelope::json, e.created_at
FROM unnest($11::varchar[], $12::varchar[], $13::text[], $14::timestamptz[]) WITH ORDINALITY
    AS e(topic, key, envelope, created_at, position)
ORDER BY e.position
"""
RECORD_COLUMNS = (
    "record_id",
    "person_key",
    "reporting_street",
    "residence_street",
    "record",
    "received_at",
    "case_id",
    "case_version",
    "source_ref",
    "person_sealed",
)
EVENT_COLUMNS = ("topic", "key", "envelope", "created_at")


async def _insert_records_and_events(
    session: AsyncSession, records: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    """`_insert` of the records, then of their events, as one statement (PostgreSQL; JSON as orjson writes it)."""
    arrays: list[list[Any]] = []
    for values, columns, json_column in ((records, RECORD_COLUMNS, "record"), (events, EVENT_COLUMNS, "envelope")):
        for column in columns:
            cells = [row[column] for row in values]
            arrays.append([orjson.dumps(cell).decode() for cell in cells] if column == json_column else cells)
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    with _as_sqlalchemy_errors("INSERT"):
        await driver.execute(RECORDS_AND_EVENTS, *arrays)


# Each person's case counted up by their records in the batch ($1-$3: new case ids, the person keys sorted,
# so concurrent batches lock in one order, their counts; $4: now), created at their first; the case id and
# the count after come back per person. `_next_versions` runs it alone, ONE_STATEMENT as its first part.
COUNT_CASES = """
    INSERT INTO person_cases (case_id, person_key, versions, created_at)
    SELECT c.case_id, c.person_key, c.versions, $4::timestamptz
    FROM unnest($1::varchar[], $2::varchar[], $3::int[]) WITH ORDINALITY AS c(case_id, person_key, versions, position)
    ORDER BY c.position
    ON CONFLICT (person_key) DO UPDATE SET versions = person_cases.versions + excluded.versions
    RETURNING person_key, case_id, versions
"""

# A whole batch of a few records as one statement, sent alone: `_write`'s upsert of the cases, records,
# events and idempotency keys. The nth of a person's k records gets version total - k + n, as `_in_turn`
# hands out; the event is its envelope's head with the case spliced in as `with_case` writes it. Events
# are numbered in batch order; records go in in the order of their source refs, as `_write` inserts them
# (`_source_ref`: one lock order for every batch, however it is written), and the keys after every record,
# in the order of their text, as `_write` does too. PostgreSQL runs a WITH's inserts that the main query
# does not read in an order it does not promise (keys first, on PostgreSQL 15): `new_keys` counts
# `new_records`' rows, which makes it wait for all of them.
ONE_STATEMENT = (
    "\nWITH counted AS ("  # noqa: S608 - COUNT_CASES is this module's constant
    + COUNT_CASES
    + """), numbered AS (
    SELECT r.*, c.case_id, c.versions - r.of_person + r.nth AS case_version
    FROM unnest($5::varchar[], $6::varchar[], $7::varchar[], $8::varchar[], $9::text[], $10::timestamptz[],
                $11::varchar[], $12::text[], $13::int[], $14::int[], $15::varchar[], $16::text[]) WITH ORDINALITY
        AS r(record_id, person_key, reporting_street, residence_street, record, received_at,
             source_ref, person_sealed, nth, of_person, topic, head, position)
    JOIN counted c ON c.person_key = r.person_key
), new_records AS (
    INSERT INTO records (record_id, person_key, reporting_street, residence_street, record, received_at,
                         case_id, case_version, source_ref, person_sealed)
    SELECT n.record_id, n.person_key, n.reporting_street, n.residence_street, n.record::json, n.received_at,
           n.case_id, n.case_version, n.source_ref, n.person_sealed
    FROM numbered n
    ORDER BY n.source_ref COLLATE "C" NULLS FIRST
    RETURNING 1
), new_keys AS (
    INSERT INTO idempotency_keys (key, fingerprint, record_id, kind, created_at)
    SELECT k.key, k.fingerprint, k.record_id, k.kind, $4::timestamptz
    FROM unnest($17::varchar[], $18::varchar[], $19::varchar[], $20::varchar[])
        AS k(key, fingerprint, record_id, kind)
    WHERE (SELECT count(*) FROM new_records) >= 0  -- after every record
    ORDER BY k.key COLLATE "C", k.kind COLLATE "C"
), new_events AS (
    INSERT INTO outbox (topic, key, envelope, created_at)
    SELECT n.topic, n.person_key,
           (n.head || '"case_id":' || to_json(n.case_id)::text || ',"case_version":' || n.case_version || '}}')::json,
           $4::timestamptz
    FROM numbered n
    ORDER BY n.position
)
SELECT person_key, case_id, versions FROM counted
"""
)


class _FastJSON(TypeDecorator[Any]):
    """A JSON column written with orjson: the standard library's encoder was a tenth of a bulk row's CPU.

    The same JSON (compact, UTF-8 rather than escapes); reads are untouched.
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        def process(value: Any) -> str | None:
            return None if value is None else orjson.dumps(value).decode()

        return process


@functools.cache
def _written(model: type[SQLModel]) -> Table:
    """The model's table for inserts: its JSON columns encoded by orjson."""
    table = _table(model)
    columns = [Column(c.name, _FastJSON() if isinstance(c.type, JSON) else c.type) for c in table.columns]
    return Table(table.name, MetaData(), *columns)

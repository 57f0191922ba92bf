"""Intake's store on both databases it supports: migrations, cases and versions, duplicates, sealed persons."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.intake.adapters.batch_items import NewRecord
from services.intake.adapters.record_statements import with_case
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.row_inserts import COPY_FROM
from services.intake.bootstrap import MIGRATIONS
from services.intake.service_layer.bulk_workers import prepare_rows
from services.intake.service_layer.reads import present
from services.intake.service_layer.submissions import Prepared, Ready, Submissions
from shared.auth import Principal, parse_scope
from shared.db import build_engine, run_migrations, session_factory
from shared.directory import load_directory
from tests.support.infra import TEST_KEYRING, TEST_ZONE, create_database, drop_database, unique_name
from tests.support.records import credit_code, full_record, record
from tests.support.stores import STORES, logged_statements, migrated_store

ADMIN = Principal("k1", parse_scope("admin"))


@pytest.fixture(params=STORES)
async def submissions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Submissions]:
    async with migrated_store(request.param, "intake_", MIGRATIONS, tmp_path) as engine:
        repository = RecordRepository(session_factory(engine))
        yield Submissions(repository, load_directory(), TEST_KEYRING, b"person-secret", zone=TEST_ZONE)


def prepared(submissions: Submissions, body: dict[str, object], key: str | None = None) -> Prepared:
    result = submissions.prepare(body, ADMIN, idempotency_key=key)
    assert isinstance(result, Prepared)
    return result


def bulk_row(submissions: Submissions, number: int, body: dict[str, object], key: str) -> Ready:
    """Row `number` of a bulk import under Idempotency-Key `key`, prepared as the import prepares it."""
    ((_, item),) = prepare_rows(submissions, [(number, body, None)], ADMIN, key)
    assert isinstance(item, Ready)
    return item


async def test_versions_duplicates_and_conflicts(submissions: Submissions) -> None:
    first = record(sequence=1) | {"external_id": "ext-1"}
    batch = [
        prepared(submissions, first),
        prepared(submissions, record(sequence=2)),
        prepared(submissions, record(sequence=1, event="verification")),
        prepared(submissions, first),  # same source and external id, in the same batch
        prepared(submissions, record(sequence=3), key="idem-1"),
    ]
    outcomes = await submissions.store(batch)
    assert [o.status for o in outcomes] == ["accepted", "accepted", "accepted", "duplicate", "accepted"]
    assert outcomes[0].case_id == outcomes[2].case_id == outcomes[3].case_id
    assert [o.case_version for o in outcomes] == [1, 1, 2, 1, 1]
    assert outcomes[3].record_id == outcomes[0].record_id

    later = await submissions.store(
        [
            prepared(submissions, first),
            prepared(submissions, record(sequence=3), key="idem-1"),
            prepared(submissions, record(sequence=4), key="idem-1"),
        ]
    )
    assert [o.status for o in later] == ["duplicate", "duplicate", "conflict"]
    assert later[1].record_id == outcomes[4].record_id


async def test_an_idempotency_key_first_answered_as_a_duplicate_is_kept(submissions: Submissions) -> None:
    """docs/intake.md: "the same key again returns the first answer ... the same key with a different
    body is 422". A key whose first request was a duplicate by external_id was never stored, so the key
    then let a different body through (a second record), and its first body, sent again with it, was
    refused as a conflict instead of getting the first answer."""
    first = record(sequence=1) | {"external_id": "ext-1"}
    (stored,) = await submissions.store_ready([submissions.ready(prepared(submissions, first))])
    assert stored.status == "accepted"

    # a retry of the same record under a key of its own: the first answer of key K is record X
    (replay,) = await submissions.store([prepared(submissions, first, key="K")])
    assert (replay.status, replay.record_id) == ("duplicate", stored.record_id)

    # the same key with another body must be refused (422 at the route), never stored
    other = record(sequence=2) | {"external_id": "ext-2"}
    (misuse,) = await submissions.store([prepared(submissions, other, key="K")])
    assert misuse.status == "conflict", f"key K let a different body through as {misuse.status} {misuse.record_id}"

    # and the first body again with K answers as the first time
    (again,) = await submissions.store([prepared(submissions, first, key="K")])
    assert (again.status, again.record_id) == ("duplicate", stored.record_id)


@pytest.mark.parametrize("way", ["at once", "the careful way"])
async def test_a_key_that_repeats_a_record_of_its_own_batch_is_kept(submissions: Submissions, way: str) -> None:
    """A keyed duplicate of a record earlier in the same batch (grouped POSTs, bulk rows with one external
    id) keeps its key with that record, whichever way the batch is written: on PostgreSQL one statement
    (`ONE_STATEMENT`), or the careful way once a record stored before breaks it. A key that two items of
    one batch carry is stored once."""
    earlier = record(sequence=30) | {"external_id": "ext-30"}
    before = await submissions.store([prepared(submissions, earlier)]) if way == "the careful way" else []
    first = record(sequence=31) | {"external_id": "ext-31"}
    batch = [prepared(submissions, first), prepared(submissions, first, key="K2")]
    batch += [prepared(submissions, earlier, key="K3"), prepared(submissions, earlier, key="K3")] if before else []
    outcomes = await submissions.store(batch)
    assert [o.status for o in outcomes] == ["accepted", "duplicate", "duplicate", "duplicate"][: len(batch)]
    assert outcomes[1].record_id == outcomes[0].record_id

    other = record(sequence=32) | {"external_id": "ext-32"}
    later = await submissions.store([prepared(submissions, other, key="K2"), prepared(submissions, first, key="K2")])
    assert [o.status for o in later] == ["conflict", "duplicate"]
    assert (later[1].record_id, later[1].case_id) == (outcomes[0].record_id, outcomes[0].case_id)
    if before:
        again = await submissions.store(
            [prepared(submissions, other, key="K3"), prepared(submissions, earlier, key="K3")]
        )
        assert [(o.status, o.record_id) for o in again] == [
            ("conflict", before[0].record_id),
            ("duplicate", before[0].record_id),
        ]
    async with submissions._repository._sessions() as session:
        stored = (await session.execute(text("SELECT count(*) FROM records"))).scalar_one()
    assert stored == 1 + len(before), "no body stored under a key that first answered with another record"


async def test_a_bulk_sized_batch_keeps_the_keys_of_its_duplicates(submissions: Submissions) -> None:
    """A bulk import's rows are keyed KEY#row: a row repeating a record stored before keeps its row key
    too (COPY on PostgreSQL), so the file sent again answers that row as the first time."""
    earlier = record(sequence=40) | {"external_id": "ext-40"}
    (stored,) = await submissions.store([prepared(submissions, earlier)])
    rows = [record(sequence=n, event="verification") for n in range(COPY_FROM)] + [earlier]
    batch = [bulk_row(submissions, n, row, "file") for n, row in enumerate(rows, 1)]
    outcomes = await submissions.store_ready(batch)
    assert (outcomes[-1].status, outcomes[-1].record_id) == ("duplicate", stored.record_id)
    (again,) = await submissions.store_ready([bulk_row(submissions, len(rows), earlier, "file")])
    assert (again.status, again.record_id) == ("duplicate", stored.record_id)
    other = record(sequence=41) | {"external_id": "ext-41"}
    (misuse,) = await submissions.store_ready([bulk_row(submissions, len(rows), other, "file")])
    assert misuse.status == "conflict"


@pytest.mark.parametrize("way", ["at once", "the careful way"])
async def test_a_single_posts_key_never_meets_a_bulk_rows_key(submissions: Submissions, way: str) -> None:
    """Row 3 of a bulk import under "abc" was stored under the key "abc#3", which a single POST could send
    too: that POST was refused as reusing its key (or, with the row's body, answered with the row's
    record). Each kind of key now answers only for its own: a POST and a row of the same text are two
    submissions, each sent again is its own duplicate, and each with another body a conflict. "The
    careful way": records stored before (by external id) send the batches past PostgreSQL's one statement."""
    row, post = record(sequence=50), record(sequence=51)
    first: list[str] = []
    if way == "the careful way":
        row |= {"external_id": "ext-50"}
        post |= {"external_id": "ext-51"}
        stored = await submissions.store([prepared(submissions, row), prepared(submissions, post)])
        first = [outcome.record_id for outcome in stored]
    (imported,) = await submissions.store_ready([bulk_row(submissions, 3, row, "abc")])
    (posted,) = await submissions.store([prepared(submissions, post, key="abc#3")])
    assert posted.status == ("duplicate" if first else "accepted"), "a POST's key was taken by a bulk row"
    assert posted.record_id != imported.record_id
    assert [imported.record_id, posted.record_id] == (first or [imported.record_id, posted.record_id])

    (post_again,) = await submissions.store([prepared(submissions, post, key="abc#3")])
    (row_again,) = await submissions.store_ready([bulk_row(submissions, 3, row, "abc")])
    assert (post_again.status, post_again.record_id) == ("duplicate", posted.record_id)
    assert (row_again.status, row_again.record_id) == ("duplicate", imported.record_id)
    (post_misuse,) = await submissions.store([prepared(submissions, record(sequence=52), key="abc#3")])
    (row_misuse,) = await submissions.store_ready([bulk_row(submissions, 3, record(sequence=52), "abc")])
    assert (post_misuse.status, row_misuse.status) == ("conflict", "conflict")


async def test_concurrent_versions_of_one_person_stay_distinct(submissions: Submissions) -> None:
    bodies = [record(sequence=9, event="verification") for _ in range(8)]
    results = await asyncio.gather(*[submissions.store([prepared(submissions, b)]) for b in bodies])
    versions = sorted(outcomes[0].case_version or 0 for outcomes in results)
    assert versions == list(range(1, 9))
    assert len({outcomes[0].case_id for outcomes in results}) == 1


async def test_the_person_is_sealed_in_the_row(submissions: Submissions) -> None:
    body = record(sequence=5, name="钱七")
    (outcome,) = await submissions.store([prepared(submissions, body)])
    repository = submissions._repository
    row = await repository.get(outcome.record_id or "")
    assert row is not None
    assert "person" not in row.record
    async with repository._sessions() as session:
        raw = str((await session.execute(text("SELECT * FROM records"))).all())
        outbox = str((await session.execute(text("SELECT * FROM outbox"))).all())
    assert body["person"]["id_number"] not in raw + outbox
    assert "钱七" not in raw + outbox


@pytest.mark.parametrize("way", ["single", "bulk"])
async def test_addresses_and_employer_are_sealed_in_the_row(submissions: Submissions, way: str) -> None:
    """docs/security.md: the residence, registration and new residence's addresses and the employer's name
    (and an individual business's credit code) are personal data; the row kept them in clear."""
    body = full_record(sequence=26, name="周九") | {"event": "outflow"}
    body["new_residence"] = {"street": "440111008", "address": "新港西路 1 号 2 栋"}
    # a shop named for its owner: the outbox's RecordSubmitted (version 3) carries it sealed too, which the
    # suite's last test (a person's name on a topic or in a table) holds it to
    body["employer"] = {"name": "周九五金店", "credit_code": credit_code("92440111MA5ABCDE1")}
    item = prepared(submissions, body)
    if way == "bulk":
        (outcome,) = await submissions.store_ready([submissions.ready(item)])
    else:
        (outcome,) = await submissions.store([item])
    repository = submissions._repository
    async with repository._sessions() as session:
        raw = str((await session.execute(text("SELECT * FROM records"))).all())
    clear = [body[part]["address"] for part in ("residence", "registration", "new_residence")]
    clear += [body["employer"]["name"], body["employer"]["credit_code"]]
    assert [value for value in clear if value in raw] == []
    # every read opens them: the record as submitted, as before
    row = await repository.get(outcome.record_id)
    assert row is not None
    (listed,) = await repository.listing(street_prefix="", limit=10, offset=0)
    for stored in (row, listed, *await repository.of_person(row.person_key)):
        assert present(stored, TEST_KEYRING)["record"] == item.record_json


async def test_a_bulk_sized_batch_is_stored_whole_with_its_events(submissions: Submissions) -> None:
    size = COPY_FROM + 20  # copied on PostgreSQL, inserted on SQLite: the same rows either way
    bodies = [record(sequence=n) for n in range(size)]
    batch = [prepared(submissions, body, key=f"bulk#{n}") for n, body in enumerate(bodies)]
    outcomes = await submissions.store(batch)
    assert {o.status for o in outcomes} == {"accepted"}
    repository = submissions._repository
    row = await repository.get(outcomes[-1].record_id)
    assert row is not None
    assert (row.record, row.case_version) == (batch[-1].new.record, 1)
    async with repository._sessions() as session:
        events = (await session.execute(text("SELECT key, envelope FROM outbox ORDER BY id"))).all()
        keys = (await session.execute(text("SELECT count(*) FROM idempotency_keys"))).scalar_one()
    assert [key for key, _ in events] == [p.new.person_key for p in batch]  # in batch order: per-person order
    envelope = json.loads(events[0][1]) if isinstance(events[0][1], str) else events[0][1]
    assert envelope["payload"]["record_id"] == outcomes[0].record_id
    assert keys == size
    again = await submissions.store([prepared(submissions, body, key=f"bulk#{n}") for n, body in enumerate(bodies)])
    assert [o.record_id for o in again] == [o.record_id for o in outcomes]
    assert {o.status for o in again} == {"duplicate"}


async def test_a_bulk_sized_batch_numbers_each_persons_versions_in_batch_order(submissions: Submissions) -> None:
    """A person seen before and again three times in a copied batch gets the next versions, in file order."""
    earlier = await submissions.store([prepared(submissions, record(sequence=7))])
    bodies = [record(sequence=200 + n) for n in range(COPY_FROM + 10)]  # nobody else is person 7
    for at in (3, 50, COPY_FROM + 5):
        bodies[at] = record(sequence=7, event="verification") | {"external_id": f"again-{at}"}
    outcomes = await submissions.store([prepared(submissions, body) for body in bodies])
    again = [outcomes[at] for at in (3, 50, COPY_FROM + 5)]
    assert [o.case_version for o in again] == [2, 3, 4]
    assert {o.case_id for o in again} == {earlier[0].case_id}
    others = [o for at, o in enumerate(outcomes) if at not in (3, 50, COPY_FROM + 5)]
    assert {o.case_version for o in others} == {1}
    assert len({o.case_id for o in others}) == len(others)


async def test_a_copied_batch_that_meets_a_concurrent_writer_is_retried(submissions: Submissions) -> None:
    """The same external ids written by two batches at once: one stores them, the other finds duplicates."""
    bodies = [record(sequence=n) | {"external_id": f"ext-{n}"} for n in range(COPY_FROM + 5)]
    first, second = ([prepared(submissions, body) for body in bodies] for _ in range(2))
    results = await asyncio.gather(submissions.store(first), submissions.store(second))
    # each batch all of one kind, one accepted and one duplicate, whichever won (sets have no order to sort by)
    statuses = sorted(tuple(sorted({o.status for o in outcomes})) for outcomes in results)
    assert statuses == [("accepted",), ("duplicate",)]
    assert [o.record_id for o in results[0]] == [o.record_id for o in results[1]]


async def test_a_copied_batch_the_database_refuses_is_a_store_error(tmp_path: Path) -> None:
    """A COPY refused for a reason other than a duplicate answers like any statement would (503), not a 500."""
    name = unique_name("intake_")
    engine = build_engine(await create_database(name))
    await run_migrations(engine, MIGRATIONS)
    submissions = Submissions(
        RecordRepository(session_factory(engine)), load_directory(), TEST_KEYRING, b"s", zone=TEST_ZONE
    )
    try:
        batch = [prepared(submissions, record(sequence=n)) for n in range(COPY_FROM)]
        # past validation, a value too long for its column: only the database can refuse it now
        batch[-1] = dataclasses.replace(batch[-1], new=dataclasses.replace(batch[-1].new, reporting_street="4" * 40))
        with pytest.raises(DBAPIError) as refused:
            await submissions.store(batch)
        assert not isinstance(refused.value, IntegrityError)  # not mistaken for a concurrent writer: no retry
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_a_grouped_batch_is_stored_as_the_separate_inserts_stored_it(submissions: Submissions) -> None:
    # on PostgreSQL a few records and their events go in one statement: the same rows, events in batch order
    bodies = [record(sequence=0), record(sequence=1), record(sequence=0, event="verification")]
    batch = [prepared(submissions, body) for body in bodies]
    outcomes = await submissions.store(batch)
    repository = submissions._repository
    for item, outcome in zip(batch, outcomes, strict=True):
        row = await repository.get(item.new.record_id)
        assert row is not None
        new = item.new
        assert (row.person_key, row.reporting_street, row.residence_street, row.record) == (
            new.person_key,
            new.reporting_street,
            new.residence_street,
            new.record,
        )
        assert (row.received_at, row.source_ref, row.person_sealed, row.route) == (
            new.received_at,
            new.source_ref,
            new.person_sealed,
            None,
        )
        assert (row.case_id, row.case_version) == (outcome.case_id, outcome.case_version)
    assert [o.case_version for o in outcomes] == [1, 1, 2]
    async with repository._sessions() as session:
        events = (await session.execute(text("SELECT topic, key, envelope, created_at FROM outbox ORDER BY id"))).all()
    assert [key for _, key, _, _ in events] == [p.new.person_key for p in batch]
    for (topic, _, envelope, created_at), item, outcome in zip(events, batch, outcomes, strict=True):
        opened = json.loads(envelope) if isinstance(envelope, str) else envelope
        assert topic == "records.submitted"
        assert opened["payload"]["record_id"] == item.new.record_id
        assert (opened["payload"]["case_id"], opened["payload"]["case_version"]) == (
            outcome.case_id,
            outcome.case_version,
        )
        assert created_at is not None


async def test_a_batch_that_repeats_an_earlier_submission_is_written_the_careful_way(
    submissions: Submissions,
) -> None:
    # on PostgreSQL the first try is one statement; the repeat breaks a unique constraint, nothing of
    # that try stays (no version counted up), and the batch is looked at and written again
    first = record(sequence=21) | {"external_id": "ext-21"}
    (earlier,) = await submissions.store([prepared(submissions, first)])
    batch = [
        prepared(submissions, record(sequence=22)),
        prepared(submissions, first),
        prepared(submissions, record(sequence=21, event="verification")),
    ]
    outcomes = await submissions.store(batch)
    assert [o.status for o in outcomes] == ["accepted", "duplicate", "accepted"]
    assert [o.case_version for o in outcomes] == [1, 1, 2]
    assert outcomes[1].record_id == earlier.record_id
    assert outcomes[2].case_id == earlier.case_id
    async with submissions._repository._sessions() as session:
        stored = (await session.execute(text("SELECT count(*) FROM records"))).scalar_one()
        events = (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
        cases = (await session.execute(text("SELECT sum(versions) FROM person_cases"))).scalar_one()
    assert (stored, events, cases) == (3, 3, 3)


async def test_a_few_records_go_in_as_one_statement_without_a_transaction(tmp_path: Path) -> None:
    """PostgreSQL: no session (no BEGIN, no COMMIT) for a fresh batch; the event's case is spliced in
    by the database exactly as `with_case` writes it."""
    name = unique_name("intake_")
    engine = build_engine(await create_database(name))
    await run_migrations(engine, MIGRATIONS)
    repository = RecordRepository(session_factory(engine))
    submissions = Submissions(repository, load_directory(), TEST_KEYRING, b"s", zone=TEST_ZONE)
    transactions = 0
    begin = repository._sessions.begin

    def counted_begin() -> Any:
        nonlocal transactions
        transactions += 1
        return begin()

    repository._sessions.begin = counted_begin  # type: ignore[method-assign]
    heads = {}

    def head_for(item: NewRecord) -> tuple[str, bytes]:
        heads[item.record_id] = b'{"id":"' + item.record_id.encode() + b'","payload":{"n":"\\u00e9\xe5\x8c\x97",'
        return "records.submitted", heads[item.record_id]

    def event_for(item: NewRecord, case_id: str, version: int) -> tuple[str, Any]:
        raise AssertionError("the careful way was taken")

    try:
        items = [prepared(submissions, record(sequence=n % 2, event="verification")).new for n in range(3)]
        outcomes = await repository.write_batch(items, event_for, head_for)
        assert transactions == 0
        assert [o.case_version for o in outcomes] == [1, 1, 2]
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT envelope::text FROM outbox ORDER BY id"))).scalars().all()
        assert rows == [
            with_case(heads[item.record_id], outcome.case_id or "", outcome.case_version).decode()
            for item, outcome in zip(items, outcomes, strict=True)
        ]
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_routes_are_set_in_order_once_per_record(submissions: Submissions) -> None:
    """A batch of routes: a record routed twice keeps the last, an id intake does not hold changes nothing,
    the same batch again changes nothing; on PostgreSQL the batch is one UPDATE."""
    repository = submissions._repository
    items = [prepared(submissions, record(sequence=n)).new for n in range(3)]
    await repository.write_batch(items, lambda item, case_id, version: ("records.submitted", {"id": item.record_id}))
    first, second, untouched = (item.record_id for item in items)
    engine = repository._sessions.kw["bind"]
    await engine.dispose()  # connections opened from now on: logged
    statements = logged_statements(engine)
    routes = [
        (first, "same-district"),
        (second, "cross-street"),
        (first, "inter-district"),
        ("00000000-0000-4000-8000-000000000000", "same-district"),
    ]
    await repository.set_routes(routes)
    if repository._single_statements.postgres:
        assert sum(s.lstrip().upper().startswith("UPDATE") for s in statements) == 1
        async with engine.connect() as connection:  # the one connection the update used, back in the pool
            shown_mode = (await connection.execute(text("SHOW plan_cache_mode"))).scalar()
        assert shown_mode == "auto", "the update's plan setting ends with its transaction"
    await repository.set_routes(routes)
    shown = {r: (await repository.get(r)) for r in (first, second, untouched)}
    assert {r: row.route if row else "missing" for r, row in shown.items()} == {
        first: "inter-district",
        second: "cross-street",
        untouched: None,
    }


async def test_a_batch_stored_whose_answer_was_lost_is_answered_as_accepted_when_written_again(
    submissions: Submissions,
) -> None:
    """The connection dropped after the server's COMMIT: the batch failed for the caller, and each record was
    written again alone, met its own record id and was answered 409 (nothing keyed to tell it by); the client,
    told it was not stored, sent it again and the person was stored twice. Its own record id found stored
    answers it as accepted, with the case it was given."""
    batch = [prepared(submissions, record(sequence=n)) for n in range(3)]  # no key, no external id
    first = await submissions.store(batch)  # stored; imagine the answer lost on the way back

    again = await submissions.store(batch)  # the same items, as the group commit writes them again

    assert [o.status for o in again] == ["accepted"] * 3
    assert [(o.record_id, o.case_id, o.case_version) for o in again] == [
        (o.record_id, o.case_id, o.case_version) for o in first
    ]
    async with submissions._repository._sessions() as session:
        stored = (await session.execute(text("SELECT count(*) FROM records"))).scalar()
        published = (await session.execute(text("SELECT count(*) FROM outbox"))).scalar()
    assert (stored, published) == (3, 3)  # nor its event twice

"""A notice's sender street in reporting's facts, on both stores, whichever of record and notice is folded first.

The fold fills in a notice's sender (the street that reported its record)
in the batch where the second of the two arrives, looking only at the
notices of that batch's records. A notice whose record never comes (a case
from another district) keeps no sender, and no later batch touches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.tables import notices, records
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import NoticeFact, RecordFact, RoutedFact
from tests.support.records import TONGDE, WUSHAN, XINSHI
from tests.support.stores import STORES, logged_statements, migrated_store

AT = datetime(2027, 2, 22, 2, 0, tzinfo=UTC)
WEEK = "2027-W08"


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store(request.param, "senders_", MIGRATIONS, tmp_path) as engine:
        yield engine


def submitted(record_id: str, street: str) -> FoldBatch:
    fact = RecordFact(
        record_id, street, WUSHAN, WEEK, AT, AT, "new_inflow", None, None, None, None, None, None, None, 0, None, None
    )
    return FoldBatch(submitted={record_id: fact})


def routed(record_id: str, street: str) -> FoldBatch:
    return FoldBatch(routed={record_id: RoutedFact(record_id, street, WEEK, AT, "cross-street")})


def issued(notice_id: str, record_id: str) -> FoldBatch:
    fact = NoticeFact(notice_id, record_id, WUSHAN, "cross-street", AT, WEEK)
    return FoldBatch(issued={notice_id: fact})


def answered(notice_id: str) -> FoldBatch:
    return FoldBatch(answered={notice_id: NoticeFact(notice_id, answered_at=AT, answer="confirmed")})


def together(*batches: FoldBatch) -> FoldBatch:
    out = FoldBatch()
    for batch in batches:
        out.submitted.update(batch.submitted)
        out.routed.update(batch.routed)
        out.issued.update(batch.issued)
        out.answered.update(batch.answered)
    return out


async def senders(engine: AsyncEngine) -> dict[str, str | None]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(notices.c.notice_id, notices.c.sender_street))
    return {str(notice_id): sender for notice_id, sender in rows}


async def test_each_notice_gets_its_records_street_in_the_batch_that_completes_the_pair(engine: AsyncEngine) -> None:
    writer = FactWriter(engine)
    batches = [
        issued("n-before", "r-later"),  # the notice first, its record two batches on
        submitted("r-first", TONGDE),  # the record first, its notice next
        answered("n-answered"),  # an answer before its notice, whose record is known by then
        routed("r-routed", XINSHI),  # a record known only by its route
        issued("n-foreign", "r-never"),  # its record never comes
        issued("n-route-later", "r-route-later"),  # the notice, then its record known only by its route
        together(issued("n-after", "r-first"), issued("n-answered", "r-first"), issued("n-routed", "r-routed")),
        together(submitted("r-later", WUSHAN), submitted("r-same", XINSHI), issued("n-same", "r-same")),
        answered("n-before"),
        routed("r-route-later", TONGDE),
    ]
    for batch in batches:
        await writer.write(batch)

    assert await senders(engine) == {
        "n-before": WUSHAN,
        "n-after": TONGDE,
        "n-answered": TONGDE,
        "n-routed": XINSHI,
        "n-foreign": None,
        "n-same": XINSHI,
        "n-route-later": TONGDE,
    }


async def test_a_batch_names_only_its_own_records_to_the_senders_update(engine: AsyncEngine) -> None:
    writer = FactWriter(engine)
    await writer.write(issued("n-foreign", "r-never"))
    statements = logged_statements(engine)
    await writer.write(together(submitted("r-1", TONGDE), issued("n-1", "r-1")))
    await writer.write(answered("n-1"))  # no record in it: no update at all

    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE REPORT_NOTICES")]
    assert len(updates) == 1
    assert "sender_street IS DISTINCT FROM" in updates[0] or "sender_street IS NOT" in updates[0]
    assert ("ANY" in updates[0]) if engine.dialect.name == "postgresql" else (" IN (" in updates[0])
    assert (await senders(engine))["n-1"] == TONGDE


async def streets(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(records.c.record_id, records.c.reporting_street))
    return {str(record_id): street for record_id, street in rows}


async def test_routings_street_wins_once_routing_has_decided_whichever_event_comes_first(engine: AsyncEngine) -> None:
    """Routing reports a record under another street than intake did when it maps a retired street to its
    successor or a bureau corrects it in the review queue. The record and its notices' sender count under
    routing's street from then on, whether the routed event is folded after the submitted one, before it, or
    in the same batch; before, they stayed under the submitted street (a street with no office)."""
    writer = FactWriter(engine)
    batches = [
        submitted("r-after", TONGDE),
        issued("n-after", "r-after"),
        routed("r-after", XINSHI),  # routed after: the record and its notice move
        routed("r-before", XINSHI),
        together(submitted("r-before", TONGDE), issued("n-before", "r-before")),  # submitted late: stays moved
        together(submitted("r-together", TONGDE), routed("r-together", XINSHI), issued("n-together", "r-together")),
        together(submitted("r-same", TONGDE), issued("n-same", "r-same")),
        routed("r-same", TONGDE),  # routed under the street it was submitted with: nothing moves
    ]
    for batch in batches:
        await writer.write(batch)

    assert await streets(engine) == {"r-after": XINSHI, "r-before": XINSHI, "r-together": XINSHI, "r-same": TONGDE}
    assert await senders(engine) == {"n-after": XINSHI, "n-before": XINSHI, "n-together": XINSHI, "n-same": TONGDE}


async def test_the_senders_update_is_planned_for_the_store_as_it_is_at_each_batch(tmp_path: Path) -> None:
    """A generic plan made while no record had been folded (the notices first, as a `rebuild` or a new
    deployment reads them) walked a later batch's 4,500 records as a handful and probed the notices with the
    whole array at each: 17.6 s for one batch (docs/performance.md, round 54). Each batch plans it afresh."""
    async with migrated_store("postgresql", "senders_plans_", MIGRATIONS, tmp_path) as engine:
        writer = FactWriter(engine)
        for n in range(8):  # the notices of records not folded yet
            await writer.write(together(*(issued(f"n-{n}-{i}", f"r-{n}-{i}") for i in range(40))))
        await writer.write(together(*(routed(f"r-{n}-{i}", TONGDE) for n in range(8) for i in range(40))))

        async with engine.connect() as connection:  # the pool's one connection: the writer's batches ran in turn
            plans = await connection.execute(
                sa.text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE 'UPDATE report_notices SET sender_street%'"
                )
            )
            assert plans.all() == [(0, 9)]
        assert set((await senders(engine)).values()) == {TONGDE}

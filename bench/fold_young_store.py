"""Reporting's fold on a young store: the first batch of records after batches of their notices alone.

A new deployment or a `popflow reporting rebuild` may fold the notices' topic
ahead of the records'. This writes, through reporting's FactWriter on a fresh
PostgreSQL store (no Kafka), --notice-batches batches of --batch notices whose
records are not folded yet, then one batch of --batch routed records (one of
every --notice-batches notices' records), and times that batch: the case whose
senders' update found a generic plan made for an empty report_records, 17.6 s
at 4,542 records when bench/reporting_throughput.py reproduced it in round 54
(docs/performance.md, "Round 54"; round 54's `make bench` did not meet it).
Then the notices' senders are checked. PostgreSQL plans an update's first
five executions for their values: with fewer than six notices' batches the
records' batch may not meet the case.

    POPFLOW_TEST_PG_URL=... .venv/bin/python bench/fold_young_store.py [--batch 5000] [--notice-batches 8] [--runs 3]

Last line: records_batch_ms=<median of the runs> notice_batch_ms=<median of every notices' batch>
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.tables import notices
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import NoticeFact, RoutedFact
from shared.db import build_engine, run_migrations
from tests.support.infra import create_database, drop_database, unique_name

AT = datetime(2027, 2, 22, 2, 0, tzinfo=UTC)
WEEK = "2027-W08"
SENDER, RECIPIENT = "440111003", "440111002"  # 同德, 新市 (Baiyun)


async def one_run(batch: int, notice_batches: int) -> tuple[float, list[float]]:
    name = unique_name("fold_young")
    engine = build_engine(await create_database(name))
    try:
        await run_migrations(engine, MIGRATIONS)
        writer = FactWriter(engine)
        record_ids = [str(uuid.uuid4()) for _ in range(batch * notice_batches)]
        notice_ms = []
        for n in range(notice_batches):
            ids = [(str(uuid.uuid4()), r) for r in record_ids[n * batch : (n + 1) * batch]]
            issued = {i: NoticeFact(i, r, RECIPIENT, "cross-street", AT, WEEK) for i, r in ids}
            started = time.perf_counter()
            await writer.write(FoldBatch(issued=issued))
            notice_ms.append((time.perf_counter() - started) * 1000)
        routed = {r: RoutedFact(r, SENDER, WEEK, AT, "cross-street") for r in record_ids[::notice_batches]}
        started = time.perf_counter()
        await writer.write(FoldBatch(routed=routed))
        records_ms = (time.perf_counter() - started) * 1000
        async with engine.connect() as connection:
            senders = (
                await connection.execute(
                    sa.select(notices.c.sender_street, sa.func.count()).group_by(notices.c.sender_street)
                )
            ).all()
        unnamed = batch * (notice_batches - 1)  # the notices of records not in the batch
        assert dict(senders) == ({SENDER: batch, None: unnamed} if unnamed else {SENDER: batch}), senders
        return records_ms, notice_ms
    finally:
        await engine.dispose()
        await drop_database(name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=5000, help="records in each batch")
    parser.add_argument("--notice-batches", type=int, default=8, help="the notices' batches before it")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    records_ms, notice_ms = [], []
    for run in range(args.runs):
        took, notices_took = await one_run(args.batch, args.notice_batches)
        records_ms.append(took)
        notice_ms.extend(notices_took)
        print(f"run {run + 1}: the records' batch {took:.0f} ms, the notices' at most {max(notices_took):.0f} ms")
    print(f"records_batch_ms={statistics.median(records_ms):.0f} notice_batch_ms={statistics.median(notice_ms):.0f}")


if __name__ == "__main__":
    asyncio.run(main())

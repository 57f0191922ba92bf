"""What a record leaves in PostgreSQL: each service's tables and indexes, the rows it writes, the WAL and the
data pages written, a single POST's record and a department list's row apart.

    .venv/bin/python bench/db_footprint.py [--posts 20000] [--rows 20000] [--answers 5000] [--answer-rate R]

Needs make test's infra (KAFKA_BOOTSTRAP_SERVERS, POPFLOW_TEST_PG_URL). It starts a private system (all four
services, fresh databases and topics) and, in two phases, takes a census's shape through it: `--posts` records
of distinct persons posted one by one, then a list of `--rows` other persons imported as one CSV file. Both
take the end-to-end benchmark's routes (every street of Baiyun as the reporting street, a third staying on
their street, a tenth living in another district) and wait until reporting has counted every record, so each
phase holds every effect: the record, its case and decision, its notices in the inbox, the outbox rows
(published and kept for POPFLOW_OUTBOX_KEEP_DAYS), and reporting's rows. A third phase answers the notices of
the first two that await an answer (`--answers` of them at most, taken in the order of their ids, which are
random) as the offices would, each with its own key (`answer`: most confirmed, a few corrected, not found or
rejected), as fast as they go or at `--answer-rate` a second, and waits until routing has applied every answer
and every notice the answers made (the registration places told of a verified person, rechecks, relays) has
reached the inbox and reporting.

For each phase and each database, divided by the phase's records:
- the growth of its tables with their indexes and TOAST (pg_total_relation_size);
- the rows it inserted, updated and deleted (pg_stat_user_tables);
- the WAL written for its relations, read with `pg_waldump --follow` from the cluster's pg_wal while the phase
  runs (when this user may read it: as root on the server's host); the WAL of no relation (commits) apart;
- and for the whole cluster: the WAL (pg_stat_wal), its full-page images (how many, and with pg_waldump their
  bytes as written beside what they would be uncompressed: the first change of a page after a checkpoint
  writes the page whole, compressed when `wal_compression` is on), the 8 KiB data pages written
  between a CHECKPOINT before the phase and one after it (pg_stat_bgwriter; the checkpoint needs a superuser
  or pg_checkpoint: through `runuser -u postgres psql` when run as root, otherwise left out), and how many
  times autovacuum passed over a table.

The pages written are those the phase dirtied, each written once a checkpoint however often it changed, and
autovacuum's passes over the tables, earlier phases' rows included (the list phase's figure carries the posts'
vacuum). A server whose checkpoints are minutes apart writes a hot page once in that while, so the figure is
what checkpoints as far apart as the phase is long would write (docs/scaling.md turns it into IOPS).

The cluster's counters count all of the server's work, and another database's DROP DATABASE sets off a checkpoint
that can recycle WAL before pg_waldump has read it: run it on a server nothing else uses meanwhile, as `make bench`
does (beside a test run, a 2,000-row phase met nine checkpoints and lost its WAL's by-database figures).

`--wal-compression off|pglz|lz4|zstd` sets `wal_compression` for the run's own databases (ALTER DATABASE, as a
superuser or, as root, as the server's own user); a line before the phases says what their sessions had.

Last line: footprint_kib_per_record=<a> footprint_wal_kib_per_record=<b> footprint_rows_per_record=<c>
footprint_pages_per_record=<d> footprint_kib_per_row=<e> footprint_wal_kib_per_row=<f>
footprint_kib_per_answer=<g> footprint_wal_kib_per_answer=<h> (pages -1 when no checkpoint could be asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.box_share import BoxShare, Grouping, standard_groups
from bench.e2e_throughput import counted, post_all, wait_counted, workload
from bench.intake_throughput import bulk
from bench.load import hammer, post_requests
from tests.support.bulk_files import csv_lines
from tests.support.records import id_number
from tests.support.system import SERVICES, System, build_system, destroy_system

STATS_FLUSH_S = 1.1  # a backend that ended has reported its counters; they are read a second later
TABLES = (
    "SELECT relname, pg_total_relation_size(relid), n_tup_ins + n_tup_upd + n_tup_del, autovacuum_count "
    "FROM pg_stat_user_tables"
)
CLUSTER = (
    "SELECT w.wal_bytes, w.wal_fpi, b.buffers_checkpoint, b.buffers_clean + b.buffers_backend, "
    "b.checkpoints_timed + b.checkpoints_req FROM pg_stat_wal w, pg_stat_bgwriter b"
)
# one WAL record as pg_waldump prints it: its total length, and the relations of its block references
WAL_LENGTH = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+)")
WAL_RELATION = re.compile(r"rel \d+/(\d+)/\d+")
# a block reference's full-page image (--bkp-details): its hole, and what compression saved when it did
WAL_IMAGE = re.compile(r"\(FPW[^)]*\); hole: offset: \d+, length: (\d+)(?:, compression saved: (\d+))?")
PAGE = 8192
WAL_LSN = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+)")


def census(count: int, *, first_day: int) -> list[dict[str, Any]]:
    """The end-to-end benchmark's `count` records (its routes: every street of Baiyun reports, a third stay on
    their street, a tenth live in Tianhe), each of a distinct person (1,000 a birth date from `first_day` on)."""
    bodies = workload(count)
    for i, body in enumerate(bodies):
        born = date(1960, 1, 1) + timedelta(days=first_day + i // 1000)
        body["person"]["id_number"] = id_number(born=born, sequence=i % 1000)
    return bodies


# the offices' answers, of every 20 notices: 16 confirmed, 2 corrected (the residence's address), 1 not found,
# 1 rejected (the person left); a correction names no person
ANSWERS: tuple[dict[str, Any], ...] = (
    *[{"result": "confirmed"}] * 16,
    *[{"result": "corrected", "corrections": {"residence_address": "广州市白云区同德街道西槎路1号"}}] * 2,
    {"result": "not_found"},
    {"result": "rejected", "reason": "person_left"},
)
AWAITING = (
    "SELECT notice_id, recipient_code FROM inbox_notices WHERE answer_expected AND answered_at IS NULL"
    " ORDER BY notice_id"
)
# (database, query): the answers applied where they are counted, and the notices issued where they arrive
SETTLED = {
    "routing answered": ("routing", "SELECT count(*) FROM notices WHERE answered_at IS NOT NULL"),
    "reporting answered": ("reporting", "SELECT count(*) FROM report_notices WHERE answered_at IS NOT NULL"),
    "routing issued": ("routing", "SELECT count(*) FROM notices"),
    "inbox": ("notification", "SELECT count(*) FROM inbox_notices"),
    "reporting issued": ("reporting", "SELECT count(*) FROM report_notices"),
}


def answer(index: int) -> dict[str, Any]:
    """The answer to the census's `index`th notice awaiting one (ANSWERS in turn)."""
    return ANSWERS[index % len(ANSWERS)]


def office_scope(recipient_code: str) -> str:
    """The scope of the key an office answers its notices with: its street's, or a district bureau's."""
    return f"street:{recipient_code}" if len(recipient_code) == 9 else f"district:{recipient_code}"


def settled(counts: dict[str, int], answered: int) -> bool:
    """Whether routing and reporting have applied `answered` answers (beyond those before the phase, which the
    counts are taken net of) and every notice routing issued has reached the inbox and reporting."""
    applied = counts["routing answered"] >= answered and counts["reporting answered"] >= answered
    return applied and counts["routing issued"] == counts["inbox"] == counts["reporting issued"]


class WalTotals:
    """pg_waldump's lines (`--bkp-details`: each block reference on a line of its own, after its record's)
    summed by the database of each WAL record's first block reference (None: no relation, such as a commit or
    a checkpoint's record), up to an end LSN; lines that are neither are skipped. And the full-page images
    among them: `images` as written (compressed when wal_compression is on: PostgreSQL stores an image
    uncompressed when compressing saves nothing), `images_raw` as they would be without compression (the
    page less its hole), and `image_count` of them."""

    def __init__(self) -> None:
        self.totals: Counter[int | None] = Counter()
        self.images = 0
        self.images_raw = 0
        self.image_count = 0
        self.last = -1  # the LSN of the last record read
        self.end: int | None = None  # records from this LSN on are not counted
        self._pending: int | None = None  # the last record's total, until its first block names its database

    def _counting(self) -> bool:
        """Whether the last record read is before the end (it may have been read before the end was set)."""
        return self.end is None or self.last < self.end

    def add(self, line: str) -> None:
        if line.startswith("\tblkref"):
            self._block(line)
            return
        length, at = WAL_LENGTH.search(line), WAL_LSN.search(line)
        if length is None or at is None:
            return
        self._settle(None)  # the record before had no block reference
        self.last = lsn(at.group(1))
        self._pending = int(length.group(1))

    def _block(self, line: str) -> None:
        if not self._counting():
            return
        relation = WAL_RELATION.search(line)
        self._settle(int(relation.group(1)) if relation else None)
        if image := WAL_IMAGE.search(line):
            hole, saved = int(image.group(1)), int(image.group(2) or 0)
            self.images_raw += PAGE - hole
            self.images += PAGE - hole - saved
            self.image_count += 1

    def _settle(self, database: int | None) -> None:
        if self._pending is not None and self._counting():
            self.totals[database] += self._pending
        self._pending = None

    def close(self) -> None:
        """The last record read counted (it had no block reference, or none came after it)."""
        self._settle(None)


def wal_read(lines: Iterable[str], end: str | None = None) -> WalTotals:
    totals = WalTotals()
    totals.end = lsn(end) if end else None
    for line in lines:
        totals.add(line)
    totals.close()
    return totals


def lsn(text: str) -> int:
    """A WAL location as PostgreSQL writes it (`1D/6535F520`) as a number."""
    high, _, low = text.partition("/")
    return int(high, 16) << 32 | int(low, 16)


class WalFollower:
    """`pg_waldump --follow` from an LSN while a phase runs, its lines summed as they come: a checkpoint
    recycles WAL segments once it is done with them, and a phase of 100,000 records outlasted one
    (a pg_waldump run after the phase found its first segment gone)."""

    def __init__(self, waldump: str, wal_dir: Path, start: str) -> None:
        # a line at a time (stdbuf): into a pipe pg_waldump writes a block at a time, and would hold the lines
        # past the end back until more WAL came
        line_at_a_time = ("stdbuf", "-oL") if shutil.which("stdbuf") else ()
        self._command = (*line_at_a_time, waldump, "--follow", "--bkp-details", "-p", str(wal_dir), "-s", start)
        self.totals = WalTotals()
        self._process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=1 << 20
        )
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            self.totals.add(line.decode(errors="replace"))

    async def stop(self) -> None:
        """pg_waldump ended (it follows until it is told to); again is nothing."""
        assert self._process is not None
        assert self._reading is not None
        if self._process.returncode is None:
            self._process.terminate()
        await self._process.wait()
        self._reading.cancel()

    async def until(self, end: str, within_s: float = 120.0) -> WalTotals | None:
        """The totals up to `end`, once pg_waldump has read past it; None when it ended or fell behind."""
        assert self._process is not None
        assert self._reading is not None
        self.totals.end = lsn(end)
        deadline = time.monotonic() + within_s
        try:
            while self.totals.last < self.totals.end and time.monotonic() < deadline:
                if self._reading.done():
                    break
                await asyncio.sleep(0.2)
            read_past = self.totals.last >= self.totals.end
            self.totals.close()
        finally:
            await self.stop()
        if not read_past:
            error = (await self._process.stderr.read()).decode(errors="replace") if self._process.stderr else ""
            print(f"pg_waldump did not read the phase's WAL through: {error.strip().splitlines()[-1:]}")
            return None
        return self.totals


@dataclass
class Snapshot:
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of tables, indexes and TOAST, by database
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted, updated and deleted, by database
    tables: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (bytes, rows) by (database, table)
    wal_bytes: int = 0
    full_pages: int = 0
    checkpoint_pages: int = 0  # data pages written by checkpoints
    evicted_pages: int = 0  # written to make room in shared buffers (by the background writer or a backend)
    vacuums: int = 0  # autovacuum's passes over the tables, all databases
    checkpoints: int = 0  # the cluster's, begun on time or asked for (by WAL volume, or by CHECKPOINT)


class Footprint:
    """Reads a system's databases and the cluster's counters, and asks for checkpoints where it may."""

    def __init__(self, system: System) -> None:
        self._urls = {
            name: make_url(
                system.env[f"{name.upper()}_DATABASE_URL" if name != "keys" else "POPFLOW_KEYS_DATABASE_URL"]
            )
            .set(drivername="postgresql", query={})
            .render_as_string(hide_password=False)
            for name in ("intake", "routing", "notification", "reporting", "keys")
        }
        self.names = {name: system.databases[name] for name in self._urls}
        self._port = make_url(self._urls["intake"]).port or 5432
        self.checkpoints = True
        self.wal_reader = _wal_reader(self._port)

    async def snapshot(self) -> Snapshot:
        await asyncio.sleep(STATS_FLUSH_S)
        taken = Snapshot()
        for name, url in self._urls.items():
            connection = await asyncpg.connect(url)
            try:
                for table, size, rows, vacuums in await connection.fetch(TABLES):
                    taken.tables[(name, table)] = (size, rows)
                    taken.vacuums += vacuums
                    taken.sizes[name] = taken.sizes.get(name, 0) + size
                    taken.rows[name] = taken.rows.get(name, 0) + rows
                if name == "intake":
                    counters = await connection.fetchrow(CLUSTER)
                    taken.wal_bytes, taken.full_pages, taken.checkpoint_pages, taken.evicted_pages = counters[:4]
                    taken.checkpoints = counters[4]
            finally:
                await connection.close()
        return taken

    async def fetch(self, database: str, query: str) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self._urls[database])
        try:
            rows: list[asyncpg.Record] = await connection.fetch(query)
            return rows
        finally:
            await connection.close()

    async def counts(self) -> dict[str, int]:
        return {name: (await self.fetch(database, query))[0][0] for name, (database, query) in SETTLED.items()}

    async def database_ids(self) -> dict[int, str]:
        by_name = {n: s for s, n in self.names.items()}
        rows = await self.fetch("intake", "SELECT oid, datname FROM pg_database")
        return {oid: by_name[n] for oid, n in rows if n in by_name}

    async def checkpoint(self) -> bool:
        """A CHECKPOINT as this role (a superuser or pg_checkpoint) or, as root, as the server's own user."""
        if not self.checkpoints:
            return False
        if await self._privileged("CHECKPOINT"):
            return True
        print("no CHECKPOINT allowed (not a superuser or pg_checkpoint, nor root): pages written left out")
        self.checkpoints = False
        return False

    async def compress_wal(self, method: str) -> bool:
        """`wal_compression` set for the system's databases (their sessions from now on), not for the
        cluster: the full-page images their sessions write are compressed with `method`. A superuser's setting:
        False when not allowed."""
        statements = [f"ALTER DATABASE {database} SET wal_compression = '{method}'" for database in self.names.values()]
        return all([await self._privileged(statement) for statement in statements])

    async def _privileged(self, statement: str) -> bool:
        """`statement` run as this role or, as root, as the server's own user; False when neither may."""
        connection = await asyncpg.connect(self._urls["intake"])
        try:
            await connection.execute(statement)
            return True
        except asyncpg.InsufficientPrivilegeError:
            pass
        finally:
            await connection.close()
        if os.geteuid() == 0 and shutil.which("runuser"):
            process = await asyncio.create_subprocess_exec(
                *("runuser", "-u", "postgres", "--", "psql", "-p", str(self._port), "-qAtc", statement),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, error = await process.communicate()
            if process.returncode == 0:
                return True
            print(f"{statement.split(' SET ')[0]}: {error.decode(errors='replace').strip()}")  # an unknown method
        return False

    async def wal_mark(self) -> str:
        """The WAL's end now, with records written and flushed past it (a message and its transaction's
        commit): pg_waldump reads only what is on disk, refuses to start where nothing is yet (even following),
        and a follower tells by a later record that it has read everything before the end."""
        connection = await asyncpg.connect(self._urls["intake"])
        try:
            end: str = await connection.fetchval("SELECT pg_current_wal_insert_lsn()::text")
            # transactional, so its commit waits for the flush (a commit that logged nothing else does not)
            await connection.fetchval("SELECT pg_logical_emit_message(true, 'popflow-bench', 'mark')")
            return end
        finally:
            await connection.close()

    async def follow_wal(self, start: str) -> WalFollower | None:
        """A follower of the WAL from `start` on, or None when pg_wal cannot be read here."""
        if self.wal_reader is None:
            return None
        follower = WalFollower(*self.wal_reader, start)
        await follower.start()
        return follower


def _wal_reader(port: int) -> tuple[str, Path] | None:
    """The pg_waldump of the Debian cluster on `port` (pg_lsclusters: its version's, which reads its WAL's format)
    and that cluster's pg_wal, when this user may read it."""
    if not shutil.which("pg_lsclusters"):
        return None
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout
    for line in listed.splitlines():
        columns = line.split()
        if len(columns) >= 6 and columns[2] == str(port):
            waldump, wal = Path(f"/usr/lib/postgresql/{columns[0]}/bin/pg_waldump"), Path(columns[5]) / "pg_wal"
            if waldump.exists() and os.access(wal, os.R_OK | os.X_OK):
                return str(waldump), wal
    return None


UNITS = {"posts": "record", "list": "row", "answers": "answer"}


@dataclass
class Phase:
    name: str
    count: int
    before: Snapshot
    after: Snapshot
    wal: WalTotals | None
    ids: dict[int, str]
    checkpointed: bool
    seconds: float  # from the first POST or the upload to the last record counted by reporting
    cpu: str = ""  # where the box's CPU went meanwhile, a unit: each service, PostgreSQL, Kafka, the client

    def per(self, value: float) -> float:
        return value / self.count

    def lines(self) -> list[str]:
        unit = UNITS[self.name]
        article = "an" if unit[0] in "aeiou" else "a"
        out = [f"{self.name}: {self.count:,} {unit}s in {self.seconds:.0f} s; by database, {article} {unit}:"]
        for name in ("intake", "routing", "notification", "reporting", "keys"):
            grown = self.after.sizes.get(name, 0) - self.before.sizes.get(name, 0)
            rows = self.after.rows.get(name, 0) - self.before.rows.get(name, 0)
            wal = ""
            if self.wal is not None:
                oid = next((o for o, n in self.ids.items() if n == name), None)
                wal = f", WAL {self.per(self.wal.totals.get(oid, 0)) / 1024:.2f} KiB"
            out.append(
                f"  {name:<13} {self.per(grown) / 1024:6.2f} KiB of tables and indexes, "
                f"{self.per(rows):5.2f} rows written{wal}"
            )
        if self.wal is not None:
            out.append(
                f"  WAL of no relation (commits, checkpoints): {self.per(self.wal.totals.get(None, 0)) / 1024:.2f} KiB"
            )
        by_table = {
            key: (size - self.before.tables.get(key, (0, 0))[0], rows - self.before.tables.get(key, (0, 0))[1])
            for key, (size, rows) in self.after.tables.items()
        }
        largest = sorted(((size, key) for key, (size, _) in by_table.items()), reverse=True)[:6]
        out.append("  largest: " + ", ".join(f"{d}.{t} {self.per(s) / 1024:.2f} KiB" for s, (d, t) in largest))
        busiest = sorted(((rows, key) for key, (_, rows) in by_table.items()), reverse=True)[:8]
        out.append("  rows written: " + ", ".join(f"{d}.{t} {self.per(r):.2f}" for r, (d, t) in busiest))
        out.append(f"  {self.cpu}")
        out.append(
            f"  the cluster: WAL {self.per(self.wal_total) / 1024:.2f} KiB {article} {unit} "
            f"({self.image_count} full-page images{self.image_size}), "
            + (
                f"{self.pages:.3f} data pages written {article} {unit} "
                f"({self.per(self.evicted):.3f} of them to make room in shared buffers)"
                if self.checkpointed
                else "data pages not counted"
            )
            + f"; autovacuum passed over {self.after.vacuums - self.before.vacuums} tables"
            + f"; {self.checkpoints} checkpoints within the phase"
        )
        return out

    @property
    def full_pages(self) -> int:
        return self.after.full_pages - self.before.full_pages

    @property
    def image_count(self) -> str:
        """As pg_waldump read them from the phase's WAL, else as the server counted them (pg_stat_wal, whose
        count waits for each process to report it)."""
        count = self.wal.image_count if self.wal is not None else self.full_pages
        return f"{self.per(count):.3f}"

    @property
    def image_size(self) -> str:
        """What the full-page images took of the WAL (as pg_waldump read it), and what they would without
        compression."""
        if self.wal is None or not self.wal.images_raw:
            return ""
        written, raw = self.wal.images, self.wal.images_raw
        return f", {self.per(written) / 1024:.2f} KiB: {written / raw:.0%} of their {self.per(raw) / 1024:.2f} KiB"

    @property
    def size(self) -> int:
        return sum(self.after.sizes.values()) - sum(self.before.sizes.values())

    @property
    def rows(self) -> int:
        return sum(self.after.rows.values()) - sum(self.before.rows.values())

    @property
    def wal_total(self) -> int:
        return self.after.wal_bytes - self.before.wal_bytes

    @property
    def checkpoints(self) -> int:
        """Those the server began within the phase: not the CHECKPOINT asked for after it, when it was."""
        return self.after.checkpoints - self.before.checkpoints - (1 if self.checkpointed else 0)

    @property
    def evicted(self) -> int:
        return self.after.evicted_pages - self.before.evicted_pages

    @property
    def pages(self) -> float:
        if not self.checkpointed:
            return -1.0
        return self.per(self.after.checkpoint_pages - self.before.checkpoint_pages + self.evicted)


def groups(system: System) -> Grouping:
    """The box's CPU by service, PostgreSQL, Kafka and this client (bench/box_share.py), with pg_waldump apart."""
    services = {name: process.pid for name, process in system.processes.items()}
    standard = standard_groups(services, databases=system.run_id, bootstrap=system.env["KAFKA_BOOTSTRAP_SERVERS"])

    def group(pid: int, parent: int, command: str) -> str | None:
        return "pg_waldump" if "pg_waldump" in command else standard(pid, parent, command)

    return group


async def measured(footprint: Footprint, system: System, name: str, count: int, load: Any) -> Phase:
    """`load` run on the system started, and measured with the system stopped after it: a backend reports its
    last table counters as it ends (an idle one held them back longer than the seconds waited here)."""
    system.start_together(*SERVICES)
    checkpointed = await footprint.checkpoint()
    before = await footprint.snapshot()
    follower = await footprint.follow_wal(await footprint.wal_mark())
    try:
        started = time.perf_counter()
        with BoxShare(groups(system)) as share:
            await load()
        seconds = time.perf_counter() - started
        system.stop_all()
        # read through before the checkpoint after the phase, which may recycle the phase's last segments
        wal = await follower.until(await footprint.wal_mark()) if follower else None
    finally:
        if follower:  # a phase that failed: pg_waldump --follow would go on waiting for WAL
            await follower.stop()
    if checkpointed:
        checkpointed = await footprint.checkpoint()
    after = await footprint.snapshot()
    ids = await footprint.database_ids()
    return Phase(name, count, before, after, wal, ids, checkpointed, seconds, share.line(count, UNITS[name]))


async def wait_settled(footprint: Footprint, before: dict[str, int], answered: int, within: float) -> None:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        now = await footprint.counts()
        counts = {name: now[name] - before[name] if "answered" in name else now[name] for name in now}
        print(f"  answers: {counts}", file=sys.stderr)
        if settled(counts, answered):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{answered} answers not applied, or their notices not arrived, within {within} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000, help="records posted one by one")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of one CSV list imported after them")
    parser.add_argument(
        "--answers", type=int, default=5_000, help="notices awaiting an answer answered after them, at most"
    )
    parser.add_argument(
        "--answer-rate", type=float, default=None, help="answers a second, a steady trickle (else as fast as they go)"
    )
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--wal-compression",
        choices=["off", "pglz", "lz4", "zstd"],
        default=None,
        help="wal_compression for the run's databases (set as a superuser, or as root through the server's user; "
        "the cluster's setting otherwise)",
    )
    args = parser.parse_args()

    system = await build_system(Path(tempfile.mkdtemp(prefix="popflow-bench-")))
    key = await system.create_key("admin", label="bench")
    headers = {"Authorization": f"Bearer {key}"}
    intake, reporting = system.url("intake"), system.url("reporting")
    try:
        footprint = Footprint(system)
        if footprint.wal_reader is None:
            print("pg_wal is not readable here (run as root on the server's host): WAL by database left out")
        if args.wal_compression and not await footprint.compress_wal(args.wal_compression):
            raise SystemExit(
                "wal_compression not set: a superuser's setting (run as one, or as root on the server's host)"
            )
        # as a new session of the run's databases has it (the services' sessions all start after this)
        print(f"wal_compression: {(await footprint.fetch('intake', 'SHOW wal_compression'))[0][0]}")
        phases: list[Phase] = []

        async def posted() -> None:
            baseline = await counted(reporting, key)
            await post_all(intake, key, census(args.posts, first_day=0), 32)
            await wait_counted(reporting, key, args.posts, baseline, args.timeout)

        async def listed() -> None:
            baseline = await counted(reporting, key)
            file = b"".join(csv_lines(census(args.rows, first_day=args.posts // 1000 + 1)))
            _, _, summary = await bulk(system, headers, file, args.rows)
            assert summary["accepted"] == args.rows, summary
            await wait_counted(reporting, key, args.rows, baseline, args.timeout)

        phases.append(await measured(footprint, system, "posts", args.posts, posted))
        phases.append(await measured(footprint, system, "list", args.rows, listed))
        # the notices of both phases that await an answer, read before the phase (its count divides its figures)
        awaiting = [(row[0], row[1]) for row in await footprint.fetch("notification", AWAITING)][: args.answers]
        # each office answers with its own key, as offices do (the answer route's key check then meets as many
        # keys as there are offices, not the one admin key)
        codes = sorted({code for _, code in awaiting})
        offices = {code: await system.create_key(office_scope(code), label="bench") for code in codes}

        async def answered() -> None:
            before = await footprint.counts()
            url = httpx.URL(system.url("notification"))
            host, port = url.host, url.port or 80
            requests = [
                post_requests(
                    host,
                    port,
                    f"/v1/notices/{notice_id}/feedback",
                    [answer(i)],
                    {"Authorization": f"Bearer {offices[code]}"},
                )[0]
                for i, (notice_id, code) in enumerate(awaiting)
            ]
            result = await hammer(host, port, requests, concurrency=32, rate=args.answer_rate)
            if set(result.statuses) != {202}:
                raise RuntimeError(f"answers answered {result.statuses}, not all 202")
            await wait_settled(footprint, before, len(awaiting), args.timeout)

        phases.append(await measured(footprint, system, "answers", len(awaiting), answered))
    finally:
        await destroy_system(system)
    for phase in phases:
        print("\n".join(phase.lines()))
    posts, listed_rows, answers = phases
    print(
        f"footprint_kib_per_record={posts.per(posts.size) / 1024:.2f} "
        f"footprint_wal_kib_per_record={posts.per(posts.wal_total) / 1024:.2f} "
        f"footprint_rows_per_record={posts.per(posts.rows):.2f} footprint_pages_per_record={posts.pages:.3f} "
        f"footprint_kib_per_row={listed_rows.per(listed_rows.size) / 1024:.2f} "
        f"footprint_wal_kib_per_row={listed_rows.per(listed_rows.wal_total) / 1024:.2f} "
        f"footprint_kib_per_answer={answers.per(answers.size) / 1024:.2f} "
        f"footprint_wal_kib_per_answer={answers.per(answers.wal_total) / 1024:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())

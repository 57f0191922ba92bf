"""Intake's 0007 seals the addresses and employer of the records stored before it, in batches, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.sealed import seal_record
from services.intake.adapters.tables import RecordRow
from services.intake.bootstrap import MIGRATIONS
from services.intake.service_layer.reads import present
from shared.db import build_engine, run_migrations
from shared.db.sealing_migration import BATCH_ROWS, json_value
from shared.ids import new_id
from shared.sealing import is_sealed
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.records import FURONG, TONGDE, XINSHI, credit_code
from tests.support.stores import STORES

SOLE_TRADER = credit_code("92440111MA5ABCDE1")
COMPANY = credit_code()


def old_body(number: int) -> dict[str, Any]:
    """A record as intake stored it before 0007: everything but the person in clear."""
    return {
        "event": "new_inflow",
        "reporting_street": TONGDE,
        "residence": {"street": TONGDE, "address": f"同德路 {number} 号 3 栋"},
        "registration": {"division": FURONG, "address": f"五一大道 {number} 号"},
        "observed_at": "2026-02-25T02:30:00Z",
        "employer": None,
        "new_residence": None,
    }


def row(record_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "person_key": f"pk-{record_id}",
        "reporting_street": TONGDE,
        "residence_street": TONGDE,
        "record": body,
        "received_at": datetime(2026, 2, 25, tzinfo=UTC),
        "case_version": 1,
        "person_sealed": TEST_KEYRING.seal({"name": "吴十"}, context=record_id),
    }


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    name = unique_name("intake_")
    kind = request.param
    url = f"sqlite+aiosqlite:///{tmp_path}/intake.db" if kind == "sqlite" else await create_database(name)
    engine = build_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        if kind == "postgresql":
            await drop_database(name)


async def stored(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT record_id, record FROM records"))).all()
    return {record_id: json_value(record) for record_id, record in rows}


async def test_0007_seals_stored_records_once(engine: AsyncEngine) -> None:
    await run_migrations(engine, MIGRATIONS, revision="0006")
    bodies = {new_id(): old_body(number) for number in range(BATCH_ROWS + 2)}  # more than one batch
    outflow, company, sealed_already = list(bodies)[:3]
    bodies[outflow] |= {
        "event": "outflow",
        "new_residence": {"street": XINSHI, "address": "新港西路 1 号 2 栋"},
        "employer": {"name": "吴十五金店", "credit_code": SOLE_TRADER},
    }
    bodies[company]["employer"] = {"name": "白云某某服装厂", "credit_code": COMPANY}
    rows = [row(record_id, body) for record_id, body in bodies.items()]
    # a row intake stored sealed already (after 0007 on another replica): left as it is
    rows[2]["record"] = seal_record(bodies[sealed_already], sealed_already, TEST_KEYRING)
    async with engine.begin() as connection:
        await connection.execute(insert(RecordRow.__table__), rows)  # type: ignore[attr-defined]

    await run_migrations(engine, MIGRATIONS, keyring=TEST_KEYRING)

    after = await stored(engine)
    assert after[sealed_already] == rows[2]["record"]
    dump = str(after)
    clear = [body[part]["address"] for body in bodies.values() for part in ("residence", "registration")]
    clear += ["新港西路 1 号 2 栋", "吴十五金店", "白云某某服装厂", SOLE_TRADER]
    assert [value for value in clear if value in dump] == []
    assert after[company]["employer"]["credit_code"] == COMPANY  # an enterprise's code: not a person's
    assert all(is_sealed(after[outflow][part]["address"]) for part in ("residence", "registration", "new_residence"))
    # every read opens them back to the record as it was
    for record_id, body in bodies.items():
        shown = present(RecordRow.model_validate(row(record_id, after[record_id])), TEST_KEYRING)
        assert shown["record"] == {"person": {"name": "吴十"}, **body}

    # run again (a second start over the same rows): nothing changes, not even a nonce
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    await run_migrations(engine, MIGRATIONS, keyring=TEST_KEYRING, revision="0007")  # 0007 alone, once more
    assert await stored(engine) == after


async def test_0007_needs_no_keyring_for_an_empty_store(engine: AsyncEngine) -> None:
    await run_migrations(engine, MIGRATIONS)
    assert await stored(engine) == {}

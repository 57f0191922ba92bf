"""The PostgreSQL fast path of the fold: COPY a batch into temporary tables, then upsert from them.

Row-by-row INSERT ... ON CONFLICT runs at a few thousand rows a second;
COPY into a session-local temporary table followed by one set-based
INSERT ... SELECT ... ON CONFLICT per table does the same upserts, in the
same transaction, an order of magnitude faster. The conflict rules are the
ones of fold.py (the statements there are the portable reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from asyncpg.exceptions._base import DataError as ClientDataError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.reporting.adapters.tables import notices, records, rejections
from shared.db.bulk import UnwritableValue
from shared.db.engine import driver_of

RECORD_FACT_COLUMNS = (
    "record_id", "reporting_street", "residence_street", "week", "observed_at", "received_at", "event_kind",
    "person_key", "sex", "birth_date", "marital_status", "arrival_date", "cert_result", "cert_valid_until",
    "missing_mask", "source_kind", "key_area_kind", "community",
)  # fmt: skip
ROUTED_COLUMNS = ("record_id", "reporting_street", "week", "observed_at", "route")
SUBMITTED_SET = tuple(c for c in RECORD_FACT_COLUMNS if c != "reporting_street")  # the street: see fold_submitted
ISSUED_COLUMNS = ("notice_id", "record_id", "recipient_code", "route", "issued_at", "week", "kind", "answer_expected")
ANSWERED_COLUMNS = ("notice_id", "answered_at", "answer")
REJECTION_COLUMNS = tuple(c.name for c in rejections.columns)


def _upsert(table: str, staging: str, columns: Sequence[str], conflict: str, extra: dict[str, str]) -> str:
    names = ", ".join((*columns, *extra))
    values = ", ".join((*columns, *extra.values()))
    return f"INSERT INTO {table} ({names}) SELECT {values} FROM {staging} {conflict}"  # noqa: S608 - names are ours


def _set(columns: Sequence[str], key: str) -> str:
    return ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)


# (staging table, like table, columns, upsert statement)
STAGES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "fold_submitted",
        records.name,
        (*RECORD_FACT_COLUMNS, "route"),
        _upsert(
            records.name,
            "fold_submitted",
            RECORD_FACT_COLUMNS,
            f"ON CONFLICT (record_id) DO UPDATE SET {_set(SUBMITTED_SET, 'record_id')}, submitted = true,"
            " route = COALESCE(EXCLUDED.route, report_records.route),"
            # routing's street wins once routing has decided (a retired street's successor, a bureau's correction)
            " reporting_street = CASE WHEN EXCLUDED.route IS NULL AND report_records.route IS NOT NULL"
            " THEN report_records.reporting_street ELSE EXCLUDED.reporting_street END",
            {"submitted": "true", "route": "route"},
        ),
    ),
    (
        "fold_routed",
        records.name,
        ROUTED_COLUMNS,
        _upsert(
            records.name,
            "fold_routed",
            ROUTED_COLUMNS,
            "ON CONFLICT (record_id) DO UPDATE SET route = EXCLUDED.route,"
            " reporting_street = EXCLUDED.reporting_street",
            {"submitted": "false", "missing_mask": "0"},
        ),
    ),
    (
        "fold_issued",
        notices.name,
        ISSUED_COLUMNS,
        _upsert(
            notices.name,
            "fold_issued",
            ISSUED_COLUMNS,
            f"ON CONFLICT (notice_id) DO UPDATE SET {_set(ISSUED_COLUMNS, 'notice_id')}",
            {},
        ),
    ),
    (
        "fold_answered",
        notices.name,
        ANSWERED_COLUMNS,
        _upsert(
            notices.name,
            "fold_answered",
            ANSWERED_COLUMNS,
            # LEAST ignores NULL: the first answer by time wins, whatever the order of arrival
            "ON CONFLICT (notice_id) DO UPDATE SET"
            " answered_at = LEAST(report_notices.answered_at, EXCLUDED.answered_at),"
            " answer = CASE WHEN report_notices.answered_at IS NULL"
            " OR EXCLUDED.answered_at < report_notices.answered_at"
            " THEN EXCLUDED.answer ELSE report_notices.answer END",
            {},
        ),
    ),
    (
        "fold_rejected",
        rejections.name,
        REJECTION_COLUMNS,
        _upsert(rejections.name, "fold_rejected", REJECTION_COLUMNS, "ON CONFLICT (rejection_id) DO NOTHING", {}),
    ),
)


async def copy_and_upsert(connection: AsyncConnection, rows: Sequence[list[tuple[Any, ...]]]) -> None:
    """`rows[i]` are tuples in the column order of STAGES[i]; all in the caller's transaction."""
    # SQLAlchemy's asyncpg adapter begins its transaction at the first statement it runs;
    # run one, so that the COPY and the upserts below are inside it.
    await connection.execute(sa.text("SELECT 1"))
    driver = await driver_of(connection)
    for (staging, like, columns, upsert), batch in zip(STAGES, rows, strict=True):
        if not batch:
            continue
        await driver.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {like} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        try:
            await driver.copy_records_to_table(staging, records=batch, columns=list(columns))
        except (OverflowError, UnicodeEncodeError, ClientDataError) as error:
            # refused by the driver before PostgreSQL saw it (an int past its column, half of a character):
            # the data's fault as much as the server's refusals, so the fold sets the event aside
            raise UnwritableValue(f"a value COPY cannot carry ({type(error).__name__})") from None
        await driver.execute(upsert)

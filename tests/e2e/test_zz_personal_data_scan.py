"""After the whole suite: no identity number or name it used is on any topic or in any database, in clear.

Runs last (tests/conftest.py moves it to the end; `make test` runs it after the suite's workers, reading
what each of them made up and found: tests/support/personal_data.py). Every test database was
searched just before it was dropped (tests/support/infra.py); this reads
every topic the session created from the beginning, searches the databases
still standing, and asserts that nothing was found anywhere. Values the
tests made up are known from the record builders (tests/support/personal_data.py).
"""

from __future__ import annotations

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from shared.kafka.replay import batches_to_end
from shared.kafka.security import KafkaConnection
from tests.support import personal_data
from tests.support.infra import kafka_bootstrap, kafka_connection, pg_admin_url, search_database


async def session_topics(kafka: KafkaConnection) -> list[str]:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(t for t in topics if any(name in t for name in personal_data.NAMES))


async def session_databases() -> list[str]:
    admin = make_url(pg_admin_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database")
    finally:
        await connection.close()
    return [r["datname"] for r in rows if any(r["datname"].startswith(name) for name in personal_data.NAMES)]


async def test_no_personal_data_the_suite_used_is_kept_in_clear() -> None:
    kafka_bootstrap()  # fails clearly when the suite runs without its infrastructure
    personal_data.load_for_the_scan()  # what the suite's workers made up and searched, when they ran apart
    assert personal_data.VALUES, "run with the suite: alone, no test made up any personal data to look for"
    kafka = kafka_connection()
    findings = list(personal_data.FINDINGS)
    for topic in await session_topics(kafka):
        async for records in batches_to_end(kafka, [topic]):
            for record in records:
                data = bytes(record.value or b"") + bytes(record.key or b"")
                data += b"".join(bytes(value) for _, value in record.headers)
                findings += [f"topic {topic}: {personal_data.describe(v)}" for v in personal_data.found_in(data)]
    searched_before = len(personal_data.FINDINGS)
    for database in await session_databases():
        await search_database(database)
    findings += personal_data.FINDINGS[searched_before:]
    assert sorted(set(findings)) == []

"""Intake's read routes on PostgreSQL, through the app `create_app` builds: records the deployment's data keys
do not open, and who reads a record reported under a retired street."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.repository import RecordRepository
from services.intake.bootstrap import MIGRATIONS, create_app
from services.intake.service_layer.submissions import Prepared, Submissions
from services.intake.settings import IntakeSettings
from shared.auth import Principal, parse_scope
from shared.auth.store import MIGRATIONS as KEY_MIGRATIONS
from shared.auth.store import KeyStore
from shared.db import build_engine, run_migrations, session_factory
from shared.directory import load_changes, load_directory
from shared.logging import configure_logging
from shared.sealing import Keyring, parse_keyring
from tests.support.infra import (
    DATA_KEY,
    DATA_KEYS,
    PERSON_KEY_SECRET,
    TEST_KEYRING,
    TEST_ZONE,
    create_database,
    drop_database,
    unique_name,
)
from tests.support.records import TONGDE, XINSHI, record

OTHER_KEY = base64.b64encode(bytes(range(32))).decode()  # a data key the deployment does not hold


@dataclass
class Deployment:
    client: httpx.AsyncClient
    engine: AsyncEngine  # intake's database, for records stored by another deployment's keys
    keys: KeyStore

    async def key(self, scope: str) -> dict[str, str]:
        """Headers with a new API key of `scope` (its scope's default role)."""
        _, key = await self.keys.create(parse_scope(scope))
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    name = unique_name("intake_")
    url = await create_database(name)
    settings = IntakeSettings.model_validate(
        {
            "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
            "POPFLOW_DATA_KEYS": DATA_KEYS,
            "POPFLOW_KEYS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/keys.db",
            "POPFLOW_LOG_FORMAT": "json",
            "database_url": url,
            "bulk_workers": 0,
            "key_cache_seconds": 0,
        }
    )
    app = create_app(settings)  # not started: the read routes need neither Kafka nor the relay
    engine, keys_engine = build_engine(url), build_engine(f"sqlite+aiosqlite:///{tmp_path}/keys.db")
    await run_migrations(engine, MIGRATIONS, keyring=TEST_KEYRING)
    await run_migrations(keys_engine, KEY_MIGRATIONS, version_table="alembic_version_keys")
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=30) as client:
            yield Deployment(client, engine, KeyStore(keys_engine))
    finally:
        await engine.dispose()
        await keys_engine.dispose()
        await drop_database(name)


async def store_sealed_with(deployment: Deployment, keyring: Keyring, body: dict[str, Any]) -> str:
    """A record stored by a deployment whose data keys were `keyring`: its record id."""
    repository = RecordRepository(session_factory(deployment.engine))
    submissions = Submissions(
        repository, load_directory(), keyring, PERSON_KEY_SECRET.encode(), changes=load_changes(), zone=TEST_ZONE
    )
    prepared = submissions.prepare(body, Principal("k0", parse_scope("admin")))
    assert isinstance(prepared, Prepared)
    (outcome,) = await submissions.store([prepared])
    return outcome.record_id


@pytest.mark.parametrize(
    ("sealed_with", "key_id", "why"),
    [
        (f"old1:{OTHER_KEY},test1:{DATA_KEY}", "old1", "does not hold"),  # a key since dropped from the keyring
        (f"test1:{OTHER_KEY}", "test1", "another key under that id"),  # the same id, another key
    ],
)
async def test_a_record_the_data_keys_do_not_open_is_a_503_naming_the_key_id(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], sealed_with: str, key_id: str, why: str
) -> None:
    """Such a read answered 500 ("Something went wrong on our side"): nothing told the operator that the
    deployment's POPFLOW_DATA_KEYS lacked a key. Now every read route that meets it says so, naming the key id
    and the record id, and nothing of the record; and no read of it is audited, as nothing was shown."""
    configure_logging(service="intake", fmt="json")
    body = record(sequence=70, name="严九")
    record_id = await store_sealed_with(deployment, parse_keyring(sealed_with, key_id), body)
    admin, id_number = await deployment.key("admin"), body["person"]["id_number"]
    answers = [
        await deployment.client.get(f"/v1/records/{record_id}", headers=admin),
        await deployment.client.post("/v1/records/search", json={"id_number": id_number}, headers=admin),
        await deployment.client.get("/v1/records", headers=admin),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert (problem["key_id"], problem["record_id"]) == (key_id, record_id)
        assert why in problem["detail"]
        assert f"data key id {key_id!r}" in problem["detail"]
        assert "POPFLOW_DATA_KEYS" in problem["detail"]
        assert "data keys are at fault" in problem["detail"]
        assert [value for value in (id_number, "严九") if value in answer.text] == []
    audit = await deployment.client.get("/v1/audit", headers=admin)
    assert record_id not in audit.text, "a read that showed nothing is audited as showing the record"

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["event"] == "stored record does not open with the deployment's data keys"]
    assert len(errors) == len(answers)
    assert all((line["data_key_id"], line["record_id"]) == (key_id, record_id) for line in errors)
    access = [line for line in lines if line["event"] == "request" and line["status"] == 503]
    assert [line["data_key_id"] for line in access] == [key_id] * len(answers)
    assert [value for value in (id_number, "严九") if value in str(lines)] == []


async def test_a_record_that_opens_is_read_as_before(deployment: Deployment) -> None:
    body = record(sequence=71, reporting_street=TONGDE)
    record_id = await store_sealed_with(deployment, TEST_KEYRING, body)
    answer = await deployment.client.get(f"/v1/records/{record_id}", headers=await deployment.key("admin"))
    assert answer.status_code == 200, answer.text
    shown = answer.json()["record"]["person"]
    assert (shown["id_number"], shown["name"]) == (body["person"]["id_number"], body["person"]["name"])


RETIRED, SUCCESSOR, NEIGHBOUR = "440113118", "440113017", "440113016"  # 沙湾镇 became 沙湾街道; a street beside it
MERGED, MERGED_INTO = "320611001", "320613016"  # a street of 港闸区 (320611), now of the new 崇川区 (320613)
# scope -> whether it reads a record reported under RETIRED, and one reported under MERGED
READERS = {
    f"street:{SUCCESSOR}": (True, False),  # the street that submits for RETIRED now
    f"street:{RETIRED}": (True, False),  # the street as reported, as before
    "district:440113": (True, False),
    f"street:{NEIGHBOUR}": (False, False),  # another street of the same district
    f"street:{MERGED_INTO}": (False, True),
    "district:320613": (False, True),  # the successor's district, of which MERGED's code says nothing
    "district:320611": (False, True),
    f"street:{TONGDE}": (False, False),
    "district:440111": (False, False),
}


async def test_a_successor_streets_key_reads_the_records_it_may_submit(deployment: Deployment) -> None:
    """A record reported under a retired street could be submitted with its successor's key, but then only
    read under the retired street's scope. Every read now takes the successor's scope as submitting does:
    the record, the search and the listing; a street that did not succeed it still reads nothing of it."""
    client = deployment.client
    ids, id_numbers = {}, {}
    for street, successor, sequence in ((RETIRED, SUCCESSOR, 73), (MERGED, MERGED_INTO, 74)):
        body = record(sequence=sequence, reporting_street=street, residence_street=successor)
        posted = await client.post("/v1/records", json=body, headers=await deployment.key(f"street:{successor}"))
        assert posted.status_code == 202, posted.text
        ids[street], id_numbers[street] = posted.json()["record_id"], body["person"]["id_number"]

    seen: dict[str, tuple[bool, bool]] = {}
    for scope in READERS:
        reader = await deployment.key(scope)
        listed = {r["record_id"] for r in (await client.get("/v1/records", headers=reader)).json()["records"]}
        reads = []
        for street in (RETIRED, MERGED):
            one = await client.get(f"/v1/records/{ids[street]}", headers=reader)
            search = await client.post("/v1/records/search", json={"id_number": id_numbers[street]}, headers=reader)
            found = [r["record_id"] for r in search.json()["records"]]
            ways = {one.status_code == 200, found == [ids[street]], ids[street] in listed}
            assert len(ways) == 1, f"{scope} reads {street}'s record one way and not another"
            reads.append(ways.pop())
        seen[scope] = (reads[0], reads[1])
    assert seen == READERS


async def test_a_case_shows_only_the_versions_its_reader_may_read(deployment: Deployment) -> None:
    """A person reported under the retired street, then under the street beside its successor: each office
    sees its own version of the case and not the other's."""
    client = deployment.client
    successor, neighbour = await deployment.key(f"street:{SUCCESSOR}"), await deployment.key(f"street:{NEIGHBOUR}")
    first = record(sequence=75, reporting_street=RETIRED, residence_street=SUCCESSOR)
    later = record(sequence=75, reporting_street=NEIGHBOUR, residence_street=SUCCESSOR, event="verification")
    ids = []
    for body, key in ((first, successor), (later, neighbour)):
        posted = await client.post("/v1/records", json=body, headers=key)
        assert posted.status_code == 202, posted.text
        ids.append(posted.json()["record_id"])
    for record_id, key in zip(ids, (successor, neighbour), strict=True):
        shown = (await client.get(f"/v1/records/{record_id}", headers=key)).json()
        assert [v["record_id"] for v in shown["versions"]] == [record_id]
    assert (await client.get(f"/v1/records/{ids[0]}", headers=neighbour)).status_code == 404


async def _purposes(deployment: Deployment) -> list[str]:
    """The purposes as read_audit stores them, oldest first."""
    async with deployment.engine.connect() as connection:
        return list((await connection.execute(text("SELECT purpose FROM read_audit ORDER BY id"))).scalars())


async def test_a_purpose_written_in_chinese_is_audited_as_written(deployment: Deployment) -> None:
    """X-Purpose reaches the app as Latin-1 (as ASGI decodes every header), so "入户核查" (UTF-8, as a client
    sends it) was stored as "å\\x85¥æ\\x88·..." with its unprintable bytes dropped: a purpose no officer could
    read. Half of a UTF-8 character is not a 500 either."""
    client, admin = deployment.client, await deployment.key("admin")
    record_id = await store_sealed_with(deployment, TEST_KEYRING, record(sequence=76))
    for purpose in ("入户核查 week 9".encode(), b"\xe5\x85"):
        headers = [(name.encode(), value.encode()) for name, value in admin.items()] + [(b"X-Purpose", purpose)]
        answer = await client.get(f"/v1/records/{record_id}", headers=headers)
        assert answer.status_code == 200, answer.text
    assert await _purposes(deployment) == ["入户核查 week 9", "\ufffd"]
    shown = (await client.get("/v1/audit", headers=admin)).json()["entries"]
    assert [entry["purpose"] for entry in shown] == ["\ufffd", "入户核查 week 9"]


async def test_an_identity_number_in_the_purpose_is_not_kept(deployment: Deployment) -> None:
    """The purpose is free text from the caller, and a clerk writes whom a read is for: "核查 430102...".
    read_audit stored it as sent, an identity number in clear where no personal data is meant to be
    (docs/security.md), and GET /v1/audit showed it. It is masked before it is stored, as in the logs."""
    client, admin = deployment.client, await deployment.key("admin")
    body = record(sequence=77)
    record_id = await store_sealed_with(deployment, TEST_KEYRING, body)
    id_number = body["person"]["id_number"]
    split = f"{id_number[:9]}\t{id_number[9:]}"  # a tab, dropped as unprintable, joined it again
    purpose = f"check {id_number} and {split}"
    for answer in (
        await client.get(f"/v1/records/{record_id}", headers={**admin, "X-Purpose": purpose}),
        await client.post("/v1/records/search", json={"id_number": id_number}, headers={**admin, "X-Purpose": purpose}),
        await client.get("/v1/records", headers={**admin, "X-Purpose": purpose}),
    ):
        assert answer.status_code == 200, answer.text
    assert await _purposes(deployment) == ["check [id-redacted] and [id-redacted]"] * 3
    assert id_number[:17] not in (await client.get("/v1/audit", headers=admin)).text


async def test_a_refused_read_leaves_an_audit_row(deployment: Deployment) -> None:
    """A street key asking for another street's record, by its id or with a notice it was not sent, was
    answered 404 and left no trace, while a search that found nothing is audited: an office walking
    through record ids it had seen (in notices, in routing's cases) went unseen by the privacy officer. Each
    refused read is now a `refused` row, naming the record it asked for when there is one; nothing was shown."""
    client, admin = deployment.client, await deployment.key("admin")
    xinshi = await deployment.key(f"street:{XINSHI}")
    record_id = await store_sealed_with(deployment, TEST_KEYRING, record(sequence=78, reporting_street=TONGDE))
    missing = "01a24000-0000-7000-8000-000000000000"
    for path, params in (
        (record_id, {}),
        (record_id, {"notice": missing}),
        (missing, {}),
        ("x" * 3000, {}),  # no record's id: refused, and not stored as it came
        (missing, {"notice": "\x00n1"}),  # a NUL no audit row can hold
        (record_id, {"notice": "\x00n2"}),  # nor the look-up of a notice: answered 422, and not audited
    ):
        answer = await client.get(f"/v1/records/{path}", params=params, headers={**xinshi, "X-Purpose": "look"})
        assert answer.status_code == 404, answer.text
    entries = (await client.get("/v1/audit", headers=admin)).json()["entries"]
    xinshi_id = xinshi["Authorization"].split("_")[1]
    assert [(e["key_id"], e["action"], e["record_ids"], e["purpose"]) for e in reversed(entries)] == [
        (xinshi_id, "refused", [record_id], "look"),
        (xinshi_id, "refused", [record_id], f"notice {missing}: look"),
        (xinshi_id, "refused", [], "look"),
        (xinshi_id, "refused", [], "look"),
        (xinshi_id, "refused", [], "notice n1: look"),
        (xinshi_id, "refused", [record_id], "notice n2: look"),
    ]

"""Intake end to end: keys and scopes, validation answers, idempotency, cases, the read audit, sealed data."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.records import BAIYUN, TONGDE, WUSHAN, XINSHI, full_record, record
from tests.support.system import System
from tests.support.topics import read_topic
from tests.support.waiting import eventually

Keys = dict[str, str]


@pytest.fixture(scope="module")
async def keys(intake: System) -> Keys:
    scopes = {
        "admin": "admin",
        "tongde": f"street:{TONGDE}",
        "xinshi": f"street:{XINSHI}",
        "baiyun": f"district:{BAIYUN}",
        "tianhe": f"district:{WUSHAN[:6]}",
    }
    return {name: await intake.create_key(scope, label=name) for name, scope in scopes.items()}


def client(intake: System, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=intake.url("intake"), headers=headers, timeout=30)


async def published(intake: System) -> list[dict[str, Any]]:
    topic = intake.env["POPFLOW_TOPIC_PREFIX"] + "records.submitted"
    return [envelope for _, _, envelope in await read_topic(intake.env["KAFKA_BOOTSTRAP_SERVERS"], topic, 3)]


async def drained_and_published(intake: System) -> list[dict[str, Any]]:
    """Once the outbox is drained: every RecordSubmitted on its topic, checked to be one per outbox row."""
    url = make_url(intake.env["INTAKE_DATABASE_URL"]).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:

        async def drained() -> int:
            unsent, total = await connection.fetchrow(
                # rejections go through the outbox too, to records.rejected
                "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FROM outbox WHERE topic = 'records.submitted'"
            )
            return int(total) if unsent == 0 else 0

        rows = await eventually(drained)
    finally:
        await connection.close()
    events = await published(intake)
    assert len(events) == rows
    assert len({e["event_id"] for e in events}) == rows
    return events


async def test_health_needs_no_key_and_everything_else_does(intake: System, keys: Keys) -> None:
    async with client(intake, None) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        for method, path in [("POST", "/v1/records"), ("GET", "/v1/records/x"), ("GET", "/v1/audit")]:
            response = await anonymous.request(method, path, json=record())
            assert response.status_code == 401, path
            assert response.headers["content-type"].startswith("application/problem+json")
    async with client(intake, keys["admin"][:-2] + "xx") as forged:
        assert (await forged.post("/v1/records", json=record())).status_code == 401


async def test_scopes_for_submitting_and_reading(intake: System, keys: Keys) -> None:
    ours = record(sequence=101)
    async with client(intake, keys["tongde"]) as tongde, client(intake, keys["xinshi"]) as xinshi:
        accepted = await tongde.post("/v1/records", json=ours)
        assert accepted.status_code == 202
        record_id = accepted.json()["record_id"]
        assert (await xinshi.post("/v1/records", json=record(sequence=102))).status_code == 403
        assert (await xinshi.get(f"/v1/records/{record_id}")).status_code == 404  # no existence oracle
        assert (await tongde.get(f"/v1/records/{record_id}")).status_code == 200
        assert (await tongde.get("/v1/audit")).status_code == 403
    async with client(intake, keys["baiyun"]) as baiyun, client(intake, keys["tianhe"]) as tianhe:
        assert (await baiyun.post("/v1/records", json=record(sequence=103, reporting_street=XINSHI))).status_code == 202
        assert (await baiyun.get(f"/v1/records/{record_id}")).status_code == 200
        assert (await tianhe.get(f"/v1/records/{record_id}")).status_code == 404
        assert (await tianhe.post("/v1/records", json=record(sequence=104))).status_code == 403


async def test_scope_and_codes_are_checked_on_the_trimmed_record(intake: System, keys: Keys) -> None:
    async with client(intake, keys["tongde"]) as tongde:
        other_street = await tongde.post("/v1/records", json=record(sequence=105, reporting_street=f" {XINSHI}"))
        assert other_street.status_code == 403
        unknown = await tongde.post("/v1/records", json=record(sequence=106, residence_street=" 999999999"))
        assert unknown.status_code == 422
        assert [e["pointer"] for e in unknown.json()["errors"]] == ["/residence/street"]
        own = await tongde.post("/v1/records", json=record(sequence=107, reporting_street=f" {TONGDE} "))
        assert own.status_code == 202
        shown = (await tongde.get(f"/v1/records/{own.json()['record_id']}")).json()
    assert shown["record"]["reporting_street"] == TONGDE


async def test_identity_numbers_in_other_digits_are_a_422_not_a_500(intake: System, keys: Keys) -> None:
    body = record(sequence=8)  # check character X: the Arabic-Indic digits alone are the fault
    body["person"]["id_number"] = body["person"]["id_number"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    async with client(intake, keys["admin"]) as admin:
        response = await admin.post("/v1/records", json=body)
        search = await admin.post("/v1/records/search", json={"id_number": body["person"]["id_number"]})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/person/id_number"]
    assert search.status_code == 422


async def test_a_record_shows_only_the_versions_the_reader_may_see(intake: System, keys: Keys) -> None:
    async with client(intake, keys["tongde"]) as tongde, client(intake, keys["xinshi"]) as xinshi:
        first = (await tongde.post("/v1/records", json=record(sequence=109))).json()
        moved = record(sequence=109, event="change", reporting_street=XINSHI, residence_street=XINSHI)
        second = (await xinshi.post("/v1/records", json=moved)).json()
        seen_by_xinshi = (await xinshi.get(f"/v1/records/{second['record_id']}")).json()
    assert second["case_id"] == first["case_id"]
    assert [v["record_id"] for v in seen_by_xinshi["versions"]] == [second["record_id"]]


async def test_every_bad_field_in_one_problem_without_personal_data(intake: System, keys: Keys) -> None:
    body = full_record()
    body["person"]["sex"] = "male"  # the number says female
    body["employer"]["credit_code"] = body["employer"]["credit_code"][:17] + "0"
    body["certificate"]["valid_until"] = "2026-02-01"  # before checked_on, but result "valid"
    body["residence"]["arrived_on"] = "2026-03-01"  # after observed_at
    body["source_kind"] = "school"  # key_area is for canvass only
    body["favourite_colour"] = "blue"
    async with client(intake, keys["admin"]) as admin:
        response = await admin.post("/v1/records", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "The record is not valid"
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert pointers == {
        "/person/sex",
        "/employer/credit_code",
        "/certificate/result",
        "/residence/arrived_on",
        "/key_area",
        "/favourite_colour",
    }
    assert body["person"]["id_number"] not in response.text
    assert body["person"]["name"] not in response.text


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"event": ', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"[" * 100_000, "application/json", 400),
        (b"event=new_inflow", "application/x-www-form-urlencoded", 415),
        (b"{}", "", 415),
        (b'{"x": "' + b"a" * 1_000_001 + b'"}', "application/json", 413),
        (b"[]", "application/json", 422),
        (b'{"remarks": ' + b"1" * 5000 + b"}", "application/json", 400),  # more digits than Python reads
    ],
)
async def test_bad_bodies_never_500(intake: System, keys: Keys, content: bytes, content_type: str, status: int) -> None:
    async with client(intake, keys["admin"]) as admin:
        response = await admin.post("/v1/records", content=content, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_half_of_a_utf16_pair_is_a_422_not_a_500(intake: System, keys: Keys) -> None:
    """JSON may escape half of a UTF-16 pair ("\\ud800"): no text to store, and the clerk is told where."""
    in_value = record(sequence=151)
    in_value["person"]["name"] = "张\ud800"
    in_key = record(sequence=152) | {"\udc00": "x"}
    headers = {"content-type": "application/json"}
    async with client(intake, keys["admin"]) as admin:
        # json.dumps escapes every non-ASCII character: the body is ASCII, the surrogates written as \udXXX
        value = await admin.post("/v1/records", content=json.dumps(in_value).encode(), headers=headers)
        key = await admin.post("/v1/records", content=json.dumps(in_key).encode(), headers=headers)
    assert value.status_code == 422, value.text
    assert [e["pointer"] for e in value.json()["errors"]] == ["/person/name"]
    assert key.status_code == 422, key.text
    assert key.headers["content-type"].startswith("application/problem+json")
    assert in_value["person"]["id_number"] not in value.text


async def test_retries_return_the_first_answer_and_publish_once(intake: System, keys: Keys) -> None:
    by_key = record(sequence=111)
    by_source = full_record() | {"external_id": f"app-{uuid.uuid4().hex[:8]}"}
    by_source["person"] = record(sequence=113)["person"]
    async with client(intake, keys["admin"]) as admin:
        headers = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
        first = await admin.post("/v1/records", json=by_key, headers=headers)
        again = await asyncio.gather(*[admin.post("/v1/records", json=by_key, headers=headers) for _ in range(3)])
        assert first.status_code == 202
        assert [r.json() for r in again] == [first.json()] * 3
        assert all(r.headers["idempotent-replayed"] == "true" for r in again)
        other_body = await admin.post("/v1/records", json=record(sequence=112), headers=headers)
        assert other_body.status_code == 422
        source_first = await admin.post("/v1/records", json=by_source)
        source_again = await admin.post("/v1/records", json=by_source)
        assert source_again.json() == source_first.json()
    ids = {first.json()["record_id"], source_first.json()["record_id"]}
    events = await drained_and_published(intake)
    assert sorted(e["correlation_id"] for e in events if e["correlation_id"] in ids) == sorted(ids)


async def test_same_person_again_is_a_new_version_of_one_case(intake: System, keys: Keys) -> None:
    async with client(intake, keys["admin"]) as admin:
        first = (await admin.post("/v1/records", json=record(sequence=121))).json()
        change = record(sequence=121, event="change", residence_street=XINSHI)
        second = (await admin.post("/v1/records", json=change)).json()
        other = (await admin.post("/v1/records", json=record(sequence=123))).json()
        shown = (await admin.get(f"/v1/records/{second['record_id']}")).json()
    assert second["case_id"] == first["case_id"] != other["case_id"]
    assert (first["case_version"], second["case_version"], other["case_version"]) == (1, 2, 1)
    assert [v["record_id"] for v in shown["versions"]] == [first["record_id"], second["record_id"]]
    assert [v["event"] for v in shown["versions"]] == ["new_inflow", "change"]
    assert shown["record"]["person"]["id_number"] == change["person"]["id_number"]

    async def versions_published() -> list[Any]:
        events = [e for e in await published(intake) if e["payload"]["case_id"] == first["case_id"]]
        return events if len(events) == 2 else []

    events = await eventually(versions_published)
    assert [e["payload"]["case_version"] for e in events] == [1, 2]


async def test_a_key_that_may_only_submit_is_not_told_whether_the_person_was_reported_before(
    intake: System, keys: Keys
) -> None:
    """The case's id and version say whether anyone reported the person before, and how often: a key
    that may read nothing is told its record's id and no more, for a POST and for a bulk import's rows."""
    submitter = await intake.create_key(f"district:{BAIYUN}", label="field app", role="submitter")
    async with client(intake, keys["admin"]) as admin:
        earlier = await admin.post("/v1/records", json=record(sequence=161))
    assert earlier.json()["case_version"] == 1
    again = record(sequence=161, event="verification")
    bulk = json.dumps([record(sequence=161, event="verification", observed_at="2026-02-26T10:30:00+08:00")]).encode()
    async with client(intake, submitter) as field_app, client(intake, keys["tongde"]) as office:
        posted = await field_app.post("/v1/records", json=again)
        imported = await field_app.post("/v1/records/bulk", content=bulk, headers={"Content-Type": "application/json"})
        by_office = await office.post("/v1/records", json=record(sequence=161, event="change"))
    assert posted.status_code == 202, posted.text
    assert posted.json() == {"record_id": posted.json()["record_id"], "status": "accepted"}
    assert imported.status_code == 200, imported.text
    (row,) = imported.json()["results"]
    assert row == {"row": 1, "record_id": row["record_id"], "status": "accepted"}
    # an office, which may read its street's records, is told the case as before
    assert by_office.status_code == 202, by_office.text
    assert by_office.json()["case_id"] == earlier.json()["case_id"]
    assert by_office.json()["case_version"] == 4


async def test_every_read_is_audited_with_its_purpose(intake: System, keys: Keys) -> None:
    body = record(sequence=131)
    async with client(intake, keys["tongde"]) as tongde, client(intake, keys["admin"]) as admin:
        record_id = (await tongde.post("/v1/records", json=body)).json()["record_id"]
        await tongde.get(f"/v1/records/{record_id}", headers={"X-Purpose": "home visit"})
        found = await tongde.post("/v1/records/search", json={"id_number": body["person"]["id_number"]})
        assert [r["record_id"] for r in found.json()["records"]] == [record_id]
        listed = await tongde.get("/v1/records", params={"limit": 100}, headers={"X-Purpose": "weekly check"})
        assert record_id in [r["record_id"] for r in listed.json()["records"]]
        assert all(r["record"]["reporting_street"] == TONGDE for r in listed.json()["records"])
        audit = (await admin.get("/v1/audit", params={"limit": 500})).json()["entries"]
    tongde_key_id = keys["tongde"].split("_")[1]
    mine = [e for e in audit if e["key_id"] == tongde_key_id and record_id in e["record_ids"]]
    assert {(e["action"], e["purpose"]) for e in mine} == {
        ("read", "home visit"),
        ("search", ""),
        ("list", "weekly check"),
    }
    async with client(intake, keys["baiyun"]) as baiyun:
        assert (await baiyun.get("/v1/audit")).status_code == 403  # the audit is the admin's, not the bureau's


async def test_personal_data_is_sealed_at_rest_and_absent_from_logs(intake: System, keys: Keys) -> None:
    body = record(sequence=141, name="赵六")
    async with client(intake, keys["admin"]) as admin:
        accepted = await admin.post("/v1/records", json=body)
        assert accepted.status_code == 202
        rejected = body | {"reporting_street": "440111999"}
        assert (await admin.post("/v1/records", json=rejected)).status_code == 422
    url = make_url(intake.env["INTAKE_DATABASE_URL"]).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        dump = " ".join(
            [
                str(await connection.fetch("SELECT * FROM records")),
                str(await connection.fetch("SELECT * FROM outbox")),
                str(await connection.fetch("SELECT * FROM read_audit")),
            ]
        )
    finally:
        await connection.close()
    assert accepted.json()["record_id"] in dump
    assert body["person"]["id_number"] not in dump
    assert "赵六" not in dump
    logs = intake.log_text("intake")
    assert body["person"]["id_number"] not in logs
    assert "赵六" not in logs
    # one line per POST: the access line says what became of the record
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    said = [line for line in lines if line.get("correlation_id") == accepted.json()["record_id"]]
    assert [(line["event"], line["outcome"], line["case_version"], line["status"]) for line in said] == [
        ("request", "accepted", 1, 202)
    ]


async def test_record_schema_is_served(intake: System, keys: Keys) -> None:
    async with client(intake, keys["tongde"]) as tongde:
        schema = (await tongde.get("/v1/schema/record")).json()
        document = (await tongde.get("/openapi.json")).json()
    assert {"person", "certificate", "employer", "source_kind", "key_area"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert "CaseRecord" in document["components"]["schemas"]

"""Routing's exchange workflow end to end: routing and notification as processes,
real Kafka and PostgreSQL, records published straight to records.submitted.

Answers are given where streets give them, at notification's feedback route,
with the key of the notice's recipient; routing acts on the NoticeAnswered
event. (Notification's door itself, its 4xx answers included, is tested in
test_notification.py.)"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.routing.domain.notices import notice_id
from services.routing.entrypoints.kafka import ANSWERS_GROUP, RECORDS_GROUP, REVIEWS_GROUP
from shared.events import (
    Envelope,
    FeedbackResult,
    NoticeAnswered,
    NoticeKind,
    Resolution,
    ReviewResolved,
    new_envelope,
)
from shared.kafka.failures import open_dead_letter
from shared.topics import DEAD_LETTER, NOTICES_ANSWERED, NOTICES_ISSUED, RECORDS_SUBMITTED, REVIEWS_RESOLVED
from tests.support import kafka
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name
from tests.support.records import FURONG, LUJIAZUI, TONGDE, WUSHAN, XINSHI, record
from tests.support.routing import case_of, fetch, notice_of, sent
from tests.support.system import ROOT, System, build_system, destroy_system
from tests.support.waiting import eventually

CITY, NATIONAL = "guangzhou-city-exchange", "national-exchange"
PARKED_FOR = 15  # seconds an answer waits for its notice before it is set aside


@pytest.fixture(scope="module")
async def routing(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Routing (reminder job off: the integration tier drives it; an answer waits at most PARKED_FOR for
    its notice) and notification."""
    settings = {
        "ROUTING_REMINDER_INTERVAL_S": "0",
        "ROUTING_PARKED_ANSWER_INTERVAL_S": "0.5",
        "ROUTING_PARKED_ANSWER_MAX_AGE_S": str(PARKED_FOR),
    }
    system = await build_system(Path(tmp_path_factory.mktemp("logs")), settings)
    try:
        for service in ("routing", "notification"):
            system.start(service, wait=False)
        for service in ("routing", "notification"):
            system.wait_ready(service)
        yield system
    finally:
        await destroy_system(system)


def topic(system: System, name: str) -> str:
    return system.env["POPFLOW_TOPIC_PREFIX"] + name


async def submit(system: System, *bodies: dict[str, Any]) -> list[str]:
    envelopes = [kafka.submitted(body) for body in bodies]
    await kafka.publish(system.env["KAFKA_BOOTSTRAP_SERVERS"], topic(system, RECORDS_SUBMITTED), envelopes)
    return [e.correlation_id for e in envelopes]


async def routed_case(client: httpx.AsyncClient, system: System, record_id: str, **expected: Any) -> dict[str, Any]:
    """The case once it has the expected top-level values (status, version, ...)."""
    headers = await system.admin_headers()

    async def probe() -> dict[str, Any] | None:
        case = await case_of(client, system.url("routing"), record_id, headers)
        return case if case and all(case[k] == v for k, v in expected.items()) else None

    result: dict[str, Any] = await eventually(probe)
    return result


_KEYS: dict[tuple[str, str], str] = {}


async def key_of(system: System, code: str) -> dict[str, str]:
    """Authorization headers of the office (9 digits) or bureau (6 digits) of `code`, minted once."""
    if (system.run_id, code) not in _KEYS:
        scope = f"street:{code}" if len(code) == 9 else f"district:{code}"
        _KEYS[system.run_id, code] = await system.create_key(scope)
    return {"Authorization": f"Bearer {_KEYS[system.run_id, code]}"}


async def feedback(
    client: httpx.AsyncClient, system: System, case: dict[str, Any], kind: str, body: dict[str, Any]
) -> httpx.Response:
    """Answer the case's notice of `kind` at notification, as its recipient, once the notice is there."""
    (notice,) = [n for n in case["notices"] if n["kind"] == kind]
    headers = await key_of(system, notice["recipient_code"])
    url = system.url("notification") + f"/v1/notices/{notice['notice_id']}"

    async def stored() -> bool:
        return (await client.get(url, headers=headers)).status_code == 200

    await eventually(stored)
    return await client.post(url + "/feedback", json=body, headers=headers)


async def inbox_ids(client: httpx.AsyncClient, system: System, recipient: str) -> set[str]:
    response = await client.get(
        system.url("notification") + f"/v1/inbox/{recipient}",
        params={"limit": 500},
        headers=await system.admin_headers(),
    )
    assert response.status_code == 200, response.text
    return {n["notice_id"] for n in response.json()["notices"]}


async def listed(client: httpx.AsyncClient, system: System, recipient: str, notice_id: str) -> bool:
    """Whether the notice is in the recipient's inbox: notification stores it a moment after routing
    commits the case, and an inbox that already holds other notices must not pass for it."""
    return notice_id in await inbox_ids(client, system, recipient)


ROUTES = [
    # why, reporting, residence, route, notices (kind, recipient, exchange endpoint)
    ("same street", TONGDE, TONGDE, "same-district", set()),
    ("two streets of 440111", TONGDE, XINSHI, "cross-street", {("transfer", XINSHI, None)}),
    (
        "440111 to 440106, same city",
        TONGDE,
        WUSHAN,
        "inter-district",
        {("transfer", "440111", None), ("forward", "440106", CITY)},
    ),
    (
        "440111 to 310115, other province",
        TONGDE,
        LUJIAZUI,
        "inter-district",
        {("transfer", "440111", None), ("forward", "310115", NATIONAL)},
    ),
]


async def test_routes_over_real_codes_and_a_code_outside_the_directory(routing: System) -> None:
    bodies = [
        record(reporting_street=r, residence_street=s, sequence=31 + i) for i, (_, r, s, _, _) in enumerate(ROUTES)
    ]
    ids = await submit(routing, *bodies)
    unknown = kafka.unchecked_submitted(record(residence_street="440111999", sequence=39))
    await kafka.publish(routing.env["KAFKA_BOOTSTRAP_SERVERS"], topic(routing, RECORDS_SUBMITTED), [unknown])
    async with httpx.AsyncClient(timeout=10) as client:
        for record_id, (why, _, _, route, notices) in zip(ids, ROUTES, strict=True):
            case = await routed_case(client, routing, record_id)
            assert (case["route"], sent(case)) == (route, notices), why

        async def in_review() -> list[dict[str, Any]]:
            review = await client.get(routing.url("routing") + "/v1/review", headers=await key_of(routing, "440111"))
            items = review.json()["items"]
            return [item for item in items if item["record_id"] == unknown.correlation_id]

        (item,) = await eventually(in_review)
        assert item["field"] == "residence.street"
        admin = await routing.admin_headers()
        assert await case_of(client, routing.url("routing"), unknown.correlation_id, admin) is None
        cross = await routed_case(client, routing, ids[1])
        assert await eventually(functools.partial(listed, client, routing, XINSHI, notice_of(cross, "transfer")))


async def test_inter_district_round_trip_ends_with_the_registration_notice(routing: System) -> None:
    (record_id,) = await submit(routing, record(residence_street=WUSHAN, sequence=41))
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, record_id, status="open")
        response = await feedback(client, routing, case, "forward", {"result": "confirmed", "note": "seen at home"})
        assert response.status_code == 202, response.text

        case = await routed_case(client, routing, record_id, status="confirmed")
        assert sent(case) - sent(case, version=1) == set()
        assert {("feedback", "440111", None), ("registration", FURONG, NATIONAL)} <= sent(case)
        registration = notice_of(case, "registration")
        assert await eventually(functools.partial(listed, client, routing, FURONG, registration))

        again = await feedback(client, routing, case, "forward", {"result": "confirmed"})
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")


async def test_a_corrected_residence_street_is_routed_again_as_version_2(routing: System) -> None:
    (record_id,) = await submit(routing, record(residence_street=XINSHI, sequence=51))
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, record_id, status="open")
        corrections = {"residence_street": WUSHAN, "residence_address": "五山路 1 号"}
        response = await feedback(
            client, routing, case, "transfer", {"result": "corrected", "corrections": corrections}
        )
        assert response.status_code == 202, response.text

        case = await routed_case(client, routing, record_id, version=2)
        assert (case["route"], case["residence_street"], case["status"]) == ("inter-district", WUSHAN, "open")
        assert sent(case, version=2) == {("transfer", "440111", None), ("forward", "440106", CITY)}
        decision = (
            await client.get(
                routing.url("routing") + f"/v1/decisions/{record_id}", headers=await key_of(routing, TONGDE)
            )
        ).json()
        assert (decision["route"], decision["residence_street"]) == ("inter-district", WUSHAN)


async def test_not_found_asks_the_reporting_street_to_recheck(routing: System) -> None:
    (record_id,) = await submit(routing, record(residence_street=XINSHI, sequence=61))
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, record_id, status="open")
        response = await feedback(client, routing, case, "transfer", {"result": "not_found"})
        assert response.status_code == 202, response.text
        case = await routed_case(client, routing, record_id, status="not_found")
        assert ("recheck", TONGDE, None) in sent(case)
        assert await eventually(functools.partial(listed, client, routing, TONGDE, notice_of(case, "recheck")))


async def test_rejected_tells_the_sender_with_the_reason(routing: System) -> None:
    (record_id,) = await submit(routing, record(residence_street=XINSHI, sequence=71))
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, record_id, status="open")
        body = {"result": "rejected", "reason": "duplicate"}
        assert (await feedback(client, routing, case, "transfer", body)).status_code == 202
        case = await routed_case(client, routing, record_id, status="rejected")
        (rejection,) = [n for n in case["notices"] if n["kind"] == "rejection"]
        assert (rejection["recipient_code"], "duplicate" in rejection["reason"]) == (TONGDE, True)


def answered(notice_id: str, record_id: str, result: str, by: str) -> Envelope:
    """A NoticeAnswered as the notification service publishes it."""
    event = NoticeAnswered(
        notice_id=notice_id,
        record_id=record_id,
        result=FeedbackResult(result),
        answered_by=by,
        answered_at=datetime.now(UTC),
    )
    return new_envelope(event, producer="notification", correlation_id=record_id, keyring=TEST_KEYRING)


async def test_answers_from_kafka_take_the_same_path_and_bad_ones_are_dead_lettered(routing: System) -> None:
    """The stray answer's notice never comes: it waits PARKED_FOR seconds, then it is set aside as it came."""
    (record_id,) = await submit(routing, record(residence_street=XINSHI, sequence=91))
    bootstrap = routing.env["KAFKA_BOOTSTRAP_SERVERS"]
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, record_id, status="open")
        stray = answered(str(uuid.uuid4()), record_id, "confirmed", XINSHI)
        good = answered(notice_of(case, "transfer"), record_id, "confirmed", XINSHI)
        await kafka.publish(bootstrap, topic(routing, NOTICES_ANSWERED), [stray, good])
        await routed_case(client, routing, record_id, status="confirmed")

    letters = await eventually(lambda: _dead_letters_for(bootstrap, routing, str(stray.event_id)))
    assert letters[0]["error_type"] == "PermanentFailure"
    assert "no notice" in letters[0]["error"]
    assert letters[0]["source_topic"] == topic(routing, NOTICES_ANSWERED)
    assert letters[0]["source_offset"].isdigit()  # where it came from, as the subscriber saw it
    assert letters[0]["consumer_group"] == topic(routing, ANSWERS_GROUP)


async def test_an_answer_given_before_routing_stores_its_notice_is_applied_once_it_does(routing: System) -> None:
    """A notice reaches the topic before routing's batch commits its row (service_layer/parked.py): an
    answer given in between waits in routing's store and is applied once the notice is written."""
    bootstrap = routing.env["KAFKA_BOOTSTRAP_SERVERS"]
    submitted = kafka.submitted(record(residence_street=XINSHI, sequence=93))
    record_id = submitted.correlation_id
    transfer = notice_id(record_id=record_id, case_version=1, recipient_code=XINSHI, kind=NoticeKind.TRANSFER)
    early = answered(transfer, record_id, "confirmed", XINSHI)
    waiting = f"SELECT notice_id FROM parked_answers WHERE event_id = '{early.event_id}'"  # noqa: S608 - a UUID

    await kafka.publish(bootstrap, topic(routing, NOTICES_ANSWERED), [early])
    assert await eventually(lambda: fetch(routing.env["ROUTING_DATABASE_URL"], waiting))
    await kafka.publish(bootstrap, topic(routing, RECORDS_SUBMITTED), [submitted])
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, record_id, status="confirmed")
    assert notice_of(case, "transfer") == transfer
    assert await fetch(routing.env["ROUTING_DATABASE_URL"], waiting) == []
    assert await _dead_letters_for(bootstrap, routing, str(early.event_id)) == []


async def test_undecodable_records_are_dead_lettered_alone_and_the_rest_routed(routing: System) -> None:
    bootstrap = routing.env["KAFKA_BOOTSTRAP_SERVERS"]
    good = kafka.submitted(record(residence_street=XINSHI, sequence=95))
    body = record(residence_street=XINSHI, sequence=96)
    body["person"]["id_number"] = "430102199003070000"  # wrong check digit
    invalid = kafka.unchecked_submitted(body).model_dump(mode="json")
    key = good.correlation_id  # one key: all three land in one partition, in one batch when they can
    messages = [(key, b"not json at all"), (key, json.dumps(invalid).encode()), (key, good.model_dump_json().encode())]
    await kafka.publish_raw(bootstrap, topic(routing, RECORDS_SUBMITTED), messages)
    async with httpx.AsyncClient(timeout=10) as client:
        await routed_case(client, routing, good.correlation_id, status="open")

    async def letters() -> list[dict[str, str]]:
        found = await _dead_letters_for(bootstrap, routing, "")
        return [h for h in found if h["source_topic"] == topic(routing, RECORDS_SUBMITTED)]

    dead = await eventually(lambda: _at_least_two(letters))
    assert {h["error_type"] for h in dead} == {"ValidationError"}
    assert all("430102199003070000" not in h["error"] for h in dead)


async def _at_least_two(probe: Any) -> list[dict[str, str]] | None:
    found: list[dict[str, str]] = await probe()
    return found if len(found) >= 2 else None


async def _dead_letters_for(bootstrap: str, system: System, containing: str) -> list[dict[str, str]]:
    messages = await kafka.read_raw(bootstrap, topic(system, DEAD_LETTER))
    opened = [(open_dead_letter(TEST_KEYRING, body, headers), headers) for body, headers in messages]
    return [headers for body, headers in opened if containing.encode() in body]


async def test_the_same_events_replayed_twice_issue_no_extra_notice(routing: System) -> None:
    bootstrap = routing.env["KAFKA_BOOTSTRAP_SERVERS"]
    records = [kafka.submitted(record(residence_street=s, sequence=101 + i)) for i, s in enumerate([XINSHI, WUSHAN])]
    await kafka.publish(bootstrap, topic(routing, RECORDS_SUBMITTED), records)
    async with httpx.AsyncClient(timeout=10) as client:
        case = await routed_case(client, routing, records[1].correlation_id, status="open")
        answer = answered(notice_of(case, "forward"), case["record_id"], "confirmed", "440106")
        await kafka.publish(bootstrap, topic(routing, NOTICES_ANSWERED), [answer])
        await routed_case(client, routing, case["record_id"], status="confirmed")
    before = await _notices(routing)

    for _ in range(2):
        await kafka.publish(bootstrap, topic(routing, RECORDS_SUBMITTED), records)
        await kafka.publish(bootstrap, topic(routing, NOTICES_ANSWERED), [answer])
    await eventually(lambda: _caught_up(routing))

    assert await _notices(routing) == before
    issued = await kafka.read_all(bootstrap, topic(routing, NOTICES_ISSUED))
    assert {m["payload"]["notice_id"] for m in issued} == {row["notice_id"] for row in before}


async def queued(client: httpx.AsyncClient, system: System, record_id: str, *, resolved: bool = False) -> Any:
    """The record's review item as its bureau sees it (open, or resolved), None while it is not there."""
    response = await client.get(
        system.url("routing") + "/v1/review",
        params={"resolved": str(resolved).lower()},
        headers=await key_of(system, "440111"),
    )
    assert response.status_code == 200, response.text
    return next((item for item in response.json()["items"] if item["record_id"] == record_id), None)


async def resolve(
    client: httpx.AsyncClient, system: System, record_id: str, code: str, body: dict[str, Any]
) -> httpx.Response:
    url = system.url("routing") + f"/v1/review/{record_id}/resolution"
    return await client.post(url, json=body, headers=await key_of(system, code))


async def test_the_bureau_corrects_a_review_items_code_and_the_record_is_routed_again(routing: System) -> None:
    unknown = kafka.unchecked_submitted(record(residence_street="440111999", sequence=61))
    record_id = unknown.correlation_id
    await kafka.publish(routing.env["KAFKA_BOOTSTRAP_SERVERS"], topic(routing, RECORDS_SUBMITTED), [unknown])
    async with httpx.AsyncClient(timeout=10) as client:
        item = await eventually(lambda: queued(client, routing, record_id))
        assert (item["field"], item["age_days"], item["age_hours"]) == ("residence.street", 0, 0)
        assert "record" not in item
        assert "person" not in json.dumps(item)

        corrected = {"resolution": "corrected", "code": XINSHI}
        assert (await resolve(client, routing, record_id, TONGDE, corrected)).status_code == 403  # an office
        assert (await resolve(client, routing, record_id, "310115", corrected)).status_code == 404  # not its district
        wrong = await resolve(client, routing, record_id, "440111", {"resolution": "corrected", "code": "440111999"})
        assert wrong.status_code == 422, wrong.text
        accepted = await resolve(client, routing, record_id, "440111", corrected)
        assert accepted.status_code == 202, accepted.text

        case = await routed_case(client, routing, record_id)
        assert (case["route"], case["residence_street"], sent(case)) == (
            "cross-street",
            XINSHI,
            {("transfer", XINSHI, None)},
        )
        assert await eventually(functools.partial(listed, client, routing, XINSHI, notice_of(case, "transfer")))
        done = await eventually(lambda: queued(client, routing, record_id, resolved=True))
        assert (done["resolution"], done["resolved_code"], done["resolved_by"]) == ("corrected", XINSHI, "440111")
        assert await queued(client, routing, record_id) is None
        again = await resolve(client, routing, record_id, "440111", corrected)
        assert again.status_code == 409, again.text


async def test_a_review_item_dismissed_with_a_reason_leaves_the_queue_unrouted(routing: System) -> None:
    unknown = kafka.unchecked_submitted(record(reporting_street=TONGDE, residence_street="440111998", sequence=63))
    record_id = unknown.correlation_id
    await kafka.publish(routing.env["KAFKA_BOOTSTRAP_SERVERS"], topic(routing, RECORDS_SUBMITTED), [unknown])
    async with httpx.AsyncClient(timeout=10) as client:
        await eventually(lambda: queued(client, routing, record_id))
        no_reason = await resolve(client, routing, record_id, "440111", {"resolution": "dismissed"})
        assert no_reason.status_code == 422
        reason = "a test entry by the field app's vendor"
        response = await resolve(client, routing, record_id, "440111", {"resolution": "dismissed", "reason": reason})
        assert response.status_code == 202, response.text

        done = await eventually(lambda: queued(client, routing, record_id, resolved=True))
        assert (done["resolution"], done["resolution_note"]) == ("dismissed", reason)
        assert await queued(client, routing, record_id) is None
        assert await case_of(client, routing.url("routing"), record_id, await routing.admin_headers()) is None


async def resolved_at_once(
    system: System, record_id: str, *resolutions: tuple[Resolution, str | None, str | None]
) -> None:
    """Resolutions of the item's residence street (resolution, code, reason), published together as the
    route publishes them when two of the bureau's staff both find the item open."""
    events = [
        ReviewResolved(
            record_id=record_id,
            resolution=resolution,
            field="residence.street",
            code=code,
            reason=reason,
            resolved_by="440111",
            resolved_at=datetime.now(UTC),
        )
        for resolution, code, reason in resolutions
    ]
    envelopes = [new_envelope(e, producer="routing", correlation_id=record_id, keyring=TEST_KEYRING) for e in events]
    await kafka.publish(system.env["KAFKA_BOOTSTRAP_SERVERS"], topic(system, REVIEWS_RESOLVED), envelopes)


async def test_two_resolutions_sent_at_once_apply_the_first_and_set_nothing_aside(routing: System) -> None:
    """Two of the bureau's staff resolve one item at once: both requests find it open and both are
    published (as here). The first applied stands; the second is left unapplied, not dead-lettered."""
    bootstrap = routing.env["KAFKA_BOOTSTRAP_SERVERS"]
    unknown = kafka.unchecked_submitted(record(reporting_street=TONGDE, residence_street="440111997", sequence=65))
    record_id = unknown.correlation_id
    await kafka.publish(bootstrap, topic(routing, RECORDS_SUBMITTED), [unknown])
    async with httpx.AsyncClient(timeout=10) as client:
        await eventually(lambda: queued(client, routing, record_id))
        await resolved_at_once(
            routing, record_id, (Resolution.DISMISSED, None, "entered twice"), (Resolution.CORRECTED, XINSHI, None)
        )
        done = await eventually(lambda: queued(client, routing, record_id, resolved=True))
        assert (done["resolution"], done["resolution_note"]) == ("dismissed", "entered twice")
        await eventually(lambda: _caught_up(routing))
        assert await case_of(client, routing.url("routing"), record_id, await routing.admin_headers()) is None
    assert await _dead_letters_for(bootstrap, routing, record_id) == []


async def test_a_resolution_checked_against_an_item_that_changed_since_is_left_unapplied(routing: System) -> None:
    """The first resolution corrects the street, but the registration is unknown too: the item waits on that
    field now. A dismissal checked against the street (sent at the same moment) must not close it."""
    bootstrap = routing.env["KAFKA_BOOTSTRAP_SERVERS"]
    body = record(reporting_street=TONGDE, residence_street="440111996", sequence=67)
    body["registration"]["division"] = "449999"  # no such district
    unknown = kafka.unchecked_submitted(body)
    record_id = unknown.correlation_id
    await kafka.publish(bootstrap, topic(routing, RECORDS_SUBMITTED), [unknown])
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await eventually(lambda: queued(client, routing, record_id)))["field"] == "residence.street"
        await resolved_at_once(
            routing, record_id, (Resolution.CORRECTED, XINSHI, None), (Resolution.DISMISSED, None, "x")
        )
        await eventually(lambda: _caught_up(routing))
        item = await queued(client, routing, record_id)
        assert item is not None, "the dismissal closed an item it was not checked against"
        assert item["field"] == "registration.division"
    assert await _dead_letters_for(bootstrap, routing, record_id) == []


async def test_rebuild_replays_the_topics_into_a_fresh_store_with_the_same_decisions(routing: System) -> None:
    await eventually(lambda: _caught_up(routing))
    name = unique_name("rebuild")
    url = await create_database(name)
    try:
        command = [str(Path(sys.executable).parent / "popflow"), "routing", "rebuild", "--into", url]
        done = await asyncio.to_thread(
            subprocess.run, command, env=routing.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        decisions = "SELECT record_id, route, reporting_street, residence_street, notice_id FROM routed_records"
        cases = "SELECT record_id, version, status, route FROM cases"
        reviews = "SELECT record_id, field, resolution, resolved_code, resolution_note FROM review_queue"
        for sql in (decisions, cases, "SELECT notice_id, kind, recipient_code, result FROM notices", reviews):
            live = await fetch(routing.env["ROUTING_DATABASE_URL"], sql)
            rebuilt = await fetch(url, sql)
            assert sorted(map(tuple, rebuilt)) == sorted(map(tuple, live)), sql
        assert len(await fetch(url, decisions)) >= 10
    finally:
        await drop_database(name)


async def _notices(system: System) -> list[Any]:
    return await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT * FROM notices ORDER BY notice_id")


async def _caught_up(system: System) -> bool:
    bootstrap = system.env["KAFKA_BOOTSTRAP_SERVERS"]
    records = await kafka.caught_up(bootstrap, topic(system, RECORDS_GROUP), [topic(system, RECORDS_SUBMITTED)])
    answers = await kafka.caught_up(bootstrap, topic(system, ANSWERS_GROUP), [topic(system, NOTICES_ANSWERED)])
    reviews = await kafka.caught_up(bootstrap, topic(system, REVIEWS_GROUP), [topic(system, REVIEWS_RESOLVED)])
    return records and answers and reviews

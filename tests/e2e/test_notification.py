"""Notification end to end: intake, routing and notification as processes on real Kafka and PostgreSQL,
webhook receivers on 127.0.0.1.

Backoff is shortened by settings (base 0.2 s, cap 1 s, 8 attempts, 1 s HTTP
timeout); every wait polls for an outcome, none asserts a duration. Each
test uses its own recipient codes, so they share one system.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.events import Envelope, parse_event
from shared.notice_grants import granted_to
from shared.topics import NOTICES_ACKNOWLEDGED, NOTICES_ANSWERED
from tests.support import records
from tests.support.infra import TEST_KEYRING
from tests.support.notification_client import (
    SECRET,
    all_in_state,
    bearer,
    consume_one,
    deliveries,
    publish_notices,
    subscribe,
)
from tests.support.receivers import Receiver
from tests.support.records import TONGDE, XINSHI
from tests.support.system import System, build_system, destroy_system
from tests.support.waiting import eventually

FAST_RETRIES = {
    "NOTIFICATION_RETRY_BASE_S": "0.2",
    "NOTIFICATION_RETRY_CAP_S": "1",
    "NOTIFICATION_RETRY_MAX_ATTEMPTS": "8",
    "NOTIFICATION_WEBHOOK_TIMEOUT_S": "1",
    "NOTIFICATION_CLAIM_MARGIN_S": "2",
    "NOTIFICATION_POLL_INTERVAL_S": "0.2",
    # the receivers of these tests listen on 127.0.0.1 over plain http; production allows neither
    "NOTIFICATION_WEBHOOK_ALLOW": "loopback,http",
}


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), FAST_RETRIES)
    try:
        running.start_together("intake", "routing", "notification")
        yield running
    finally:
        await destroy_system(running)


@pytest.fixture(scope="module")
async def admin(system: System) -> str:
    return await system.create_key("admin")


async def test_a_cross_street_record_reaches_the_street_webhook_signed(system: System, admin: str) -> None:
    """The receiver verifies with the `standardwebhooks` library and the secret the service generated."""
    street = await system.create_key(f"street:{XINSHI}")
    body = records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=41, name="赵六")
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as client:
        created = await subscribe(client, system, street, XINSHI, receiver.url, secret=None)
        assert created.status_code == 201, created.text
        generated = created.json()["secret"]
        assert generated.startswith("whsec_")
        assert generated != SECRET
        receiver.secret = generated
        shown = await client.get(f"{system.url('notification')}/v1/recipients/{XINSHI}/webhook", headers=bearer(street))
        assert shown.json()["url"] == receiver.url
        assert generated not in shown.text

        posted = await client.post(system.url("intake") + "/v1/records", json=body, headers=bearer(admin))
        assert posted.status_code == 202, posted.text
        record_id = posted.json()["record_id"]

        async def arrived() -> list[Any]:
            return list(receiver.delivered().values())

        [got] = await eventually(arrived)
        assert got.verified
        assert got.body["record_id"] == record_id
        assert got.body["person"] == {
            "name": "赵六",
            "id_number": body["person"]["id_number"],
            "residence_address": body["residence"]["address"],
        }
        assert got.body["kind"] == "transfer"
        link = httpx.URL(got.body["record_link"])
        assert (link.path, link.params["notice"]) == (f"/v1/records/{record_id}", got.notice_id)
        assert granted_to(TEST_KEYRING, link.params["grant"], notice_id=got.notice_id, record_id=record_id) == XINSHI
        assert "registration" not in json.dumps(got.body)

        async def delivered() -> dict[str, Any] | None:
            notice = await client.get(
                f"{system.url('notification')}/v1/notices/{got.notice_id}", headers=bearer(street)
            )
            return notice.json() if notice.json()["status"] == "delivered" else None

        await eventually(delivered)
        history = await deliveries(client, system, street, got.notice_id)
        assert [a["status_code"] for a in history["attempts"]] == [200]
    logs = system.log_text("notification")
    assert got.notice_id in logs
    assert body["person"]["id_number"] not in logs
    assert "赵六" not in logs
    assert generated not in logs


async def test_a_failing_receiver_that_recovers_gets_everything_once(system: System, admin: str) -> None:
    recipient = "440111101"
    async with Receiver(SECRET, fail_first=2) as receiver, httpx.AsyncClient(timeout=10) as client:
        assert (await subscribe(client, system, admin, recipient, receiver.url)).status_code == 201
        ids = await publish_notices(system, recipient, 5, first=101)
        await eventually(lambda: all_in_state(client, system, admin, ids, "delivered"))
        for notice_id in ids:
            history = await deliveries(client, system, admin, notice_id)
            assert [a["status_code"] for a in history["attempts"]] == [503, 503, 200]
        assert sorted(receiver.delivered()) == sorted(ids)
        assert sum(1 for r in receiver.received if r.answered == 200) == 5  # each delivered once
        assert all(r.verified for r in receiver.received)

        inbox_url = f"{system.url('notification')}/v1/inbox/{recipient}"
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 2, "status": "delivered", **({"cursor": cursor} if cursor else {})}
            page = (await client.get(inbox_url, params=params, headers=bearer(admin))).json()
            seen += [n["notice_id"] for n in page["notices"]]
            if not (cursor := page["next_cursor"]):
                break
        assert sorted(seen) == sorted(ids)
        assert len(seen) == 5
        failed_only = await client.get(inbox_url, params={"status": "failed"}, headers=bearer(admin))
        assert failed_only.json()["notices"] == []
        other_kind = await client.get(inbox_url, params={"kind": "recheck"}, headers=bearer(admin))
        assert other_kind.json()["notices"] == []
        future = await client.get(inbox_url, params={"since": "2999-01-01T00:00:00Z"}, headers=bearer(admin))
        assert future.json()["notices"] == []
        garbage = await client.get(inbox_url, params={"cursor": "garbage"}, headers=bearer(admin))
        assert garbage.status_code == 400
        assert garbage.headers["content-type"].startswith("application/problem+json")


async def test_a_hanging_receiver_times_out_without_holding_up_others(system: System, admin: str) -> None:
    hanging, healthy = "440111102", "440111103"
    async with (
        Receiver(SECRET, behaviour="hang") as stuck,
        Receiver(SECRET) as fine,
        httpx.AsyncClient(timeout=10) as client,
    ):
        await subscribe(client, system, admin, hanging, stuck.url)
        await subscribe(client, system, admin, healthy, fine.url)
        stuck_ids = await publish_notices(system, hanging, 6, first=111)
        fine_ids = await publish_notices(system, healthy, 6, first=121)

        await eventually(lambda: all_in_state(client, system, admin, fine_ids, "delivered"))
        for notice_id in fine_ids:
            history = await deliveries(client, system, admin, notice_id)
            assert [a["status_code"] for a in history["attempts"]] == [200]

        async def timed_out() -> bool:
            for notice_id in stuck_ids[:2]:
                attempts = (await deliveries(client, system, admin, notice_id))["attempts"]
                if not attempts or not attempts[0]["error"].startswith("timeout"):
                    return False
            return True

        await eventually(timed_out)
        assert all(r.notice_id in stuck_ids for r in stuck.received)
        stuck.release()


async def test_after_the_last_attempt_the_bureau_sees_the_failure_and_can_redeliver(system: System, admin: str) -> None:
    recipient = "440111104"
    district, other_district = await system.create_key("district:440111"), await system.create_key("district:440106")
    street = await system.create_key(f"street:{recipient}")
    async with Receiver(SECRET, behaviour="fail") as receiver, httpx.AsyncClient(timeout=10) as client:
        await subscribe(client, system, street, recipient, receiver.url)
        [notice_id] = await publish_notices(system, recipient, 1, first=131)
        await eventually(lambda: all_in_state(client, system, street, [notice_id], "failed"))
        history = await deliveries(client, system, street, notice_id)
        assert [a["number"] for a in history["attempts"]] == list(range(1, 9))
        assert {a["status_code"] for a in history["attempts"]} == {503}

        inbox = await client.get(f"{system.url('notification')}/v1/inbox/{recipient}", headers=bearer(street))
        assert [(n["notice_id"], n["status"]) for n in inbox.json()["notices"]] == [(notice_id, "failed")]
        failed_url = f"{system.url('notification')}/v1/deliveries/failed"
        listed = (await client.get(failed_url, headers=bearer(district))).json()["deliveries"]
        assert notice_id in [d["notice_id"] for d in listed]
        elsewhere = (await client.get(failed_url, headers=bearer(other_district))).json()["deliveries"]
        assert notice_id not in [d["notice_id"] for d in elsewhere]
        assert (await client.get(failed_url, headers=bearer(street))).status_code == 403

        receiver.behaviour = "ok"
        again = await client.post(
            f"{system.url('notification')}/v1/notices/{notice_id}/redeliver", headers=bearer(district)
        )
        assert again.status_code == 202
        await eventually(lambda: all_in_state(client, system, street, [notice_id], "delivered"))
        assert list(receiver.delivered()) == [notice_id]


async def test_killed_with_retries_pending_the_schedule_resumes_after_restart(system: System, admin: str) -> None:
    recipient = "440111105"
    async with Receiver(SECRET, behaviour="fail") as receiver, httpx.AsyncClient(timeout=10) as client:
        await subscribe(client, system, admin, recipient, receiver.url)
        ids = await publish_notices(system, recipient, 5, first=141)

        async def each_failed_once() -> bool:
            """Each pushed, refused, and the refusal recorded: a kill after the receiver's answer but before
            the attempt is written loses that attempt (the push is simply made again after the restart)."""
            if {r.notice_id for r in receiver.received} != set(ids):
                return False
            return all([(await deliveries(client, system, admin, notice_id))["attempts"] for notice_id in ids])

        await eventually(each_failed_once)
        system.kill("notification")

        # requests the killed process sent just before it died are still in the receiver's sockets
        # (the kill blocked this loop): answer them as the failing receiver would, then turn good once no
        # more arrive (a fixed pause could end while a starved box still had one in flight)
        async def settled() -> bool:
            seen = len(receiver.received)
            await asyncio.sleep(1)
            return len(receiver.received) == seen

        await eventually(settled)
        before = len(receiver.received)
        receiver.behaviour = "ok"
        system.start("notification")

        await eventually(lambda: all_in_state(client, system, admin, ids, "delivered"))
        for notice_id in ids:
            attempts = (await deliveries(client, system, admin, notice_id))["attempts"]
            assert len(attempts) >= 2  # at least one failure before the kill, the success after
            assert [a["number"] for a in attempts] == list(range(1, len(attempts) + 1))
            assert [a["status_code"] for a in attempts][-1] == 200
            assert {a["status_code"] for a in attempts[:-1]} <= {503}
        assert sorted(receiver.delivered()) == sorted(ids)
        assert sum(1 for r in receiver.received if r.answered == 200) == 5
        assert before >= 5


async def test_keys_see_only_their_scope(system: System, admin: str) -> None:
    recipient = "440111106"
    own, neighbour = await system.create_key(f"street:{recipient}"), await system.create_key("street:440111107")
    district, foreign = await system.create_key("district:440111"), await system.create_key("district:440106")
    [notice_id] = await publish_notices(system, recipient, 1, first=151)
    base = system.url("notification")
    async with httpx.AsyncClient(timeout=10) as client:

        async def stored() -> bool:
            return (await client.get(f"{base}/v1/notices/{notice_id}", headers=bearer(own))).status_code == 200

        await eventually(stored)
        for key, status in ((own, 200), (district, 200), (admin, 200), (neighbour, 404), (foreign, 404)):
            notice = await client.get(f"{base}/v1/notices/{notice_id}", headers=bearer(key))
            inbox = await client.get(f"{base}/v1/inbox/{recipient}", headers=bearer(key))
            assert (notice.status_code, inbox.status_code) == (status, status)
        hidden = await client.get(f"{base}/v1/notices/{notice_id}/deliveries", headers=bearer(neighbour))
        assert hidden.status_code == 404
        assert "440111106" not in hidden.text
        missing = await client.get(f"{base}/v1/notices/{uuid.uuid4()}", headers=bearer(neighbour))
        assert missing.json()["detail"] == hidden.json()["detail"]  # absent and hidden look the same
        webhook = await client.put(
            f"{base}/v1/recipients/{recipient}/webhook",
            json={"url": "http://127.0.0.1:9/hook", "secret": SECRET},
            headers=bearer(neighbour),
        )
        assert webhook.status_code == 404
        assert (await client.get(f"{base}/v1/inbox/{recipient}")).status_code == 401
        assert (await client.get(f"{base}/v1/inbox/{recipient}", headers=bearer("pf_nope_nope"))).status_code == 401
        for probe in ("/healthz", "/readyz"):  # open, and naming the service, so a probe on the wrong port shows
            answer = await client.get(base + probe)
            assert (answer.status_code, answer.json()["service"]) == (200, "notification")


async def test_ack_and_feedback_are_published_for_routing_and_reporting(system: System) -> None:
    recipient = "440111108"
    street = await system.create_key(f"street:{recipient}")
    [notice_id] = await publish_notices(system, recipient, 1, first=161)
    base = f"{system.url('notification')}/v1/notices/{notice_id}"
    async with httpx.AsyncClient(timeout=10) as client:

        async def stored() -> bool:
            return (await client.get(base, headers=bearer(street))).status_code == 200

        await eventually(stored)
        for _ in range(2):  # acknowledging twice is harmless
            acked = await client.post(f"{base}/ack", headers=bearer(street))
            assert acked.json()["status"] == "acknowledged"

        incomplete = await client.post(f"{base}/feedback", json={"result": "corrected"}, headers=bearer(street))
        assert incomplete.status_code == 422
        assert [e["pointer"] for e in incomplete.json()["errors"]] == ["/corrections"]
        no_reason = await client.post(f"{base}/feedback", json={"result": "rejected"}, headers=bearer(street))
        assert [e["pointer"] for e in no_reason.json()["errors"]] == ["/reason"]
        unknown = await client.post(f"{base}/feedback", json={"result": "maybe"}, headers=bearer(street))
        assert unknown.status_code == 422
        for corrections, pointer in [
            ({"certificate_number": "x"}, "/corrections/certificate_number"),  # not correctable here
            ({"residence_street": "440111999"}, "/corrections/residence_street"),  # not a current street
        ]:
            wrong = {"result": "corrected", "corrections": corrections}
            refused = await client.post(f"{base}/feedback", json=wrong, headers=bearer(street))
            assert refused.status_code == 422, refused.text
            assert [e["pointer"] for e in refused.json()["errors"]] == [pointer]
        nowhere = f"{system.url('notification')}/v1/notices/{uuid.uuid4()}/feedback"
        assert (await client.post(nowhere, json={"result": "confirmed"}, headers=bearer(street))).status_code == 404
        # out of scope comes before what is wrong with the answer: a broken answer says nothing of another's notice
        other = await system.create_key("street:440111109")
        for url, key in ((nowhere, street), (f"{base}/feedback", other)):
            hidden = await client.post(url, json={"result": "corrected"}, headers=bearer(key))
            assert hidden.status_code == 404, hidden.text
        not_json = await client.post(f"{base}/feedback", content=b"{", headers=bearer(street))
        assert not_json.status_code in (400, 422)

        answer = {"result": "rejected", "reason": "person_left", "note": "moved out in January"}
        first = await client.post(f"{base}/feedback", json=answer, headers=bearer(street))
        assert first.status_code == 202, first.text
        second = await client.post(f"{base}/feedback", json={"result": "confirmed"}, headers=bearer(street))
        assert second.status_code == 409
        broken = await client.post(f"{base}/feedback", json={"result": "corrected"}, headers=bearer(street))
        assert broken.status_code == 422  # what is wrong with an answer comes before its having been answered
        assert second.headers["content-type"].startswith("application/problem+json")
        shown = (await client.get(base, headers=bearer(street))).json()
        assert (shown["status"], shown["answer"]["result"]) == ("answered", "rejected")

    answered = await consume_one(system, NOTICES_ANSWERED, notice_id)
    assert answered["type"] == "NoticeAnswered"
    assert "moved out" not in json.dumps(answered, ensure_ascii=False)  # the note travels sealed
    payload = parse_event(Envelope.model_validate(answered), TEST_KEYRING).model_dump(mode="json")
    assert (payload["result"], payload["reason"], payload["note"]) == (
        "rejected",
        "person_left",
        "moved out in January",
    )
    assert payload["answered_by"] == recipient
    assert payload["corrections"] == {}
    acknowledged = await consume_one(system, NOTICES_ACKNOWLEDGED, notice_id)
    assert acknowledged["payload"]["acknowledged_by"] == recipient
    assert answered["correlation_id"] == payload["record_id"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://10.0.0.5/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://224.0.0.251/hook", "multicast"),
        ("https://0.0.0.0:8002/hook", "unspecified"),
        ("https://167772161/hook", "private"),  # a numeric host the resolver reads as 10.0.0.1
    ],
)
async def test_a_webhook_may_not_point_inside(system: System, admin: str, url: str, reason: str) -> None:
    """Even with loopback and http allowed (as here), metadata, 10/8 and the rest stay refused."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.put(
            f"{system.url('notification')}/v1/recipients/440111110/webhook",
            json={"url": url, "secret": SECRET},
            headers=bearer(admin),
        )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["pointer"] == "/url"
    assert reason in error["detail"]


async def test_bad_input_is_a_problem_document_never_a_500(system: System, admin: str) -> None:
    recipient = "440111109"
    [notice_id] = await publish_notices(system, recipient, 1, first=171)
    base, auth = system.url("notification"), bearer(admin)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", f"/v1/recipients/{recipient}/webhook", {"content": b"{"}),
        ("PUT", f"/v1/recipients/{recipient}/webhook", {"json": {"url": "ftp://x", "secret": SECRET}}),
        # longer than the column takes, though a URL may be (2,083)
        ("PUT", f"/v1/recipients/{recipient}/webhook", {"json": {"url": "http://x.example/" + "a" * 2050}}),
        ("PUT", f"/v1/recipients/{recipient}/webhook", {"json": {"url": "http://127.0.0.1:9/h", "secret": "short"}}),
        ("PUT", f"/v1/recipients/{recipient}/webhook", {"json": ["not", "an", "object"]}),
        ("PUT", "/v1/recipients/44011/webhook", {"json": {"url": "http://127.0.0.1:9/h", "secret": SECRET}}),
        ("GET", f"/v1/inbox/{recipient}", {"params": {"since": "yesterday"}}),
        ("GET", f"/v1/inbox/{recipient}", {"params": {"status": "lost"}}),
        ("GET", f"/v1/inbox/{recipient}", {"params": {"limit": 0}}),
        ("GET", f"/v1/inbox/{recipient}", {"params": {"kind": "DROP TABLE"}}),
        ("GET", f"/v1/inbox/{recipient}", {"params": {"cursor": "eyJhIjoxfQ"}}),
        ("GET", f"/v1/notices/{'x' * 300}", {}),
        ("POST", f"/v1/notices/{notice_id}/feedback", {"json": {"result": "corrected", "corrections": ["a"]}}),
        ("POST", f"/v1/notices/{notice_id}/feedback", {"json": {"result": "confirmed", "note": "n" * 501}}),
        ("POST", f"/v1/notices/{notice_id}/feedback", {"json": {"result": "rejected", "reason": "bored"}}),
        ("POST", f"/v1/notices/{notice_id}/feedback", {"json": {"result": "confirmed", "extra": 1}}),
        ("POST", f"/v1/notices/{notice_id}/redeliver", {}),  # no webhook for this recipient: 409
    ]
    async with httpx.AsyncClient(timeout=10) as client:

        async def stored() -> bool:
            return (await client.get(f"{base}/v1/notices/{notice_id}", headers=auth)).status_code == 200

        await eventually(stored)
        for method, path, options in cases:
            response = await client.request(method, base + path, headers=auth, **options)
            assert response.status_code in (400, 404, 409, 422), (method, path, response.status_code)
            assert response.headers["content-type"].startswith("application/problem+json"), path
    assert SECRET not in system.log_text("notification")

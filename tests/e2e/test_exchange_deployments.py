"""Issue 10: three deployments exchange notices and answers over https.

Baiyun (440111) runs intake, routing and notification; Tianhe (440106) and
Changsha Furong (430102) run notification, their exchange door. A Baiyun
street reports a person who lives in a Tianhe street and is registered in
Furong: Tianhe's street gets the transfer notice on its webhook, confirms
it, Baiyun's case shows the answer, Furong's bureau gets the registration
notice. Then with Tianhe down while the notice is sent (nothing lost, nothing
duplicated), and with a correction to another Tianhe street (re-routed).
The first scenario runs once more through the city's FTP platform (a real
FTP server), where each batch taken is acknowledged to its sender, and a
tampered and an unsigned batch are set aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from services.notification.domain.exchange_batch import Batch, build_batch
from services.notification.domain.exchange_crypto import b64, sign_ed25519, unb64
from services.notification.domain.signing import secret_of
from tests.support import records
from tests.support.deployments import Deployment, build_deployments, destroy_deployments, start_all
from tests.support.ftp_platform import FtpPlatform
from tests.support.receivers import Receiver
from tests.support.records import FURONG, TONGDE, WUSHAN
from tests.support.routing import case_of, notice_of
from tests.support.system import System
from tests.support.waiting import eventually

YUANCUN = "440106002"  # 员村街道, Tianhe
PLANS = [
    Deployment("baiyun", ("440111",), ("intake", "routing", "notification")),
    Deployment("tianhe", ("440106",)),
    Deployment("furong", ("430102",)),
]
SECRET = secret_of(b"tianhe-street-office-secret-0123")  # a Standard Webhooks `whsec_` secret


@pytest.fixture(scope="module")
async def deployments(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, System]]:
    systems = await build_deployments(Path(tmp_path_factory.mktemp("exchange")), PLANS)
    try:
        start_all(systems, PLANS)
        yield systems
    finally:
        await destroy_deployments(systems)


@pytest.fixture(scope="module")
async def street_hook(deployments: dict[str, System]) -> AsyncIterator[Receiver]:
    """五山街道's webhook, registered at the Tianhe deployment."""
    async with _street_hook(deployments["tianhe"]) as receiver:
        yield receiver


@contextlib.asynccontextmanager
async def _street_hook(tianhe: System) -> AsyncIterator[Receiver]:
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as client:
        response = await client.put(
            tianhe.url("notification") + f"/v1/recipients/{WUSHAN}/webhook",
            json={"url": receiver.url, "secret": SECRET},
            headers=await tianhe.admin_headers(),
        )
        assert response.status_code in (200, 201), response.text
        yield receiver


async def _report(client: httpx.AsyncClient, baiyun: System, sequence: int) -> str:
    body = records.record(reporting_street=TONGDE, residence_street=WUSHAN, sequence=sequence)
    response = await client.post(baiyun.url("intake") + "/v1/records", json=body, headers=await baiyun.admin_headers())
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


async def _pushed(receiver: Receiver, record_id: str) -> list[dict[str, Any]]:
    return [r.body for r in receiver.delivered().values() if r.body["record_id"] == record_id]


async def _inbox(client: httpx.AsyncClient, system: System, code: str, record_id: str) -> list[dict[str, Any]]:
    response = await client.get(system.url("notification") + f"/v1/inbox/{code}", headers=await system.admin_headers())
    assert response.status_code == 200, response.text
    return [n for n in response.json()["notices"] if n["record_id"] == record_id]


async def _case(client: httpx.AsyncClient, baiyun: System, record_id: str, status: str) -> dict[str, Any] | None:
    case = await case_of(client, baiyun.url("routing"), record_id, await baiyun.admin_headers())
    return case if case is not None and case["status"] == status else None


async def _answer(client: httpx.AsyncClient, tianhe: System, notice_id: str, body: dict[str, Any]) -> None:
    street = await tianhe.create_key(f"street:{WUSHAN}")
    response = await client.post(
        tianhe.url("notification") + f"/v1/notices/{notice_id}/feedback",
        json=body,
        headers={"Authorization": f"Bearer {street}"},
    )
    assert response.status_code == 202, response.text


async def test_a_confirmed_inter_district_case_reaches_the_registration_place(
    deployments: dict[str, System], street_hook: Receiver
) -> None:
    baiyun, tianhe, furong = deployments["baiyun"], deployments["tianhe"], deployments["furong"]
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await _report(client, baiyun, sequence=101)

        [pushed] = await eventually(functools.partial(_pushed, street_hook, record_id))
        assert pushed["kind"] == "transfer"
        assert pushed["recipient_code"] == WUSHAN
        assert pushed["person"]["id_number"] == records.id_number(sequence=101)
        assert pushed["record_link"] is None  # a record Baiyun keeps: nothing at Tianhe's intake to open
        await _answer(client, tianhe, pushed["notice_id"], {"result": "confirmed", "note": "核实在住"})

        case = await eventually(functools.partial(_case, client, baiyun, record_id, "confirmed"))
        forward = next(n for n in case["notices"] if n["kind"] == "forward")
        assert forward["recipient_code"] == "440106"
        assert forward["result"] == "confirmed"
        [registration] = await eventually(functools.partial(_inbox, client, furong, FURONG, record_id))
        assert registration["kind"] == "registration"
        assert registration["person"]["id_number"] == records.id_number(sequence=101)

        # Tianhe stores the notice (and may push it) before it answers Baiyun's POST; Baiyun counts it then
        await eventually(lambda: _sent(client, baiyun, "tianhe", "delivered"))
        partners = await _partners(client, baiyun)
        assert partners["tianhe"]["received"]["answers"] >= 1
        # Furong stores the notice before it answers Baiyun's POST; Baiyun counts it delivered on that answer
        await eventually(lambda: _sent(client, baiyun, "furong", "delivered"))


async def test_a_correction_to_another_street_is_routed_there(
    deployments: dict[str, System], street_hook: Receiver
) -> None:
    baiyun, tianhe = deployments["baiyun"], deployments["tianhe"]
    async with httpx.AsyncClient(timeout=10) as client:
        record_id = await _report(client, baiyun, sequence=103)
        [pushed] = await eventually(functools.partial(_pushed, street_hook, record_id))
        await _answer(
            client, tianhe, pushed["notice_id"], {"result": "corrected", "corrections": {"residence_street": YUANCUN}}
        )

        [moved] = await eventually(functools.partial(_inbox, client, tianhe, YUANCUN, record_id))
        assert moved["kind"] == "transfer"

        async def corrected() -> dict[str, Any] | None:
            """The case at version 2: routing publishes the new notice before it commits the case."""
            case = await case_of(client, baiyun.url("routing"), record_id, await baiyun.admin_headers())
            return case if case is not None and case["version"] == 2 else None

        case = await eventually(corrected)
        forwards = [n for n in case["notices"] if n["kind"] == "forward"]
        assert [n["case_version"] for n in forwards] == [1, 2]


async def test_a_partner_down_while_the_notice_is_sent_gets_it_once_when_back(
    deployments: dict[str, System], street_hook: Receiver
) -> None:
    baiyun, tianhe, furong = deployments["baiyun"], deployments["tianhe"], deployments["furong"]
    async with httpx.AsyncClient(timeout=10) as client:
        tianhe.stop("notification")
        record_id = await _report(client, baiyun, sequence=105)
        case = await eventually(functools.partial(_case, client, baiyun, record_id, "open"))
        forward_id = notice_of(case, "forward")

        async def refused_attempts() -> int:
            response = await client.get(
                baiyun.url("notification") + f"/v1/notices/{forward_id}/deliveries",
                headers=await baiyun.admin_headers(),
            )
            attempts = response.json()["attempts"] if response.status_code == 200 else []
            return sum(1 for a in attempts if a["status_code"] is None)

        assert await eventually(refused_attempts) >= 1
        tianhe.start("notification")

        [pushed] = await eventually(functools.partial(_pushed, street_hook, record_id))
        await _answer(client, tianhe, pushed["notice_id"], {"result": "confirmed"})
        await eventually(functools.partial(_case, client, baiyun, record_id, "confirmed"))
        [registration] = await eventually(functools.partial(_inbox, client, furong, FURONG, record_id))
        assert registration["kind"] == "registration"

        assert len(await _inbox(client, tianhe, WUSHAN, record_id)) == 1
        assert len(await _pushed(street_hook, record_id)) == 1


# --- the same exchange through the city's FTP platform -------------------------------------------------


@pytest.fixture(scope="module")
async def ftp_platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FtpPlatform]:
    with FtpPlatform(Path(tmp_path_factory.mktemp("ftp-root")), ["440111", "440106", "430102"]) as platform:
        yield platform


@pytest.fixture(scope="module")
async def ftp_deployments(
    tmp_path_factory: pytest.TempPathFactory, ftp_platform: FtpPlatform, deployments: dict[str, System]
) -> AsyncIterator[dict[str, System]]:
    """The three deployments again, exchanging only through the FTP platform (the https ones stop first)."""
    for system in deployments.values():
        system.stop_all()
    systems = await build_deployments(Path(tmp_path_factory.mktemp("exchange-ftp")), PLANS, ftp_platform)
    try:
        start_all(systems, PLANS)
        yield systems
    finally:
        await destroy_deployments(systems)


async def test_through_the_ftp_platform_a_confirmed_case_reaches_the_registration_place(
    ftp_deployments: dict[str, System], ftp_platform: FtpPlatform
) -> None:
    baiyun, tianhe, furong = ftp_deployments["baiyun"], ftp_deployments["tianhe"], ftp_deployments["furong"]
    async with _street_hook(tianhe) as hook, httpx.AsyncClient(timeout=10) as client:
        record_id = await _report(client, baiyun, sequence=201)

        [pushed] = await eventually(functools.partial(_pushed, hook, record_id))
        assert pushed["kind"] == "transfer"
        assert pushed["person"]["id_number"] == records.id_number(sequence=201)
        await _answer(client, tianhe, pushed["notice_id"], {"result": "confirmed"})

        case = await eventually(functools.partial(_case, client, baiyun, record_id, "confirmed"))
        forward = next(n for n in case["notices"] if n["kind"] == "forward")
        assert forward["result"] == "confirmed"
        [registration] = await eventually(functools.partial(_inbox, client, furong, FURONG, record_id))
        assert registration["kind"] == "registration"

        # every batch was taken and moved to done/, and no operator can read a person in it
        # (Tianhe's poller moves a batch after it applied it and wrote the acknowledgement)
        done = sorted(await eventually(lambda: list(ftp_platform.path("440106", "done").glob("*.batch"))))
        assert all(records.id_number(sequence=201).encode() not in f.read_bytes() for f in done)
        partners = await _partners(client, baiyun)
        assert partners["tianhe"]["transport"] == "ftp"
        await eventually(lambda: _sent(client, baiyun, "tianhe", "delivered"))
        assert partners["tianhe"]["received"]["answers"] >= 1
        # Tianhe's poller acknowledged the forward's batch into Baiyun's folder; Baiyun's settled it, then moves it
        await eventually(lambda: _sent(client, baiyun, "tianhe", "acknowledged"))
        await eventually(lambda: list(ftp_platform.path("440111", "done").glob("440111-440106-*.ack.json")))

        # the same batch again changes nothing: the street is not pushed twice
        for suffix in (".batch", ".manifest.json"):  # as an uploader does: the manifest last
            for done_file in ftp_platform.path("440106", "done").glob("*" + suffix):
                shutil.copy(done_file, ftp_platform.path("440106", done_file.name))
        await eventually(lambda: _none_left(ftp_platform.path("440106")))
        assert len(await _pushed(hook, record_id)) == 1
        assert len(await _inbox(client, tianhe, WUSHAN, record_id)) == 1


async def _partners(client: httpx.AsyncClient, system: System) -> dict[str, dict[str, Any]]:
    overview = await client.get(
        system.url("notification") + "/v1/exchange/partners", headers=await system.admin_headers()
    )
    assert overview.status_code == 200, overview.text
    return {p["name"]: p for p in overview.json()["partners"]}


async def _sent(client: httpx.AsyncClient, system: System, partner: str, state: str) -> int:
    """How many of the system's messages to the partner are in that state (delivered, acknowledged, ...)."""
    return int((await _partners(client, system))[partner]["sent"][state])


async def _none_left(folder: Path) -> bool:
    """Every complete batch in the folder was taken (moved to done/ or set-aside/)."""
    return not await asyncio.to_thread(lambda: list(folder.glob("*.manifest.json")))


async def test_a_tampered_or_unsigned_batch_is_set_aside_with_the_reason(
    ftp_deployments: dict[str, System], ftp_platform: FtpPlatform
) -> None:
    baiyun, tianhe = ftp_deployments["baiyun"], ftp_deployments["tianhe"]
    sealing = X25519PrivateKey.from_private_bytes(unb64(tianhe.env["NOTIFICATION_EXCHANGE_SEALING_KEY"]))
    seal_key = b64(sealing.public_key().public_bytes_raw())
    signing_key = baiyun.env["NOTIFICATION_EXCHANGE_SIGNING_KEY"]

    def batch(batch_id: str) -> Batch:
        return build_batch(
            batch_id=batch_id,
            sender="440111",
            recipient="440106",
            lines=[b'{"message_id":"x"}'],
            seal_key=seal_key,
            timestamp=str(int(time.time())),
            sign=functools.partial(sign_ed25519, signing_key),
        )

    tampered = batch("440111-440106-tampered")
    unsigned = batch("440111-440106-unsigned")
    folder = ftp_platform.path("440106")
    _drop(folder, tampered.file_name, tampered.file[:-8] + b"AAAAAAA=")
    _drop(folder, tampered.manifest_name, tampered.manifest)
    manifest = json.loads(unsigned.manifest)
    del manifest["signature"]
    _drop(folder, unsigned.file_name, unsigned.file)
    _drop(folder, unsigned.manifest_name, json.dumps(manifest).encode())

    aside = folder / "set-aside"
    await eventually(lambda: _none_left(folder))
    assert "checksum" in (aside / "440111-440106-tampered.reason.txt").read_text()
    assert "unsigned" in (aside / "440111-440106-unsigned.reason.txt").read_text()
    await eventually(lambda: asyncio.to_thread((aside / tampered.file_name).exists))  # it moves after its manifest

    async def listed() -> dict[str, str] | None:
        """The set-aside files the bureau sees, once both are there (the poller moves them, then lists them)."""
        async with httpx.AsyncClient(timeout=10) as client:
            overview = await client.get(
                tianhe.url("notification") + "/v1/exchange/partners", headers=await tianhe.admin_headers()
            )
        assert overview.status_code == 200, overview.text
        reasons = {row["file"]: row["reason"] for row in overview.json()["set_aside"]}
        return reasons if {"440111-440106-tampered", "440111-440106-unsigned"} <= reasons.keys() else None

    reasons = await eventually(listed)
    assert "checksum" in reasons["440111-440106-tampered"]
    assert "unsigned" in reasons["440111-440106-unsigned"]
    # the signed (if tampered) batch is acknowledged as set aside; Baiyun never sent it, so that ack changes nothing
    baiyun_aside = ftp_platform.path("440111", "set-aside", "440111-440106-tampered.ack.reason.txt")

    def told() -> bool:
        return baiyun_aside.exists() and "did not send" in baiyun_aside.read_text()

    await eventually(lambda: asyncio.to_thread(told))


def _drop(folder: Path, name: str, data: bytes) -> None:
    """As an uploader does: a temporary name, then the rename."""
    (folder / f".{name}.part").write_bytes(data)
    (folder / f".{name}.part").rename(folder / name)

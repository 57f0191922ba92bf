"""The exchange door meets odd values: every field of a partner's signed message, one at a time.

tests/e2e/test_odd_values.py sweeps every route OpenAPI describes, but a
partner's message is signed and its personal part sealed for us, so an odd
value there never got past the signature. Here Baiyun's own keys sign each odd
message (and Tianhe's sealing key seals its person), so each one reaches the
door's checks and Tianhe's store: none may be answered with a 5xx or a cut
connection, nothing may be dead-lettered, and a good notice must still land in
the residence street's inbox afterwards.

Each answer answers a forward of its own that Tianhe sent Baiyun's bureau (its
NoticeIssued published at Tianhe, as its routing would), so an odd value in an
answer reaches its sealed part, its checks and the inbox's write, as far as it
gets; only the probes of the answered notice's own ids stop at the lookup.
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from services.notification.domain.exchange_crypto import seal, sign_ed25519
from services.notification.domain.exchange_messages import (
    SENDER_HEADER,
    AnswerPart,
    ExchangeMessage,
    NoticePart,
    SealedAnswer,
)
from shared.events import NoticePerson, Route, new_envelope
from shared.topics import DEAD_LETTER, NOTICES_ISSUED
from tests.support.deployments import Deployment, build_deployments, destroy_deployments, start_all
from tests.support.infra import TEST_KEYRING, kafka_connection
from tests.support.kafka import read_raw
from tests.support.notices import issued_notice
from tests.support.odd_values import DAYS, STRUCTURES, TEXTS
from tests.support.records import WUSHAN, id_number
from tests.support.system import System
from tests.support.waiting import eventually

PLANS = [Deployment("baiyun", ("440111",), ()), Deployment("tianhe", ("440106",))]
ODD = "@@odd@@"  # where a probe's raw JSON goes
CONCURRENCY = 8


@dataclass(frozen=True)
class Door:
    tianhe: System
    signing_key: str  # Baiyun's
    seal_key: str  # Tianhe's public sealing key, as the partners file gives it to Baiyun
    owed: list[tuple[str, str]]  # (notice id, record id) of forwards Tianhe sent Baiyun: one for each answer probe


@dataclass(frozen=True)
class Probe:
    kind: str  # notice or answer
    where: str  # the field, as a path
    label: str
    raw: str  # the JSON text put there


@pytest.fixture(scope="module")
async def door(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Door]:
    systems = await build_deployments(Path(tmp_path_factory.mktemp("door")), PLANS)
    try:
        start_all(systems, PLANS)
        tianhe = systems["tianhe"]
        seal_key = seal_key_of(Path(tianhe.env["NOTIFICATION_PARTNERS_FILE"]), "tianhe")
        owed = await forwards_to_baiyun(tianhe, sum(1 for p in probes() if p.kind == "answer"))
        yield Door(tianhe, systems["baiyun"].env["NOTIFICATION_EXCHANGE_SIGNING_KEY"], seal_key, owed)
    finally:
        await destroy_deployments(systems)


async def forwards_to_baiyun(tianhe: System, count: int) -> list[tuple[str, str]]:
    """`count` forwards from Tianhe to Baiyun's bureau, each expecting an answer, once Tianhe has stored them all."""
    producer = AIOKafkaProducer(**kafka_connection(tianhe.env).options())
    await producer.start()
    owed = []
    try:
        for n in range(count):
            notice = issued_notice(
                kind="forward",
                notice_id=str(uuid.uuid4()),
                record_id=str(uuid.uuid4()),
                recipient_code="440111",
                route=Route.INTER_DISTRICT,
                reason="person lives in your district; please verify",
                person=NoticePerson(name="李四", id_number=id_number(sequence=n), residence_address="同德路 8 号"),
                issued_at=datetime.now(UTC),
            )
            envelope = new_envelope(notice, producer="test", correlation_id=notice.record_id, keyring=TEST_KEYRING)
            topic = tianhe.env["POPFLOW_TOPIC_PREFIX"] + NOTICES_ISSUED
            await producer.send(topic, envelope.model_dump_json().encode(), key=notice.notice_id.encode())
            owed.append((notice.notice_id, notice.record_id))
        await producer.flush()
    finally:
        await producer.stop()
    headers = await tianhe.admin_headers()
    async with httpx.AsyncClient(base_url=tianhe.url("notification"), headers=headers, timeout=30) as client:

        async def stored(notice_id: str) -> bool:
            return (await client.get(f"/v1/notices/{notice_id}/deliveries")).status_code == 200

        async def all_stored() -> bool:
            return all([await stored(notice_id) for notice_id, _ in owed])

        await eventually(all_stored, within=120)
    return owed


def seal_key_of(partners_file: Path, name: str) -> str:
    partners = tomllib.loads(partners_file.read_text(encoding="utf-8"))["partners"]
    return str(next(p["seal_key"] for p in partners if p["name"] == name))


def notice(person: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A good forward from Baiyun to the Tianhe bureau, and its sealed part."""
    notice_id, now = str(uuid.uuid4()), datetime.now(UTC)
    message = {
        "message_id": notice_id,
        "type": "notice",
        "sender": "440111",
        "notice": {
            "notice_id": notice_id,
            "record_id": str(uuid.uuid4()),
            "recipient_code": "440106",
            "route": "inter-district",
            "kind": "forward",
            "reason": "person lives in your district (reported by 同德街道)",
            "issued_at": now.isoformat(),
            "answer_expected": True,
            "answer_due": (now + timedelta(days=5)).isoformat(),
        },
        "sealed": "",
    }
    return message, {"person": person}


def person() -> dict[str, Any]:
    return {
        "name": "王五",
        "id_number": id_number(sequence=77),
        "residence_address": "五山路 1 号",
        "residence_street": WUSHAN,
    }


def answer(owed: tuple[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """An answer from Baiyun's bureau to the forward `owed` (notice id, record id): good but for what a probe puts."""
    message_id = str(uuid.uuid4())
    notice_id, record_id = owed or (str(uuid.uuid4()), str(uuid.uuid4()))
    message = {
        "message_id": message_id,
        "type": "answer",
        "sender": "440111",
        "answer": {
            "notice_id": notice_id,
            "record_id": record_id,
            "result": "confirmed",
            "reason": None,
            "answered_by": "440111008",
            "answered_at": datetime.now(UTC).isoformat(),
        },
        "sealed": "",
    }
    return message, {"corrections": {}, "note": "核实在住"}


DATES = {"issued_at", "answer_due", "answered_at"}


def probes() -> list[Probe]:
    found = []
    for kind, (message, private) in (("notice", notice(person())), ("answer", answer())):
        part = "notice" if kind == "notice" else "answer"
        fields = [f"/{name}" for name in message if name not in (part, "sealed")]
        fields += [f"/{part}/{name}" for name in message[part]]
        fields += ["/sealed"] + [f"/sealed/{name}" for name in private]
        if kind == "notice":
            fields += [f"/sealed/person/{name}" for name in private["person"]]
        for where in fields:
            values = [(label, json.dumps(text)) for label, text in TEXTS] + STRUCTURES
            if (
                bound := max_length_at(where)
            ) is not None:  # a value at the format's bound must fit everywhere behind it
                values += [
                    (f"{bound} characters", json.dumps("长" * bound)),
                    (f"{bound + 1}", json.dumps("x" * (bound + 1))),
                ]
            if where.rsplit("/", 1)[1] in DATES:
                values += [(day, json.dumps(day)) for day in DAYS]
            found += [Probe(kind, where, label, raw) for label, raw in values]
    return found


MODELS: dict[str, type[BaseModel]] = {
    "": ExchangeMessage,
    "notice": NoticePart,
    "answer": AnswerPart,
    "sealed": SealedAnswer,
    "sealed/person": NoticePerson,
}


def max_length_at(where: str) -> int | None:
    """The exchange format's max_length for the field at `where`, if it has one."""
    place, _, name = where.strip("/").rpartition("/")
    model = MODELS.get(place)
    field = model.model_fields.get(name) if model else None
    bounds = [m.max_length for m in (field.metadata if field else []) if getattr(m, "max_length", None)]
    return bounds[0] if bounds else None


def body_of(
    door: Door, probe: Probe | None, *, who: dict[str, Any] | None = None, owed: tuple[str, str] | None = None
) -> tuple[str, bytes]:
    """The message with the probe's value at its place (its personal part sealed for Tianhe after); an answer
    answers `owed`."""
    message, private = notice(who or person()) if probe is None or probe.kind == "notice" else answer(owed)
    path = probe.where.strip("/").split("/") if probe else []
    if path[:1] == ["sealed"] and len(path) > 1:
        _put(private, path[1:])
    sealed_text = _with_odd(json.dumps(private, ensure_ascii=False), probe)
    message["sealed"] = seal(sealed_text.encode("utf-8", "surrogatepass"), door.seal_key)
    if path and (path[0] != "sealed" or len(path) == 1):
        _put(message, path)
    text = json.dumps(message, ensure_ascii=True)  # a lone surrogate travels as its \\u escape
    message_id = message["message_id"]
    if message_id == ODD:  # the header names the id too, as far as a header can hold it
        odd = json.loads(probe.raw) if probe else None
        header_safe = isinstance(odd, str) and odd.isascii() and odd.isprintable() and odd == odd.strip() != ""
        message_id = odd if header_safe else "not-the-id"
    return str(message_id), _with_odd(text, probe).encode()


def _put(document: dict[str, Any], path: list[str]) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = ODD


def _with_odd(text: str, probe: Probe | None) -> str:
    return text.replace(json.dumps(ODD), probe.raw) if probe is not None else text


async def delivered(client: httpx.AsyncClient, door: Door, kind: str, message_id: str, body: bytes) -> httpx.Response:
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign_ed25519(door.signing_key, message_id, timestamp, body),
        SENDER_HEADER: "440111",
    }
    url = door.tianhe.url("notification") + f"/v1/exchange/{kind}s"
    return await client.post(url, content=body, headers=headers)


async def problems_of(
    client: httpx.AsyncClient, door: Door, probe: Probe, owed: tuple[str, str] | None, statuses: list[int]
) -> list[str]:
    message_id, body = body_of(door, probe, owed=owed)
    try:
        response = await delivered(client, door, probe.kind, message_id, body)
    except httpx.HTTPError as error:
        return [f"{probe.kind} | {probe.where} | {probe.label} | {type(error).__name__}"]
    if probe.kind == "answer":
        statuses.append(response.status_code)
    if response.status_code >= 500:
        return [f"{probe.kind} | {probe.where} | {probe.label} | {response.status_code} {response.text[:300]!r}"]
    return []


async def test_no_odd_value_in_a_partners_signed_message_is_answered_with_a_5xx(door: Door) -> None:
    sweep = probes()
    owed = iter(door.owed)
    owing = {id(p): next(owed) for p in sweep if p.kind == "answer"}  # each answer probe its own forward
    lanes: list[list[Probe]] = [sweep[i::CONCURRENCY] for i in range(CONCURRENCY)]
    answered: list[int] = []
    async with httpx.AsyncClient(timeout=60) as client:
        good_id, good = body_of(door, None)
        accepted = await delivered(client, door, "notice", good_id, good)
        assert accepted.status_code == 200, accepted.text  # the probes depart from a message the door takes

        async def run(lane: list[Probe]) -> list[str]:
            found = []
            for probe in lane:
                found += await problems_of(client, door, probe, owing.get(id(probe)), answered)
            return found

        problems = [line for lines in await asyncio.gather(*(run(lane) for lane in lanes)) for line in lines]

        last_id, last = body_of(door, None, who=person() | {"name": "赵七"})
        after = await delivered(client, door, "notice", last_id, last)
        assert after.status_code == 200, after.text
        street = await door.tianhe.create_key(f"street:{WUSHAN}")

        async def in_inbox() -> bool:
            inbox = await client.get(
                door.tianhe.url("notification") + f"/v1/inbox/{WUSHAN}",
                params={"limit": 500},
                headers={"Authorization": f"Bearer {street}"},
            )
            return inbox.status_code == 200 and "赵七" in {n["person"]["name"] for n in inbox.json()["notices"]}

        await eventually(in_inbox)
    prefix = door.tianhe.env["POPFLOW_TOPIC_PREFIX"]
    letters = await read_raw(door.tianhe.env["KAFKA_BOOTSTRAP_SERVERS"], prefix + DEAD_LETTER)
    problems += [
        f"dead letter | {h.get('source_topic')} | {h.get('error_type')} | {h.get('error')}" for _, h in letters
    ]
    assert problems == [], f"{len(problems)} problems in {len(sweep)} probes:\n" + "\n".join(problems)
    # the answers got past the lookup of the notice they answer: odd values refused (422) and taken (200) alike
    seen = {status: answered.count(status) for status in sorted(set(answered))}
    assert answered.count(200) >= 20, seen
    assert answered.count(422) >= 100, seen

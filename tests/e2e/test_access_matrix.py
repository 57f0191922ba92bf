"""Every route of the four services, called by every kind of caller: the scope-and-role matrix.

The routes come from the services' own OpenAPI documents, so a route without
an entry in ACCESS (or an entry without a route) fails this test until someone
decides who may call it. An entry names the least action a caller's role must
allow (shared/auth/scopes.py; docs/security.md has the role table) and whose
thing the route touches here:

- STREET: Tongde's record, case, notice, webhook, week or key area;
- DISTRICT: the Baiyun bureau's campaign decisions, spot check, review queue;
- DISTRICT_WIDE: what every office of Baiyun reads (the campaign itself);
- None: the route has no owner; the role alone decides (what it lists is the caller's own).

What each caller must get:
- no key, a malformed key, a revoked key: 401 (health checks and the event catalogue excepted);
- a caller the entry does not allow: 403, 404 (as if absent), or a 2xx listing
  that shows none of the seeded things (listings are scoped to the caller);
- an allowed caller: a 2xx (showing the seeded thing where the entry says what
  to look for) or one of the entry's `also` answers (409 for a second answer,
  404 after a delete);
- never a 500.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.auth import Action
from shared.topics import RECORDS_SUBMITTED
from tests.support import kafka, personal_data
from tests.support.records import BAIYUN, TONGDE, WUSHAN, XINSHI, record
from tests.support.system import SERVICES, System
from tests.support.waiting import eventually

WEEK = "2026-W09"
STREET, DISTRICT, DISTRICT_WIDE = "street", "district", "district-wide"


@dataclass(frozen=True)
class Seeds:
    """Things of Tongde (440111005) and its bureau, Baiyun (440111), made before the matrix runs."""

    record_id: str
    id_number: str
    notice_id: str
    review_record_id: str
    campaign_id: str
    area_id: str
    check_id: str
    place_check_id: str


Sees = Callable[[Any, Seeds], bool]


@dataclass(frozen=True)
class Rule:
    action: Action | None  # None: public
    owner: str | None = None
    also: frozenset[int] = frozenset()  # answers an allowed caller may get besides a 2xx
    sees: Sees | None = None  # a 2xx counts as access only when it shows the seeded thing
    roles: frozenset[str] | None = None  # fewer roles than the action's, where a route says so
    partner_only: bool = False  # signed by an exchange partner (docs/exchange.md): no API key opens it


def _ids(field: str, seed: str) -> Sees:
    """Sees the seeded record `seed` among the items of `field`."""

    def sees(body: Any, seeds: Seeds) -> bool:
        return getattr(seeds, seed) in {item.get("record_id") for item in body[field]}

    return sees


def _notice_listed(body: Any, seeds: Seeds) -> bool:
    return seeds.notice_id in {n["notice_id"] for n in body["notices"]}


def _accepted(body: Any, _: Seeds) -> bool:
    return bool(body["summary"]["accepted"])


def _places_listed(body: Any, seeds: Seeds) -> bool:
    return seeds.place_check_id in {p["place_check_id"] for p in body["places"]}


def _worker_listed(body: Any, _: Seeds) -> bool:
    return WORKER["staff_id"] in {w["staff_id"] for w in body["workers"]}


PUBLIC = Rule(None)
ANSWERED = frozenset({409})

ACCESS: dict[str, Rule] = {
    **{
        f"{service} GET {path}": PUBLIC
        for service in SERVICES
        for path in ("/healthz", "/readyz", "/asyncapi.json", "/catalogue/{name}")
    },
    # intake
    "intake POST /v1/records": Rule(Action.SUBMIT, STREET),
    "intake POST /v1/records/bulk": Rule(Action.SUBMIT, STREET, sees=_accepted),
    "intake GET /v1/schema/record": Rule(Action.SUBMIT),
    "intake GET /v1/records": Rule(Action.READ, STREET, sees=_ids("records", "record_id")),
    "intake GET /v1/records/{record_id}": Rule(Action.READ, STREET),
    "intake POST /v1/records/search": Rule(Action.READ, STREET, sees=_ids("records", "record_id")),
    "intake GET /v1/audit": Rule(Action.ADMINISTER),
    # outbox rows that can never publish, set aside (intake and notification); unknown row ids: 404
    **{
        f"{service} {route}": Rule(Action.ADMINISTER, also=frozenset({404}))
        for service in ("intake", "notification")
        for route in (
            "GET /v1/admin/outbox/set-aside",
            "POST /v1/admin/outbox/set-aside/{row_id}/retry",
            "POST /v1/admin/outbox/set-aside/{row_id}/discard",
        )
    },
    # routing
    "routing GET /v1/decisions/{record_id}": Rule(Action.READ, STREET),
    "routing GET /v1/cases/{record_id}": Rule(Action.READ, STREET),
    "routing GET /v1/review": Rule(Action.SUPERVISE, DISTRICT, sees=_ids("items", "review_record_id")),
    "routing POST /v1/review/{record_id}/resolution": Rule(Action.SUPERVISE, DISTRICT, also=ANSWERED),
    # notification
    "notification GET /v1/inbox/{recipient_code}": Rule(Action.READ, STREET, sees=_notice_listed),
    "notification GET /v1/notices/{notice_id}": Rule(Action.READ, STREET),
    "notification POST /v1/notices/{notice_id}/ack": Rule(Action.ANSWER, STREET),
    "notification POST /v1/notices/{notice_id}/feedback": Rule(Action.ANSWER, STREET, also=ANSWERED),
    "notification GET /v1/notices/{notice_id}/deliveries": Rule(Action.READ, STREET),
    "notification POST /v1/notices/{notice_id}/redeliver": Rule(Action.ANSWER, STREET, also=frozenset({409})),
    "notification GET /v1/deliveries/failed": Rule(Action.SUPERVISE),
    "notification PUT /v1/recipients/{recipient_code}/webhook": Rule(Action.ANSWER, STREET),
    "notification GET /v1/recipients/{recipient_code}/webhook": Rule(Action.ANSWER, STREET),
    "notification DELETE /v1/recipients/{recipient_code}/webhook": Rule(Action.ANSWER, STREET, also=frozenset({404})),
    # reporting
    "reporting GET /v1/reports/weekly": Rule(Action.READ, STREET),
    "reporting GET /v1/reports/weekly.xlsx": Rule(Action.READ, STREET),
    "reporting GET /v1/reports/weekly.csv": Rule(Action.READ, STREET),
    "reporting GET /v1/reports/weekly/items": Rule(Action.READ, STREET),
    # the exchange: partners' doors take partner signatures, never API keys; the overview is the bureau's
    "notification POST /v1/exchange/notices": Rule(Action.ADMINISTER, partner_only=True),
    "notification POST /v1/exchange/answers": Rule(Action.ADMINISTER, partner_only=True),
    # the deployment's overview, every served district's traffic together: a bureau of each (one here: Baiyun)
    "notification GET /v1/exchange/partners": Rule(Action.SUPERVISE, DISTRICT),
    # a bureau of a served district (Baiyun here) or admin; the seeded partner has no keys (409) and the
    # seeded notice is local, not a message to a partner (404): both answered after access was granted
    "notification POST /v1/exchange/partners/{partner}/redeliver": Rule(
        Action.SUPERVISE, DISTRICT, also=frozenset({409})
    ),
    "notification POST /v1/exchange/messages/{message_id}/redeliver": Rule(
        Action.SUPERVISE, DISTRICT, also=frozenset({404})
    ),
    "reporting GET /v1/reports/quality": Rule(Action.READ, STREET),
    "reporting GET /v1/certificates/follow-up": Rule(Action.READ, STREET),
    "reporting GET /v1/certificates/follow-up.xlsx": Rule(Action.READ, STREET),
    # the street office submits its own week: not its bureau
    "reporting POST /v1/reports/weekly/submit": Rule(
        Action.ANSWER, STREET, also=ANSWERED, roles=frozenset({"office", "admin"})
    ),
    "reporting POST /v1/reports/weekly/review": Rule(Action.SUPERVISE, DISTRICT, also=ANSWERED),
    "reporting POST /v1/spotchecks": Rule(Action.SUPERVISE, DISTRICT),
    "reporting GET /v1/spotchecks/{check_id}": Rule(Action.SUPERVISE, DISTRICT),
    "reporting GET /v1/spotchecks/{check_id}/list.{fmt}": Rule(Action.SUPERVISE, DISTRICT),
    # the seeded record need not be in the sample: 404/422 say so, after access was granted
    "reporting POST /v1/spotchecks/{check_id}/results": Rule(Action.SUPERVISE, DISTRICT, also=frozenset({404, 422})),
    # the bureau's ranking; a street office reads its own street's row (the matrix asks for Tongde's)
    "reporting GET /v1/spotchecks/{check_id}/discrepancies": Rule(Action.READ, STREET),
    # place checks: the bureau posts them (the seeded one again: 200), a street office reads its street's
    "reporting POST /v1/spotchecks/{check_id}/places": Rule(Action.SUPERVISE, DISTRICT),
    "reporting GET /v1/spotchecks/{check_id}/places": Rule(Action.READ, STREET, sees=_places_listed),
    "reporting GET /v1/spotchecks/{check_id}/places/{place_check_id}": Rule(Action.READ, STREET),
    "reporting POST /v1/campaigns": Rule(Action.SUPERVISE, DISTRICT),
    "reporting GET /v1/campaigns/{campaign_id}": Rule(Action.READ, DISTRICT_WIDE),
    "reporting POST /v1/campaigns/{campaign_id}/areas": Rule(Action.ANSWER, STREET),
    "reporting GET /v1/campaigns/{campaign_id}/areas": Rule(Action.READ, STREET),
    "reporting POST /v1/campaigns/{campaign_id}/areas/{area_id}/canvassed": Rule(Action.ANSWER, STREET),
    "reporting POST /v1/campaigns/{campaign_id}/results": Rule(Action.SUPERVISE, DISTRICT, also=ANSWERED),
    "reporting GET /v1/campaigns/{campaign_id}/results": Rule(Action.READ, DISTRICT),
    # responsible workers (分片包干): a street's office keeps its register, its bureau may too; names read by them
    "reporting POST /v1/workers": Rule(Action.ANSWER, STREET),
    "reporting GET /v1/workers": Rule(Action.READ, STREET, sees=_worker_listed),
    "reporting POST /v1/communities": Rule(Action.ANSWER, STREET),
    "reporting POST /v1/communities/sheet": Rule(Action.ANSWER, STREET),
    "reporting GET /v1/communities": Rule(Action.READ, STREET),
    "reporting POST /v1/campaigns/{campaign_id}/areas/sheet": Rule(Action.ANSWER, STREET),
    "reporting PUT /v1/campaigns/{campaign_id}/areas/{area_id}/worker": Rule(Action.ANSWER, STREET),
}

# The role table of docs/security.md, written out here rather than read from shared/auth.
ROLES_FOR: dict[Action, frozenset[str]] = {
    Action.SUBMIT: frozenset({"submitter", "office", "bureau", "admin"}),
    Action.READ: frozenset({"office", "bureau", "admin"}),
    Action.ANSWER: frozenset({"office", "bureau", "admin"}),
    Action.SUPERVISE: frozenset({"bureau", "admin"}),
    Action.ADMINISTER: frozenset({"admin"}),
}

CAMPAIGN = {
    "name": "matrix",
    "district": BAIYUN,
    "phases": [{"name": "canvass", "starts_on": "2026-02-01", "ends_on": "2026-03-31"}],
}
AREAS = {
    "street": TONGDE,
    "areas": [{"kind": "market", "name": "同德市场", "address": "同德路 1 号", "planned_on": "2026-02-10"}],
}
WORKER = {"staff_id": "M01", "name": personal_data.used("矩阵专干")}
WORKERS = {"street": TONGDE, "workers": [WORKER]}
SHEETS = {  # the registers offices upload as CSV (or XLSX)
    "reporting POST /v1/communities/sheet": f"社区代码,社区名称,责任人工号\r\n{TONGDE}001,同德社区,M01\r\n",
    "reporting POST /v1/campaigns/{campaign_id}/areas/sheet": (
        "类型,名称,地址,计划清查日期,责任人工号\r\n市场,同德市场,同德路 1 号,2026-02-10,M01\r\n"
    ),
}
SAMPLE = {"district": BAIYUN, "seed": "matrix", "size_per_street": 1, "week_from": WEEK, "week_to": WEEK}
PLACE_CHECK_ID = "5f0c8a52-8d1e-4c55-9a0e-3b7f1d2c6e41"


def place_check(id_number: str) -> dict[str, Any]:
    """Tongde's market, where the seeded person was found (recorded already: nothing to enter)."""
    return {
        "place_check_id": PLACE_CHECK_ID,
        "street": TONGDE,
        "place": {"kind": "market", "name": "同德市场"},
        "checked_on": "2026-02-26",
        "checker": "matrix",
        "persons": [{"person": {"id_number": id_number, "name": "张三"}}],
    }


BODIES: dict[str, Callable[[Seeds], Any]] = {
    "intake POST /v1/records": lambda s: record(sequence=211),
    "intake POST /v1/records/bulk": lambda s: [record(sequence=212)],
    "intake POST /v1/records/search": lambda s: {"id_number": s.id_number},
    "notification POST /v1/notices/{notice_id}/feedback": lambda s: {"result": "confirmed"},
    "routing POST /v1/review/{record_id}/resolution": lambda s: {"resolution": "dismissed", "reason": "matrix"},
    "notification POST /v1/exchange/notices": lambda s: {"message_id": "matrix"},
    "notification POST /v1/exchange/answers": lambda s: {"message_id": "matrix"},
    "notification PUT /v1/recipients/{recipient_code}/webhook": lambda s: {
        "url": "https://receiver.example.org/popflow",
        "secret": "whsec_" + base64.b64encode(b"matrix-secret-0123456789-abcdef").decode(),
    },
    "reporting POST /v1/reports/weekly/submit": lambda s: {"street": TONGDE, "week": WEEK},
    "reporting POST /v1/reports/weekly/review": lambda s: {"street": TONGDE, "week": WEEK, "decision": "accept"},
    "reporting POST /v1/spotchecks": lambda s: SAMPLE,
    "reporting POST /v1/spotchecks/{check_id}/results": lambda s: {"record_id": s.record_id, "result": "correct"},
    "reporting POST /v1/spotchecks/{check_id}/places": lambda s: place_check(s.id_number),
    "reporting POST /v1/campaigns": lambda s: CAMPAIGN,
    "reporting POST /v1/campaigns/{campaign_id}/areas": lambda s: AREAS,
    "reporting POST /v1/campaigns/{campaign_id}/areas/{area_id}/canvassed": lambda s: {"on": "2026-02-11"},
    "reporting POST /v1/campaigns/{campaign_id}/results": lambda s: {"street": TONGDE, "decision": "accept"},
    "reporting POST /v1/workers": lambda s: WORKERS,
    "reporting POST /v1/communities": lambda s: {"street": TONGDE, "communities": [{"code": f"{TONGDE}001"}]},
    "reporting PUT /v1/campaigns/{campaign_id}/areas/{area_id}/worker": lambda s: {"staff_id": WORKER["staff_id"]},
}
QUERY = {"week": WEEK, "street": TONGDE, "figure": "new_inflow"}  # given wherever a route takes them


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # None: not a valid key
    owns: frozenset[str]  # the owners its scope covers


EVERYTHING = frozenset({STREET, DISTRICT, DISTRICT_WIDE})
CALLERS = [  # the order matters: refused callers first, then the office answers before its bureau
    Caller("no key", None, frozenset()),
    Caller("malformed key", None, frozenset()),
    Caller("revoked key", None, frozenset()),
    Caller("another street's office", "office", frozenset({DISTRICT_WIDE})),  # Xinshi, also in Baiyun
    Caller("another district's bureau", "bureau", frozenset()),  # Tianhe
    Caller("street submitter", "submitter", frozenset({STREET, DISTRICT_WIDE})),
    Caller("district submitter", "submitter", EVERYTHING),
    Caller("street office", "office", frozenset({STREET, DISTRICT_WIDE})),
    Caller("bureau", "bureau", EVERYTHING),
    Caller("admin", "admin", EVERYTHING),
]
SCOPES = {
    "another street's office": f"street:{XINSHI}",
    "another district's bureau": f"district:{WUSHAN[:6]}",
    "street submitter": f"street:{TONGDE}",
    "district submitter": f"district:{BAIYUN}",
    "street office": f"street:{TONGDE}",
    "bureau": f"district:{BAIYUN}",
    "admin": "admin",
}


def allowed(rule: Rule, caller: Caller) -> bool:
    if rule.action is None:
        return True
    roles = rule.roles if rule.roles is not None else ROLES_FOR[rule.action]
    return caller.role in roles and (rule.owner is None or rule.owner in caller.owns)


async def mint_keys(system: System) -> dict[str, str | None]:
    keys: dict[str, str | None] = {"no key": None, "malformed key": "pf_not-a-key"}
    for caller in CALLERS:
        if caller.name in SCOPES:
            keys[caller.name] = await system.create_key(SCOPES[caller.name], role=caller.role)
    revoked = await system.create_key(f"street:{TONGDE}", role="office")
    await system.revoke_key(revoked)
    keys["revoked key"] = revoked
    return keys


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture(scope="module")
async def keys(system: System) -> dict[str, str | None]:
    return await mint_keys(system)


@pytest.fixture(scope="module")
async def seeds(system: System, keys: dict[str, str | None]) -> Seeds:
    office, bureau, admin = bearer(keys["street office"]), bearer(keys["bureau"]), bearer(keys["admin"])
    ours = record(sequence=201)  # reported by Tongde, living there
    for_us = record(reporting_street=XINSHI, residence_street=TONGDE, sequence=202)  # a transfer to Tongde
    odd = kafka.unchecked_submitted(record(residence_street="440111999", sequence=203))  # for the review queue
    topic = system.env["POPFLOW_TOPIC_PREFIX"] + RECORDS_SUBMITTED
    await kafka.publish(system.env["KAFKA_BOOTSTRAP_SERVERS"], topic, [odd])
    async with httpx.AsyncClient(timeout=20) as client:
        record_id = (await _ok(client.post(system.url("intake") + "/v1/records", json=ours, headers=office)))[
            "record_id"
        ]
        transfer = await _ok(client.post(system.url("intake") + "/v1/records", json=for_us, headers=admin))
        reporting = system.url("reporting")
        campaign_id = (await _ok(client.post(reporting + "/v1/campaigns", json=CAMPAIGN, headers=bureau)))[
            "campaign_id"
        ]
        areas = await _ok(client.post(f"{reporting}/v1/campaigns/{campaign_id}/areas", json=AREAS, headers=office))
        await _ok(client.post(f"{reporting}/v1/workers", json=WORKERS, headers=office))
        check_id = (await _ok(client.post(reporting + "/v1/spotchecks", json=SAMPLE, headers=bureau)))["check_id"]

        async def case_routed() -> bool:
            response = await client.get(system.url("routing") + f"/v1/cases/{record_id}", headers=admin)
            return response.status_code == 200

        async def notice_arrived() -> str | None:
            inbox = await _ok(client.get(system.url("notification") + f"/v1/inbox/{TONGDE}", headers=admin))
            found = [n["notice_id"] for n in inbox["notices"] if n["record_id"] == transfer["record_id"]]
            return found[0] if found else None

        async def in_review() -> bool:
            review = await _ok(client.get(system.url("routing") + "/v1/review", headers=admin))
            return odd.correlation_id in {item["record_id"] for item in review["items"]}

        async def folded() -> bool:  # reporting holds the record, so the place check finds the person
            query = {"street": TONGDE, "week": WEEK, "figure": "new_inflow"}
            items = await _ok(client.get(reporting + "/v1/reports/weekly/items", params=query, headers=admin))
            return record_id in {item["id"] for item in items["items"]}

        await eventually(case_routed)
        notice_id = await eventually(notice_arrived)
        await eventually(in_review)
        await eventually(folded)
        places = f"{reporting}/v1/spotchecks/{check_id}/places"
        await _ok(client.post(places, json=place_check(ours["person"]["id_number"]), headers=bureau))
    return Seeds(
        record_id=record_id,
        id_number=ours["person"]["id_number"],
        notice_id=notice_id,
        review_record_id=odd.correlation_id,
        campaign_id=campaign_id,
        area_id=areas["area_ids"][0],
        check_id=check_id,
        place_check_id=PLACE_CHECK_ID,
    )


async def _ok(request: Any) -> Any:
    response: httpx.Response = await request
    assert response.is_success, response.text
    return response.json()


def path_of(template: str, seeds: Seeds) -> str:
    values = {
        # the review queue's routes name the record waiting there
        "record_id": seeds.review_record_id if template.startswith("/v1/review/") else seeds.record_id,
        "notice_id": seeds.notice_id,
        "message_id": seeds.notice_id,
        "partner": "national-exchange",  # the default partners file's default: no keys
        "recipient_code": TONGDE,
        "campaign_id": seeds.campaign_id,
        "area_id": seeds.area_id,
        "check_id": seeds.check_id,
        "place_check_id": seeds.place_check_id,
        "row_id": "1",  # no row is set aside: an admin gets 404, everyone else no further
        "fmt": "csv",
        "name": "webhook-notice.schema.json",
    }
    return template.format(**values)


async def routes_of(client: httpx.AsyncClient, system: System) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(service, METHOD, path, operation) of every route in the four OpenAPI documents, in their order."""
    found = []
    for service in SERVICES:
        document = (await client.get(system.url(service) + "/openapi.json")).json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                found.append((service, method.upper(), path, operation))
    return found


def verdict(rule: Rule, caller: Caller, response: httpx.Response, seeds: Seeds) -> str | None:
    """What is wrong with `response` for this caller; None when it is the expected class."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    granted = response.is_success and (rule.sees is None or rule.sees(response.json(), seeds))
    if rule.partner_only:  # unsigned: refused whatever key comes with it
        return None if status in (400, 401, 403, 422) else f"expected a refusal of the unsigned call, got {status}"
    if allowed(rule, caller):
        return None if granted or status in rule.also else f"allowed, got {status}"
    if caller.role is None:
        return None if status == 401 else f"expected 401, got {status}"
    if granted:
        return f"refused caller got {status} with access"
    return None if status in (403, 404) or response.is_success else f"expected 403/404, got {status}"


async def test_every_route_answers_every_caller_as_its_role_and_scope_say(
    system: System, keys: dict[str, str | None], seeds: Seeds
) -> None:
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=20) as client:
        routes = await routes_of(client, system)
        listed = {f"{service} {method} {path}" for service, method, path, _ in routes}
        assert listed - ACCESS.keys() == set(), "routes without an entry in ACCESS: decide who may call them"
        assert ACCESS.keys() - listed == set(), "entries in ACCESS for routes that no longer exist"
        for service, method, path, operation in routes:
            route = f"{service} {method} {path}"
            rule = ACCESS[route]
            query = {
                p["name"]: QUERY[p["name"]]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p["name"] in QUERY
            }
            sheet = SHEETS.get(route)
            body = BODIES[route](seeds) if "requestBody" in operation and sheet is None else None
            for caller in CALLERS:
                response = await client.request(
                    method,
                    system.url(service) + path_of(path, seeds),
                    params=query,
                    json=body,
                    content=sheet.encode() if sheet else None,
                    headers=bearer(keys[caller.name]) | ({"content-type": "text/csv"} if sheet else {}),
                )
                if (problem := verdict(rule, caller, response, seeds)) is not None:
                    problems.append(f"{route} as {caller.name}: {problem}: {response.text[:200]}")
    assert problems == [], "\n".join(problems)


async def test_the_dashboard_lets_in_bureau_and_admin_keys_only(system: System, keys: dict[str, str | None]) -> None:
    """Not in the OpenAPI documents (HTML pages), so checked here by hand."""
    base = system.url("reporting") + "/dashboard"
    async with httpx.AsyncClient(timeout=20) as client:
        for caller in CALLERS:
            key = keys[caller.name]
            client.cookies.clear()
            form = await client.get(base + "/login")  # sets the login form's CSRF cookie
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None, form.text[:300]
            login = await client.post(base + "/login", data={"key": key or "", "csrf": token[1]})
            page = await client.get(base, params={"district": BAIYUN}, headers=bearer(key))
            logs_in = caller.role in ("bureau", "admin")  # any bureau logs in, and sees only its district
            sees = logs_in and DISTRICT in caller.owns
            refused = 303 if caller.role is None else 403  # no valid key: back to the login form
            expected = (303 if logs_in else 401, 200 if sees else refused)
            assert (login.status_code, page.status_code) == expected, caller.name


async def test_the_api_docs_load_with_no_key_and_nothing_from_another_host(system: System) -> None:
    """/docs and /redoc are public, as /openapi.json is, and load their scripts and styles from the service
    itself: on an office's closed network a CDN's Swagger UI left the page blank."""
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            base = system.url(service)
            for page in ("/docs", "/redoc"):
                html = await client.get(base + page)
                assert html.status_code == 200, (service, page)
                linked = re.findall(r'(?:src|href)="([^"]+)"', html.text)
                assert linked, (service, page)
                assert not [url for url in linked if "//" in url], (service, page, linked)
                for url in linked:
                    asset = await client.get(base + url)
                    assert asset.status_code == 200, (service, url)
                    assert len(asset.content) > 1000, (service, url)

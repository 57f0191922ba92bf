"""The campaign week `popflow demo` plays against a running PopFlow, one step per function.

Every step goes through the services' public HTTP routes with the key the
demo is given (an admin key: it plans the campaign and submits for every
street). The streets answer their notices with keys of their own offices
(`office_keys`), minted in the key store for the demo and revoked at its end,
so an answer is recorded as given by that street's office; when the demo
cannot reach the deployment's key store it answers with the admin key and
says so.
"""

from __future__ import annotations

import io
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from faker import Faker
from openpyxl import Workbook

from services.cli.demo_records import demo_community, demo_records
from shared.directory import DivisionDirectory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A department's own columns, in its own words (intake reads the Chinese headers).
DEPARTMENT_COLUMNS = (
    ("事件类型", lambda r: "新流入"),
    ("身份证号", lambda r: r["person"]["id_number"]),
    ("姓名", lambda r: r["person"]["name"]),
    ("现居住街道", lambda r: r["residence"]["street"]),
    ("现居住地址", lambda r: r["residence"]["address"]),
    ("户籍地", lambda r: r["registration"]["division"]),
    ("报告街道", lambda r: r["reporting_street"]),
    ("发现时间", lambda r: r["observed_at"]),
)
DEPARTMENTS = (("学校", "school"), ("幼儿园", "kindergarten"), ("派出所", "police_station"))
KEY_AREAS = (("market", "农贸市场"), ("rental_housing", "出租屋片区"), ("enterprise", "工业园"))


@dataclass(frozen=True)
class Services:
    intake: str
    notification: str
    reporting: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def plan_campaign(
    client: httpx.Client, at: Services, district: str, streets: list[str], today: date, week_begun_on: date
) -> str:
    """A campaign of the district (target: married women 15-49) with key areas of a few streets, some canvassed.

    The areas are planned and canvassed on the day the report week under way began (`week_begun_on`, its Friday):
    the dashboard counts them in the week their dates fall in, and six days before today was most often last week.
    """
    start = min(today - timedelta(days=6), week_begun_on)
    body = {
        "name": f"{start.year} 年流动人口清查（演示）",
        "district": district,
        "phases": [
            {"name": "mobilisation", "starts_on": str(start - timedelta(days=3)), "ends_on": str(start - timedelta(1))},
            {"name": "canvass", "starts_on": str(start), "ends_on": str(start + timedelta(days=34))},
            {"name": "acceptance", "starts_on": str(start + timedelta(35)), "ends_on": str(start + timedelta(45))},
        ],
        "target": {"sexes": ["female"], "min_age": 15, "max_age": 49, "marital_statuses": ["married"]},
    }
    campaign_id = str(_ok(client.post(f"{at.reporting}/v1/campaigns", json=body, headers=at.headers))["campaign_id"])
    for number, street in enumerate(streets, start=1):
        staff = keep_register(client, at, street)
        areas = [
            {
                "kind": kind,
                "name": f"{label}{number}",
                "address": f"演示路 {number} 号",
                "planned_on": str(week_begun_on),
                "staff_id": staff[n] if n < len(staff) else None,  # the last area has nobody responsible yet
            }
            for n, (kind, label) in enumerate(KEY_AREAS)
        ]
        url = f"{at.reporting}/v1/campaigns/{campaign_id}/areas"
        ids = _ok(client.post(url, json={"street": street, "areas": areas}, headers=at.headers))["area_ids"]
        done = f"{url}/{ids[0]}/canvassed"
        _ok(client.post(done, json={"on": str(week_begun_on)}, headers=at.headers))
    return campaign_id


def keep_register(client: httpx.Client, at: Services, street: str) -> list[str]:
    """A street's two community workers and its communities, uploaded as the CSV sheet an office keeps:
    001 and 002 are the first worker's, 003 the second's; 004 (in the records only) has nobody responsible."""
    fake = Faker("zh_CN")
    fake.seed_instance(int(street))
    staff = [f"S{street[-3:]}{n:02d}" for n in (1, 2)]
    lines = ["社区代码,社区名称,责任人工号,责任人"]
    for number, (staff_id, named) in enumerate(((staff[0], True), (staff[0], False), (staff[1], True)), start=1):
        name = fake.name() if named else ""
        lines.append(f"{demo_community(street, number)},演示{number}社区,{staff_id},{name}")
    response = client.post(
        f"{at.reporting}/v1/communities/sheet",
        params={"street": street},
        content="\r\n".join(lines).encode("utf-8-sig"),
        headers=at.headers | {"Content-Type": "text/csv"},
    )
    _ok(response)
    return staff


def department_lists(
    directory: DivisionDirectory, district: str, seed: int, since: Any
) -> Iterable[tuple[str, bytes, int]]:
    """(department, XLSX bytes, rows) of a school's, a kindergarten's and a police station's list of newcomers;
    each list has one row with a mistyped identity number, as real lists do."""
    for offset, (label, _) in enumerate(DEPARTMENTS):
        people = demo_records(8, directory, district=district, seed=seed + 100 + offset, since=since)
        book = Workbook()
        sheet = book.active
        sheet.append([header for header, _ in DEPARTMENT_COLUMNS] + ["来源"])
        for person in people:
            sheet.append([cell(person) for _, cell in DEPARTMENT_COLUMNS] + [label])
        sheet.cell(row=2, column=2).value = _mistyped(str(sheet.cell(row=2, column=2).value))
        buffer = io.BytesIO()
        book.save(buffer)
        yield label, buffer.getvalue(), len(people)


def post_list(client: httpx.Client, at: Services, body: bytes) -> dict[str, int]:
    response = client.post(
        f"{at.intake}/v1/records/bulk", content=body, headers=at.headers | {"Content-Type": XLSX}, timeout=120
    )
    summary: dict[str, int] = _ok(response)["summary"]
    return summary


def works_for(client: httpx.Client, at: Services, key: str, street: str) -> bool:
    """Whether `key` opens `street`'s inbox on this deployment (a key minted in another store would not)."""
    response = client.get(f"{at.notification}/v1/inbox/{street}", headers={"Authorization": f"Bearer {key}"})
    return response.status_code == 200


def answer_notices(
    client: httpx.Client, at: Services, streets: Iterable[str], *, wait_s: float, answering_key: str | None = None
) -> int:
    """Each street answers about two thirds of the notices waiting for it (mostly confirmed, some not found);
    the rest stay unanswered, as in a real week. Waits up to `wait_s` for the notices to arrive."""
    pick, answered, deadline = random.Random(3), 0, time.monotonic() + wait_s
    for street in streets:
        waiting = _waiting(client, at, street)
        while not waiting and time.monotonic() < deadline:
            time.sleep(1)
            waiting = _waiting(client, at, street)
        for notice in waiting:
            if pick.random() < 0.66:
                result = "not_found" if pick.random() < 0.15 else "confirmed"
                body = {"result": result, "note": "演示：已上门核实" if result == "confirmed" else "演示：查无此人"}
                url = f"{at.notification}/v1/notices/{notice['notice_id']}/feedback"
                headers = {"Authorization": f"Bearer {answering_key}"} if answering_key else at.headers
                answered += client.post(url, json=body, headers=headers).status_code == 202
    return answered


def acceptance_checks(
    client: httpx.Client,
    at: Services,
    district: str,
    week: str,
    today: date,
    records: list[dict[str, Any]],
    newcomer: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The bureau's acceptance round: a sample checked in the field (mostly correct, some wrong, one not
    found) and a place check at a market that finds one recorded person and one the census missed."""
    draw = {"district": district, "seed": f"demo-{week}", "size_per_street": 3, "week_from": week, "week_to": week}
    drawn = _ok(client.post(f"{at.reporting}/v1/spotchecks", json=draw, headers=at.headers))
    check_id, pick = str(drawn["check_id"]), random.Random(5)
    sampled = [record_id for ids in drawn["sample"].values() for record_id in ids]
    for number, record_id in enumerate(sampled):
        result = "not_found" if number == 0 else "wrong" if number == 1 or pick.random() < 0.15 else "correct"
        body = {"record_id": record_id, "result": result, "note": "演示：实地核查"}
        _ok(client.post(f"{at.reporting}/v1/spotchecks/{check_id}/results", json=body, headers=at.headers))
    recorded = next(r for r in records if r["event"] == "new_inflow")
    # the recorded person's details too: should reporting not hold them yet, they are entered, not refused
    persons = [{key: r[key] for key in ("person", "residence", "registration")} for r in (recorded, newcomer)]
    body = {
        "place_check_id": str(uuid.uuid4()),
        "street": recorded["reporting_street"],
        "place": {"kind": "market", "name": "农贸市场（演示）", "address": "演示路 1 号"},
        "checked_on": str(today),
        "checker": "区局验收组（演示）",
        "persons": persons,
    }
    return check_id, _ok(client.post(f"{at.reporting}/v1/spotchecks/{check_id}/places", json=body, headers=at.headers))


def _waiting(client: httpx.Client, at: Services, street: str) -> list[dict[str, Any]]:
    response = client.get(f"{at.notification}/v1/inbox/{street}", params={"limit": 500}, headers=at.headers)
    notices = _ok(response)["notices"]
    return [n for n in notices if n.get("answer_expected") and n.get("status") != "answered"]


def _mistyped(id_number: str) -> str:
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise DemoStepFailed(refusal(response))
    return response.json()


def refusal(response: httpx.Response) -> str:
    """The refused step as a newcomer can act on it: the service's address (a moved port left at its default
    reaches another deployment, whose 401 alone reads as a bad key) and the problem's title and detail, which
    name no record's data; its list of fields is left out."""
    url = response.request.url
    said = f"{response.request.method} {url.scheme}://{url.netloc.decode()}{url.path}: {response.status_code}"
    try:
        problem = response.json()
    except ValueError:
        return said
    if not isinstance(problem, dict):
        return said
    words = [str(problem[k]) for k in ("title", "detail") if isinstance(problem.get(k), str)]
    return f"{said} {': '.join(words)[:300]}".rstrip()


class DemoStepFailed(RuntimeError):
    """A service refused a demo step; the message names the service's URL, the status and the problem's
    title and detail, never a record's data."""

"""Odd but plausible values in every field of every route of the four services: never a 5xx.

Schemathesis (test_fuzz.py) draws values from each schema and never writes the
kind that broke these services before: half of a UTF-16 pair, a day at the
calendar's ends, a number Python will not read, full-width digits in a code,
JSON nested ten thousand deep. Here every operation of each service's
/openapi.json, read from the running service, gets the request the access
matrix makes of it (its seeds and bodies; that request answered as the matrix
expects) and then, one field at a time, that request with the field replaced
by each value of fixed lists: a path, query or header parameter, a place in the
JSON body (the body itself, every member, the first item of every array, absent
optional members included), a column of an uploaded sheet. A 2xx or a 4xx is
fine; a 5xx, a dropped connection or no answer is collected, and one assertion
lists them all, with two checks of what the values left behind: a good record
still goes all the way through (routed, filed, counted), and no service
dead-lettered anything.

The rows of a bulk body or a sheet are independent, so all values for one field
travel as the rows of one request; when that request fails (or is refused as a
whole) its rows are sent alone, to name the value. The requests of one resource
go one after another, in the same order every run, and nothing is random: a
failure here fails the same way next time.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from services.reporting.adapters.sheet_files import MAX_CELL, XLSX
from services.reporting.domain.weeks import report_week_of
from shared.http.problems import json_pointer
from shared.topics import DEAD_LETTER
from tests.e2e import test_access_matrix as matrix
from tests.support.bulk_files import table, workbook_bytes
from tests.support.kafka import read_raw
from tests.support.odd_values import (
    ARABIC_INDIC,
    CELLS,
    DAYS,
    DEVANAGARI,
    DOCUMENT,
    FULL_WIDTH,
    GOOD_FORMATS,
    GOOD_TEXTS,
    NUMBER_TEXTS,
    NUMBERS,
    STRUCTURES,
    TEXTS,
    UNWRITABLE,
    WHOLE,
)
from tests.support.records import TONGDE, XINSHI, full_record, record
from tests.support.system import SERVICES, System
from tests.support.waiting import eventually

keys, seeds = matrix.keys, matrix.seeds  # the access matrix's fixtures: its keys and the things its routes name

Pointer = tuple[str | int, ...]
Node = dict[str, Any]


def any_number_of_times(sequence: int) -> dict[str, Any]:
    """A full record (a woman's: even `sequence`) without an external id, which would make every
    changed copy of it a conflict with the first rather than a record of its own."""
    return {name: value for name, value in full_record(sequence=sequence).items() if name != "external_id"}


BODIES: dict[str, Callable[[matrix.Seeds], Any]] = matrix.BODIES | {  # every optional part present, valid
    "intake POST /v1/records": lambda s: any_number_of_times(232),
    "intake POST /v1/records/bulk": lambda s: [any_number_of_times(234)],
    "notification POST /v1/notices/{notice_id}/feedback": lambda s: {
        "result": "corrected",
        "corrections": {"residence_street": XINSHI},
    },
}
SCOPED = frozenset({"street", "district", "recipient_code"})  # parameters sent with a street office's key too
CONCURRENCY = 6  # lanes at a time (see `lane`)
RETRIES, RETRY_PAUSE_S = 3, 2.0  # for a 503 with Retry-After: the store busy, not the value


def _sheets() -> dict[str, tuple[list[str], list[str]]]:
    """(header, a good line) of every route that takes a sheet: the matrix's registers and a bulk CSV."""
    found = {route: tuple(csv.reader(io.StringIO(text))) for route, text in matrix.SHEETS.items()}
    header, rows = table([any_number_of_times(236)], "chinese")
    return {route: (list(header), list(row)) for route, (header, row) in found.items()} | {
        "intake POST /v1/records/bulk": (header, [str(cell) for cell in rows[0]])
    }


SHEETS = _sheets()


@dataclass(frozen=True, slots=True)
class Operation:
    service: str
    method: str
    path: str
    spec: Node
    components: Node
    base: str
    auth: tuple[tuple[bytes, bytes], ...]

    @property
    def route(self) -> str:
        return f"{self.service} {self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Probe:
    """One request, and what it carries where."""

    route: str
    where: str
    value: str
    method: str
    url: str
    headers: tuple[tuple[bytes, bytes], ...]
    content: bytes | None = None
    alone: Callable[[], list[Probe]] | None = field(default=None, compare=False)  # a packed probe's rows


def concrete(schema: Node, components: Node) -> Node:
    """The schema a value must meet: its $ref followed, the null of an anyOf left out."""
    while "$ref" in schema or "anyOf" in schema:
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        else:
            schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
    return schema


def example(schema: Node, components: Node) -> Any:
    """A valid value for a schema the matrix's bodies leave out (required members only)."""
    node = concrete(schema, components)
    kind = node.get("type")
    if "enum" in node:
        return node["enum"][0]
    if kind == "object":
        required = node.get("required", ())
        return {k: example(v, components) for k, v in node.get("properties", {}).items() if k in required}
    if kind in ("array", "boolean"):
        return [] if kind == "array" else False
    if kind in ("integer", "number"):
        return max(int(node.get("minimum", 1)), 1)
    if node.get("format") in GOOD_FORMATS:
        return GOOD_FORMATS[node["format"]]
    return next((t for t in GOOD_TEXTS if re.search(node.get("pattern", ""), t)), "transfer")


def holds_a_day(node: Node, name: str) -> bool:
    return node.get("format") in ("date", "date-time") or "-W[" in node.get("pattern", "") or name in ("week", "since")


def value_at(body: Any, at: Pointer) -> Any:
    for part in at:
        body = body[part]
    return body


def put(body: Any, at: Pointer, value: Any) -> Any:
    """A copy of `body` with `value` at `at` (an array grows by one at its end)."""
    copied = copy.deepcopy(body)
    parent = value_at(copied, at[:-1])
    if isinstance(parent, list) and at[-1] == len(parent):
        parent.append(value)
    else:
        parent[at[-1]] = value
    return copied


def places(schema: Node, body: Any, components: Node, at: Pointer = ()) -> Iterator[tuple[Pointer, Node, Any]]:
    """(pointer, schema, the body to put a value into) for the body and every place in it; an absent
    member or an empty array gets a valid value first, so that what lies inside it is reached too."""
    node = concrete(schema, components)
    yield at, node, body
    here = value_at(body, at)
    if isinstance(here, dict):
        members = dict(node.get("properties", {}))
        if isinstance(extra := node.get("additionalProperties"), dict):
            members |= {name: extra for name in here if name not in members}
        for name, member in members.items():
            filled = body if name in here else put(body, (*at, name), example(member, components))
            yield from places(member, filled, components, (*at, name))
    elif isinstance(here, list) and "items" in node:
        filled = body if here else put(body, (*at, 0), example(node["items"], components))
        yield from places(node["items"], filled, components, (*at, 0))


def variants(good: str) -> list[tuple[str, str]]:
    """The field's good text made odd, in the ways a check of its shape may let through."""
    found = [
        *(("good + LF", good + "\n"), ("good, padded", f" {good} "), ("good + NUL", good + "\x00")),
        *(("good + half an emoji", good + "\ud83d"), ("good + combining mark", good + "\u0301")),
        *(("RLM + good", "\u200f" + good), ("good, upper-cased", good.upper())),
        ("good in full-width digits", good.translate(FULL_WIDTH)),
        ("good in Arabic-Indic digits", good.translate(ARABIC_INDIC)),
        ("good in Devanagari digits", good.translate(DEVANAGARI)),
    ]
    return [(label, text) for label, text in found if text != good]


def holds_a_number(node: Node) -> bool:
    return node.get("type") in ("integer", "number", "boolean")


def texts_for(node: Node, name: str, good: Any) -> list[tuple[str, str]]:
    """Odd texts for a field or parameter: every kind, its good value made odd, numbers or days where it holds one."""
    found = TEXTS + variants(good if isinstance(good, str) else json.dumps(good))
    if holds_a_number(node):
        found += NUMBER_TEXTS
    if holds_a_day(node, name):
        found += [(day, day) for day in DAYS]
    return found


def fragments(node: Node, at: Pointer, good: Any) -> list[tuple[str, str]]:
    """(label, raw JSON text) for one place of a body."""
    name = at[-1] if at else None
    found = STRUCTURES + (DOCUMENT if len(at) <= 1 else [])
    if node.get("type") not in ("object", "array"):
        found += [(f'"{label}"', json.dumps(text)) for label, text in texts_for(node, str(name), good)]
    if holds_a_number(node):
        found += NUMBERS
    if isinstance(good, int | float) and not isinstance(good, bool):
        found += [("the good number as a float", json.dumps(float(good))), ("the good number + 0.5", str(good + 0.5))]
    if isinstance(name, str):  # a member: its name twice, the good value first or last
        good_json, name_json = json.dumps(good), json.dumps(name)
        found += [("member twice, null last", f"{good_json}, {name_json}: null")]
        found += [("member twice, null first", f"null, {name_json}: {good_json}")]
    return found


SLOT = "\x00odd value\x00"


def with_value(body: Any, at: Pointer, fragment: str) -> str:
    """`body` as JSON text with the raw JSON `fragment` at `at`."""
    return json.dumps(put(body, at, SLOT)).replace(json.dumps(SLOT), fragment, 1) if at else fragment


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate goes as its three bytes, ED A0 80


def pointer(at: Pointer) -> str:
    return json_pointer(at) or "(the whole body)"


def sendable(value: bytes) -> bool:
    """What a header may carry at all (the client refuses the rest): no control but tab, no space at an end."""
    return value == value.strip(b" \t") and re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value) is None


def csv_text(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return encoded(out.getvalue())


def in_a_cell(value: object) -> bool:
    return not (isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value))  # openpyxl refuses these


def url_of(op: Operation, seeds: matrix.Seeds, query: dict[str, str], odd: tuple[str, str] | None = None) -> str:
    """The operation's URL: the seeds in its path (or `odd` = (name, text) in one place), `query` percent-encoded."""
    template = op.path if odd is None else op.path.replace(f"{{{odd[0]}}}", SLOT)
    path = matrix.path_of(template, seeds)
    if odd is not None:
        path = path.replace(SLOT, quote(encoded(odd[1]), safe=""))
    text = "&".join(f"{quote(name)}={quote(encoded(value), safe='')}" for name, value in query.items())
    return op.base + path + (f"?{text}" if text else "")


def good_query(op: Operation) -> dict[str, str]:
    parameters = op.spec.get("parameters", [])
    return {p["name"]: matrix.QUERY[p["name"]] for p in parameters if p["in"] == "query" and p["name"] in matrix.QUERY}


def good_body(op: Operation, seeds: matrix.Seeds) -> tuple[bytes, bytes] | None:
    """(media type, content) of the operation's good body, if it takes one."""
    content = op.spec.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return b"application/json", encoded(json.dumps(json_body(op, seeds)))
    if op.route in SHEETS:
        header, good = SHEETS[op.route]
        return b"text/csv", csv_text(header, [good])
    return None


def json_body(op: Operation, seeds: matrix.Seeds) -> Any:
    if op.route in BODIES:
        return BODIES[op.route](seeds)
    return example(op.spec["requestBody"]["content"]["application/json"]["schema"], op.components)


def probe(
    op: Operation,
    where: str,
    value: str,
    url: str,
    *,
    body: tuple[bytes, bytes] | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    alone: Callable[[], list[Probe]] | None = None,
) -> Probe:
    media = ((b"content-type", body[0]),) if body else ()
    content = body[1] if body else None
    return Probe(op.route, where, value, op.method, url, op.auth + media + headers, content, alone)


def good_request(op: Operation, seeds: matrix.Seeds) -> Probe:
    return probe(op, "(nothing)", "the good request", url_of(op, seeds, good_query(op)), body=good_body(op, seeds))


def parameter_probes(op: Operation, seeds: matrix.Seeds, office: Operation) -> Iterator[Probe]:
    """Each parameter with each odd text; a street or district code also made odd under a street office's
    key, whose scope is checked against it."""
    query, body = good_query(op), good_body(op, seeds)
    for parameter in op.spec.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        node = concrete(parameter["schema"], op.components)
        good = query.get(name) or (matrix.path_of(f"{{{name}}}", seeds) if where == "path" else None)
        good = good or example(node, op.components)
        callers = [(op, "", texts_for(node, name, good))]
        if name in SCOPED:
            callers.append((office, " (office key)", variants(good)))
        for caller, whose, texts in callers:
            for label, text in texts:
                at = f"{where} {name}{whose}"
                if where == "header" and sendable(encoded(text)):
                    headers = ((name.encode(), encoded(text)),)
                    yield probe(caller, at, label, url_of(op, seeds, query), body=body, headers=headers)
                elif where == "path":
                    yield probe(caller, at, label, url_of(op, seeds, query, (name, text)), body=body)
                elif where == "query":
                    yield probe(caller, at, label, url_of(op, seeds, query | {name: text}), body=body)


def body_probes(op: Operation, seeds: matrix.Seeds) -> Iterator[Probe]:
    """Each place of the JSON body with each odd value; a bulk body's rows packed per place."""
    content = op.spec.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return
    schema, url = content["application/json"]["schema"], url_of(op, seeds, good_query(op))
    rows = concrete(schema, op.components).get("type") == "array"
    for at, node, body in places(schema, json_body(op, seeds), op.components):
        odd = fragments(node, at, value_at(body, at))
        if rows and at:
            lines = [(label, with_value(body[0], at[1:], fragment)) for label, fragment in odd]
            yield from row_probes(op, url, f"body {pointer(at)}", lines, "application/x-ndjson" in content)
            continue
        for label, fragment in odd:
            yield probe(
                op,
                f"body {pointer(at)}",
                label,
                url,
                body=(b"application/json", encoded(with_value(body, at, fragment))),
            )


def row_probes(op: Operation, url: str, where: str, rows: list[tuple[str, str]], ndjson: bool) -> Iterator[Probe]:
    """A bulk body's rows as one JSON array (and as NDJSON)."""
    yield from packed(op, url, f"{where} (JSON)", b"application/json", json_array, rows, spoils_json)
    if ndjson:
        yield from packed(op, url, f"{where} (NDJSON)", b"application/x-ndjson", json_lines, rows, spoils_json)


def spoils_json(label: str, _: str) -> bool:
    return label in WHOLE


def json_array(rows: list[str]) -> bytes:
    return encoded("[" + ",".join(rows) + "]")


def json_lines(rows: list[str]) -> bytes:
    return encoded("".join(row + "\n" for row in rows))


def packed(
    op: Operation,
    url: str,
    where: str,
    media: bytes,
    join: Callable[[list[Any]], bytes],
    rows: list[tuple[str, Any]],
    spoils: Callable[[str, Any], bool],
) -> Iterator[Probe]:
    """The rows in one request, but those that `spoils` the whole file one per request; the packed request's
    `alone` has each row by itself, to name the value when that request fails."""
    together = [(label, row) for label, row in rows if not spoils(label, row)]

    def alone() -> list[Probe]:
        return [probe(op, where, label, url, body=(media, join([row]))) for label, row in together]

    body = (media, join([row for _, row in together]))
    yield probe(op, where, f"{len(together)} values, a row each", url, body=body, alone=alone)
    for label, row in rows:
        if spoils(label, row):
            yield probe(op, where, label, url, body=(media, join([row])))


def sheet_probes(op: Operation, seeds: matrix.Seeds) -> Iterator[Probe]:
    """Each column of an uploaded sheet (CSV, and XLSX with typed cells too), its odd values a line each."""
    content = op.spec.get("requestBody", {}).get("content", {})
    if op.route not in SHEETS or "text/csv" not in content:
        return
    header, good = SHEETS[op.route]
    url = url_of(op, seeds, good_query(op))
    for column, cell in enumerate(good):
        values: list[tuple[str, object]] = [*TEXTS, *variants(cell), *((day, day) for day in DAYS)]
        lines = [(label, [*good[:column], value, *good[column + 1 :]]) for label, value in values]
        where = f"column {header[column]}"
        yield from packed(op, url, f"CSV {where}", b"text/csv", lambda rows: csv_text(header, rows), lines, unwritable)
        if XLSX in content:
            typed = [(label, [*good[:column], value, *good[column + 1 :]]) for label, value in CELLS]
            cells = [(label, line) for label, line in lines + typed if all(in_a_cell(value) for value in line)]
            yield from packed(
                op, url, f"XLSX {where}", XLSX.encode(), lambda rows: workbook_bytes(header, rows), cells, unwritable
            )


def unwritable(_: str, line: list[Any]) -> bool:
    """What a file cannot hold (half a character: no UTF-8, no XML; U+FFFF: no XML) or a register refuses
    as a whole (a cell over its limit): such a line goes in a file of its own."""
    return any(isinstance(cell, str) and (UNWRITABLE.search(cell) or len(cell) > MAX_CELL) for cell in line)


def named_lines(response: httpx.Response) -> set[int]:
    """The lines a refused sheet's 422 names (/lines/<line>/<field>): the others passed."""
    if response.status_code != 422 or "json" not in response.headers.get("content-type", ""):
        return set()
    pointers = [error.get("pointer", "") for error in response.json().get("errors", [])]
    return {int(found[1]) for pointer in pointers if (found := re.match(r"/lines/(\d+)/", pointer))}


async def answer(client: httpx.AsyncClient, probe: Probe) -> httpx.Response | str:
    """The answer, or why there is none; a 503 that asks to retry later (the store busy) is retried."""
    for attempt in range(RETRIES + 1):
        try:
            response = await client.request(probe.method, probe.url, headers=list(probe.headers), content=probe.content)
        except httpx.TimeoutException:
            return "no answer in time"
        except httpx.HTTPError as error:
            return f"no answer: {error!r}"
        if response.status_code != 503 or "retry-after" not in response.headers or attempt == RETRIES:
            return response
        await asyncio.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")


async def problems_of(client: httpx.AsyncClient, probe: Probe) -> list[str]:
    """What is wrong with the answer to `probe` (a 5xx, no answer), one line each; a packed probe refused
    or failing is sent again row by row, so that the line names the value."""
    response = await answer(client, probe)
    if isinstance(response, str):
        problem: str | None = response
    else:
        problem = f"{response.status_code} {response.text[:300]!r}" if response.status_code >= 500 else None
    if probe.alone is not None and (problem or (not isinstance(response, str) and not response.is_success)):
        named = named_lines(response) if isinstance(response, httpx.Response) else set()
        alone = [row for line, row in enumerate(probe.alone(), start=2) if line not in named]  # line 1: the header
        rows = [await problems_of(client, row) for row in alone]
        if any(rows) or problem is None:
            return [line for found in rows for line in found]
    return [] if problem is None else [f"{probe.route} | {probe.where} | {probe.value} | {problem}"]


def lane(probe: Probe) -> str:
    """Routes of one resource share their state (a week's sign-off, a campaign's results): one lane."""
    service, _, path = probe.route.split(" ", 2)
    return f"{service} {path.split('/')[2] if path.startswith('/v1/') else path}"


async def sweep(client: httpx.AsyncClient, probes: list[Probe]) -> list[str]:
    """Every probe, those of a lane one after another (what one leaves, the next meets, in the same order
    every run), CONCURRENCY lanes at a time, the longest first."""
    lanes: dict[str, list[Probe]] = {}
    for probe in probes:
        lanes.setdefault(lane(probe), []).append(probe)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def run(its: list[Probe]) -> list[str]:
        async with slots:
            return [line for probe in its for line in await problems_of(client, probe)]

    found = await asyncio.gather(*(run(its) for its in sorted(lanes.values(), key=len, reverse=True)))
    return [line for lines in found for line in lines]


async def good_requests_answered(client: httpx.AsyncClient, ops: list[Operation], seeds: matrix.Seeds) -> list[str]:
    """The request every probe of an operation departs from, answered to the admin as the access matrix
    expects (2xx, or the 404/409 it names): the odd values meet a route past its doors."""
    admin = next(caller for caller in matrix.CALLERS if caller.name == "admin")
    problems = []
    for op in ops:
        response = await answer(client, good := good_request(op, seeds))
        if isinstance(response, str):
            wrong: str | None = response
        elif (rule := matrix.ACCESS.get(op.route)) is None:
            wrong = f"{response.status_code}" if response.status_code >= 500 else None
        else:
            wrong = matrix.verdict(rule, admin, response, seeds)
        if wrong is not None:
            body = response.text[:300] if isinstance(response, httpx.Response) else ""
            problems.append(f"{op.route} | {good.where} | {good.value} | {wrong} {body!r}")
    return problems


async def still_carried_through(client: httpx.AsyncClient, system: System, admin: dict[str, str]) -> list[str]:
    """After the sweep, a good record from Tongde about a Xinshi resident: routed, its notice filed,
    counted by reporting. A service whose consumer choked on something the sweep left is named."""
    seen = datetime.now(UTC) - timedelta(minutes=5)
    fresh = record(reporting_street=TONGDE, residence_street=XINSHI, sequence=241, observed_at=seen.isoformat())
    posted = await client.post(system.url("intake") + "/v1/records", json=fresh, headers=admin)
    if posted.status_code != 202:
        return [f"after the sweep | intake | a good record | {posted.status_code} {posted.text[:300]!r}"]
    record_id = posted.json()["record_id"]
    inbox = f"{system.url('notification')}/v1/inbox/{XINSHI}"
    items = system.url("reporting") + "/v1/reports/weekly/items"
    query = {"street": TONGDE, "week": report_week_of(seen, ZoneInfo("Asia/Shanghai")), "figure": "new_inflow"}

    async def routed() -> bool:
        return (await client.get(f"{system.url('routing')}/v1/cases/{record_id}", headers=admin)).is_success

    async def listed(url: str, params: dict[str, str], listing: str, key: str) -> bool:
        response = await client.get(url, params=params, headers=admin)
        return response.is_success and record_id in {item[key] for item in response.json()[listing]}

    async def taken_up(service: str, check: Callable[[], Awaitable[bool]]) -> list[str]:
        try:
            await eventually(check, within=60)
        except AssertionError:
            return [f"after the sweep | {service} | a good record | never taken up (see its log)"]
        return []

    found = await asyncio.gather(
        taken_up("routing", routed),
        taken_up("notification", lambda: listed(inbox, {"since": seen.isoformat()}, "notices", "record_id")),
        taken_up("reporting", lambda: listed(items, query, "items", "id")),
    )
    return [line for lines in found for line in lines]


async def dead_letters(system: System) -> list[str]:
    """What a service set aside as never processable: a value the door let through that no one behind it
    can handle (the record accepted, then never routed or counted)."""
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    return [
        f"dead letter | from {headers.get('source_topic', '').removeprefix(prefix)} | {headers.get('error_type')}"
        f" | {headers.get('error')}"
        for _, headers in await read_raw(system.env["KAFKA_BOOTSTRAP_SERVERS"], prefix + DEAD_LETTER)
    ]


async def operations(client: httpx.AsyncClient, system: System, admin: str) -> list[Operation]:
    """Every operation of the four services' OpenAPI documents, as served, with the admin's key."""
    found = []
    auth = ((b"authorization", f"Bearer {admin}".encode()),)
    for service in SERVICES:
        document = (await client.get(system.url(service) + "/openapi.json")).json()
        components = document.get("components", {}).get("schemas", {})
        for path, item in document["paths"].items():
            for method, spec in item.items():
                found.append(Operation(service, method.upper(), path, spec, components, system.url(service), auth))
    return found


async def test_no_odd_value_in_any_field_of_any_route_is_answered_with_a_5xx(
    system: System, keys: dict[str, str | None], seeds: matrix.Seeds
) -> None:
    admin, office = keys["admin"], keys["street office"]
    assert admin is not None
    assert office is not None
    office_auth = ((b"authorization", f"Bearer {office}".encode()),)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        ops = await operations(client, system, admin)
        problems = await good_requests_answered(client, ops, seeds)
        probes: list[Probe] = []
        for op in ops:
            probes += parameter_probes(op, seeds, replace(op, auth=office_auth))
            probes += body_probes(op, seeds)
            probes += sheet_probes(op, seeds)
        takes_values = {op.route for op in ops if "parameters" in op.spec or "requestBody" in op.spec}
        assert takes_values - {probe.route for probe in probes} == set(), "operations the sweep does not reach"
        problems += await sweep(client, probes)
        problems += await still_carried_through(client, system, matrix.bearer(admin))
    problems += await dead_letters(system)
    assert problems == [], f"{len(problems)} problems in {len(probes)} probes:\n" + "\n".join(problems)

"""Operators' view: after some traffic, every service's /metrics has the series docs/operations.md names.

Traffic: a cross-street record (intake → routing → notification's webhook
push → reporting's fold) and one unreadable message on records.submitted,
which routing and reporting both dead-letter.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.topics import RECORDS_SUBMITTED
from tests.support import kafka, records
from tests.support.notification_client import SECRET, all_in_state, bearer, subscribe
from tests.support.receivers import Receiver
from tests.support.records import TONGDE, XINSHI
from tests.support.system import SERVICES, System
from tests.support.waiting import eventually

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")  # route templates hold braces


def series(exposition: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric name as (labels, value)."""
    found = []
    for line in exposition.splitlines():
        match = SAMPLE.match(line)
        if match and match["name"] == name:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            found.append((labels, float(match["value"])))
    return found


def total(exposition: str, name: str, **wanted: str) -> float:
    return sum(v for labels, v in series(exposition, name) if wanted.items() <= labels.items())


def groups(exposition: str) -> set[str]:
    """The consumer groups whose lag is exposed: a group shows once it has committed an offset."""
    return {labels["group"] for labels, _ in series(exposition, "popflow_consumer_lag")}


async def scrape(client: httpx.AsyncClient, system: System, service: str) -> str:
    answer = await client.get(system.url(service) + "/metrics")
    assert answer.status_code == 200, service
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def test_every_service_exposes_its_series_with_plausible_values(system: System) -> None:
    prefix = system.env["POPFLOW_TOPIC_PREFIX"]
    admin = await system.create_key("admin")
    body = records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=71)
    async with Receiver(SECRET) as receiver, httpx.AsyncClient(timeout=10) as client:
        assert (await subscribe(client, system, admin, XINSHI, receiver.url)).status_code == 201
        posted = await client.post(system.url("intake") + "/v1/records", json=body, headers=bearer(admin))
        assert posted.status_code == 202, posted.text
        await kafka.publish_raw(system.env["KAFKA_BOOTSTRAP_SERVERS"], prefix + RECORDS_SUBMITTED, [("k", b"not json")])

        async def pushed() -> list[Any]:
            return list(receiver.delivered())

        [notice_id] = await eventually(pushed)
        await eventually(lambda: all_in_state(client, system, admin, [notice_id], "delivered"))

        async def settled() -> dict[str, str] | None:
            scraped = {service: await scrape(client, system, service) for service in SERVICES}
            done = (
                total(scraped["routing"], "popflow_dead_letters_total") >= 1
                and total(scraped["reporting"], "popflow_dead_letters_total") >= 1
                and total(scraped["reporting"], "popflow_reporting_events_folded_total") >= 3
                and total(scraped["notification"], "popflow_webhook_attempts_total", outcome="delivered") >= 1
                # each service's own group shows once it has committed, which a fetch held for fullness delays
                and all(prefix + service in groups(scraped[service]) for service in SERVICES)
            )
            return scraped if done else None

        scraped = await eventually(settled)

    intake, routing, notification, reporting = (scraped[s] for s in SERVICES)
    assert total(intake, "popflow_http_requests_total", route="/v1/records", method="POST", status="202") >= 1
    assert total(intake, "popflow_http_request_duration_seconds_count", route="/v1/records", method="POST") >= 1
    assert total(intake, "popflow_http_request_duration_seconds_sum", route="/v1/records", method="POST") > 0
    webhook_puts = total(
        notification, "popflow_http_requests_total", route="/v1/recipients/{recipient_code}/webhook", method="PUT"
    )
    assert webhook_puts >= 1

    for exposition in (intake, notification):
        [(_, backlog)] = series(exposition, "popflow_outbox_backlog")
        assert backlog >= 0
    [(_, parked)] = series(routing, "popflow_parked_answers")
    assert parked == 0  # every notice was stored before anyone answered it

    # a group appears once it has committed (routing-answers has had nothing to read here)
    for service in SERVICES:
        lag = series(scraped[service], "popflow_consumer_lag")
        named = groups(scraped[service])
        assert prefix + service in named, service  # a service's groups are named under its own name
        assert all(group.startswith(prefix + service) for group in named), service
        assert all(value >= 0 and labels["topic"].startswith(prefix) for labels, value in lag), service
    submitted = prefix + RECORDS_SUBMITTED
    assert {labels["topic"] for labels, _ in series(routing, "popflow_consumer_lag")} >= {submitted}

    assert total(routing, "popflow_dead_letters_total", source_topic=submitted) >= 1
    assert total(reporting, "popflow_dead_letters_total", source_topic=submitted) >= 1
    assert total(notification, "popflow_webhook_attempts_total", outcome="delivered") >= 1
    assert total(notification, "popflow_webhook_attempt_failures_total") == 0
    assert total(reporting, "popflow_reporting_events_folded_total") >= 3  # submitted, routed, issued at least

"""The office page's weekly report goes to reporting server to server: whatever answers there, the clerk is told.

NOTIFICATION_REPORTING_URL pointing past reporting (a proxy's error page, a web server's 200 page, a wrong
port) answered with something that is not reporting's JSON, and reading it as JSON raised: the clerk's submit
was a 500 "Internal error" page instead of the page saying the report was not taken.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from services.notification.adapters.reporting_client import ReportingClient
from shared.signoff_refusals import REFUSAL_WORDS, Refusal

ClientOf = Callable[[bytes], Awaitable[ReportingClient]]  # a client of an endpoint answering these raw bytes


@pytest.fixture
async def answering() -> AsyncIterator[ClientOf]:
    """A client of a local endpoint that answers every request with the raw HTTP answer given."""
    servers: list[asyncio.Server] = []

    async def client_of(raw: bytes) -> ReportingClient:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.lower().splitlines()
            length = next((int(line.split(":")[1]) for line in lines if line.startswith("content-length")), 0)
            await reader.readexactly(length)
            writer.write(raw)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        servers.append(server)
        return ReportingClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", timeout_s=5)

    yield client_of
    for server in servers:
        server.close()
        await server.wait_closed()


def http(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
    head += "connection: close\r\n\r\n"
    return head.encode() + body


@pytest.mark.parametrize(
    "raw",
    [
        http("200 OK", "text/html", b"<html>it works</html>"),  # a web server's page at a wrong URL
        http("502 Bad Gateway", "application/json", b"<html>bad gateway</html>"),  # a proxy that says JSON
        http("409 Conflict", "application/problem+json", b'["not", "an", "object"]'),
        http("200 OK", "application/json", b"[]"),
    ],
    ids=["200-html", "502-not-json", "409-a-list", "200-a-list"],
)
async def test_an_answer_that_is_not_reportings_is_not_taken_and_says_so(answering: ClientOf, raw: bytes) -> None:
    client = await answering(raw)
    answer = await client.submit_week(key="pf_k_s", street="440111008", week="2026-W09")
    assert not answer.ok
    assert answer.detail


async def test_reportings_own_answers_are_passed_on(
    answering: ClientOf,
) -> None:
    taken = await (await answering(http("200 OK", "application/json", b'{"state": "submitted"}'))).submit_week(
        key="pf_k_s", street="440111008", week="2026-W09"
    )
    assert (taken.ok, taken.state) == (True, "submitted")
    refused = await (
        await answering(
            http(
                "409 Conflict", "application/problem+json", b'{"detail": "the report of 2026-W09 is already submitted"}'
            )
        )
    ).submit_week(key="pf_k_s", street="440111008", week="2026-W09")
    assert (refused.ok, refused.detail) == (False, "这一周的周报已上报，不能重复提交；被退回后才可重新提交。")


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (409, "the report of 2026-W09 is already accepted"),
        (409, "the report week 2026-W09 has not begun yet; it can be submitted once it has"),
        (409, "Someone else changed this week's sign-off at the same moment; reload it and decide again."),
        (403, "This key may not act for street 440111008."),
        (422, "1 field is wrong; correct it and submit again."),
        (503, "The store is unavailable."),
    ],
)
async def test_reportings_refusals_reach_the_clerk_in_chinese(answering: ClientOf, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    client = await answering(http(f"{status} Refused", "application/problem+json", body))
    refused = await client.submit_week(key="pf_k_s", street="440111008", week="2026-W09")
    assert not refused.ok
    assert not re.search(r"[A-Za-z]{2,}", refused.detail), refused.detail


@pytest.mark.parametrize("reason", list(Refusal))
async def test_a_refusal_is_told_by_its_reason_code_whatever_its_english_says(
    answering: ClientOf, reason: Refusal
) -> None:
    """The office page matched reporting's English detail: reworded, a clerk read a wrong sentence (every
    refusal but two read as 'changed meanwhile'). The problem's `reason` code is what it goes by now."""
    body = json.dumps({"detail": "Reworded: nothing here to match.", "reason": reason.value}).encode()
    client = await answering(http("409 Conflict", "application/problem+json", body))
    refused = await client.submit_week(key="pf_k_s", street="440111008", week="2026-W09")
    assert (refused.ok, refused.detail) == (False, REFUSAL_WORDS[reason])


async def test_an_unknown_reason_code_falls_back_to_the_detail(answering: ClientOf) -> None:
    body = json.dumps({"detail": "the report of 2026-W09 is already accepted", "reason": "from_a_newer_reporting"})
    client = await answering(http("409 Conflict", "application/problem+json", body.encode()))
    refused = await client.submit_week(key="pf_k_s", street="440111008", week="2026-W09")
    assert refused.detail == "这一周的周报已审核通过，不能再提交。"


async def test_a_submit_stored_over_by_another_step_tells_the_clerk_to_reload_and_submit_not_to_review(
    answering: ClientOf,
) -> None:
    """Reporting refuses a submit with `changed_meanwhile` when the bureau's review was stored at the same moment.
    The words for it asked the reader to review again (重新审核): right on the bureau's dashboard, wrong on the
    street office's page, whose clerk submits and has nothing to review."""
    body = json.dumps({"detail": "changed", "reason": Refusal.CHANGED_MEANWHILE.value}).encode()
    client = await answering(http("409 Conflict", "application/problem+json", body))
    refused = await client.submit_week(key="pf_k_s", street="440111008", week="2026-W09")
    assert not refused.ok
    assert "审核" not in refused.detail
    assert "刷新页面" in refused.detail

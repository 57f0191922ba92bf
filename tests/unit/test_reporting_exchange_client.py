"""The dashboard's reading of notification's exchange overview: rows per partner, and nothing when it fails."""

from __future__ import annotations

import httpx

from services.reporting.adapters.exchange_client import ExchangeClient, PartnerRow, partner_rows

OVERVIEW = {
    "partners": [
        {
            "name": "tianhe",
            "transport": "https",
            "ready": True,
            "sent": {"pending": 1, "delivered": 5, "acknowledged": 5, "failed": 0, "attempts": 9, "redelivered": 2},
            "received": {"notices": 3, "answers": 4},
        },
        {
            "name": "changsha-city-exchange",
            "transport": "ftps",
            "ready": False,
            "sent": {"pending": 0, "delivered": 3, "acknowledged": 1, "failed": 2, "attempts": 5, "redelivered": 0},
            "received": {"notices": 0, "answers": 0},
        },
    ],
    "failed": [],
    "set_aside": [
        {"file": "a", "sender": "440106", "partner": "tianhe", "reason": "checksum"},
        {"file": "b", "sender": "990000", "partner": None, "reason": "no configured exchange partner"},
    ],
}


def test_each_partner_is_a_row_with_what_went_to_it_and_what_was_set_aside() -> None:
    rows = {row.name: row for row in partner_rows(OVERVIEW)}
    assert rows["tianhe"] == PartnerRow("tianhe", "https", True, 6, 1, 5, 0, 2, 1, 7)
    assert rows["changsha-city-exchange"].failed == 2
    assert rows["changsha-city-exchange"].acknowledged == 1  # 3 uploaded, 1 acknowledged so far (ftp)
    assert rows["unconfigured"].set_aside == 1  # a batch from a sender no partner entry names
    assert partner_rows(OVERVIEW)[0].name == "changsha-city-exchange"  # trouble first


async def test_the_overview_is_read_with_the_configured_key() -> None:
    seen: list[httpx.Request] = []

    def notification(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OVERVIEW)

    client = ExchangeClient("http://notification/", "pf_key_secret", transport=httpx.MockTransport(notification))
    rows = await client.partners()
    assert rows is not None
    assert len(rows) == 3
    assert str(seen[0].url) == "http://notification/v1/exchange/partners"
    assert seen[0].headers["authorization"] == "Bearer pf_key_secret"


async def test_a_refusal_or_an_outage_shows_nothing_rather_than_failing_the_page() -> None:
    def refused(_: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"title": "Forbidden"})

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def garbled(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>")

    for handler in (refused, down, garbled):
        client = ExchangeClient("http://notification", "k", transport=httpx.MockTransport(handler))
        assert await client.partners() is None

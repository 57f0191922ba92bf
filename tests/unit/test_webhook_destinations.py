"""Webhooks cannot reach inside: loopback, private, link-local, multicast, metadata, plain http refused."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from services.notification.adapters.destinations import DestinationGuard
from services.notification.domain.destinations import Address, DestinationPolicy

STRICT = DestinationPolicy()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://example.org/hook", "https"),
        ("ftp://example.org/hook", "https"),
        ("https://127.0.0.1:8002/v1/cases", "loopback"),
        ("https://[::1]:5432/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://169.254.1.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://10.0.0.5/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://[fd12::1]/", "private"),
        ("https://224.0.0.1/", "multicast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://100.64.0.1/", "non-public"),
        ("https://user:pass@example.org/", "user or password"),
    ],
)
def test_refused_by_default(url: str, kind: str) -> None:
    refusal = STRICT.refusal_of_url(url)
    assert refusal is not None
    assert kind in refusal


@pytest.mark.parametrize("url", ["https://example.org/hook", "https://93.184.215.14/hook", "https://[2606:4700::1]/"])
def test_public_https_is_allowed(url: str) -> None:
    assert STRICT.refusal_of_url(url) is None


def test_development_allow_list_opens_loopback_and_http_only() -> None:
    development = DestinationPolicy.parse("loopback,http")
    assert development.refusal_of_url("http://127.0.0.1:9000/hook") is None
    assert development.refusal_of_url("http://[::1]:9000/hook") is None
    assert development.refusal_of_url("http://10.0.0.5/hook") is not None
    assert development.refusal_of_url("http://169.254.169.254/") is not None


def test_metadata_and_ten_slash_eight_open_only_when_named() -> None:
    everything = DestinationPolicy.parse("0.0.0.0/0,::/0")
    assert everything.refusal_of(ip_address("192.168.1.1")) is None
    assert everything.refusal_of(ip_address("10.1.2.3")) is not None
    assert everything.refusal_of(ip_address("169.254.169.254")) is not None
    assert everything.refusal_of(ip_address("fd00:ec2::254")) is not None
    named = DestinationPolicy.parse("10.20.0.0/16, 169.254.169.254")
    assert named.refusal_of(ip_address("10.20.3.4")) is None
    assert named.refusal_of(ip_address("10.21.3.4")) is not None
    assert named.refusal_of(ip_address("169.254.169.254")) is None


def test_a_typo_in_the_allow_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="neither"):
        DestinationPolicy.parse("loopback,htp")


def resolving_to(*addresses: str) -> DestinationGuard:
    async def resolve(host: str, port: int) -> list[Address]:
        return [ip_address(a) for a in addresses]

    return DestinationGuard(STRICT, resolve)


async def test_a_name_resolving_inside_is_refused() -> None:
    assert (await resolving_to("93.184.215.14").check("https://hooks.example/")).refusal is None
    refused = await resolving_to("93.184.215.14", "127.0.0.1").check("https://hooks.example/")
    assert refused.refusal is not None
    assert "loopback" in refused.refusal
    assert (await resolving_to("169.254.169.254").check("https://metadata.example/")).refusal is not None


async def test_a_name_that_does_not_resolve_is_no_refusal_and_has_no_address() -> None:
    async def fails(host: str, port: int) -> list[Address]:
        raise OSError("no such host")

    checked = await DestinationGuard(STRICT, fails).check("https://not-yet.example/")
    assert checked.refusal is None
    assert checked.addresses == []


async def test_a_numeric_host_is_checked_as_the_address_it_resolves_to() -> None:
    # 2130706433 is 127.0.0.1 to the system resolver
    checked = await DestinationGuard(STRICT).check("https://2130706433/hook")
    assert checked.refusal is not None
    assert "loopback" in checked.refusal


async def test_a_name_is_resolved_and_checked_again_before_every_push_a_literal_address_once() -> None:
    answers = [["93.184.215.14"], ["127.0.0.1"]]  # a name rebound to an inside address after the first check
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[Address]:
        asked.append(host)
        return [ip_address(a) for a in answers.pop(0)]

    guard = DestinationGuard(STRICT, resolve)
    assert (await guard.check("https://hooks.example/")).refusal is None
    rebound = await guard.check("https://hooks.example/")
    assert rebound.refusal is not None
    assert "loopback" in rebound.refusal
    for _ in range(2):
        assert (await guard.check("https://93.184.215.14/hook")).addresses == [ip_address("93.184.215.14")]
        assert (await guard.check("https://127.0.0.1/hook")).refusal is not None
    assert asked == ["hooks.example", "hooks.example"]

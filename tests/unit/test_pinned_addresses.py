"""The sender's resolver answers a host only with the addresses its last check allowed, and holds a bounded
number of hosts: a webhook moved from host to host no longer grows it for ever."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from services.notification.adapters import sender
from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.sender import PinnedWebhookSender
from services.notification.domain.destinations import DestinationPolicy

CHECKED = [ip_address("93.184.215.14")]


async def test_full_it_forgets_the_host_pinned_least_recently_and_never_answers_for_it() -> None:
    resolver = sender._CheckedAddresses()
    resolver.pin("kept.example", CHECKED)
    for n in range(2 * sender.MAX_PINNED):
        resolver.pin(f"moved-{n}.example", CHECKED)
        if n % 100 == 0:
            resolver.pin("kept.example", CHECKED)  # a host pushed to all along
    assert len(resolver._checked) == sender.MAX_PINNED
    [answer] = await resolver.resolve("kept.example", 443)
    assert (answer["host"], answer["port"]) == ("93.184.215.14", 443)
    assert await resolver.resolve(f"moved-{2 * sender.MAX_PINNED - 1}.example", 443)
    with pytest.raises(OSError, match="no checked address"):
        await resolver.resolve("moved-0.example", 443)


def test_the_bound_stays_well_above_the_pushes_in_flight() -> None:
    many = PinnedWebhookSender(timeout_s=5, max_connections=10_000, guard=DestinationGuard(DestinationPolicy()))
    assert many._resolver._bound == 20_000

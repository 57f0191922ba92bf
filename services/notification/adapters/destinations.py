"""Resolving a webhook's host and checking every address it resolves to, at registration and before each push.

The check and the connection use the same addresses: the sender connects to
the address checked here (see sender.py), so a name that resolves to a
public address for the check and to 127.0.0.1 a moment later (DNS
rebinding) still reaches only the checked one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
from urllib.parse import urlsplit

from services.notification.domain.destinations import Address, DestinationPolicy, literal_address

Resolve = Callable[[str, int], Awaitable[list[Address]]]
RESOLVE_TIMEOUT_S = 5.0
MAX_REMEMBERED = 4096  # URLs whose outcome is kept (about one per recipient with a webhook)


async def system_resolve(host: str, port: int) -> list[Address]:
    """The addresses the operating system's resolver gives for `host` (OSError when it gives none)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(str(info[4][0]).split("%")[0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Destination:
    """The outcome of a check: why not (refusal), or the addresses a push may use (none if unresolved)."""

    refusal: str | None = None
    addresses: list[Address] = field(default_factory=list)


class DestinationGuard:
    def __init__(self, policy: DestinationPolicy, resolve: Resolve = system_resolve) -> None:
        self._policy, self._resolve = policy, resolve
        # outcomes that depend on the URL alone (refused by its form, or a literal address), by URL:
        # checking them again before every push was a fortieth of a push burst's CPU
        self._by_form: dict[str, Destination] = {}

    async def check(self, url: str) -> Destination:
        """Refused by form, refused because any address is inside, or the checked addresses."""
        known = self._by_form.get(url)
        if known is not None:
            return known
        refusal = self._policy.refusal_of_url(url)
        if refusal is not None:
            return self._remember(url, Destination(refusal))
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = literal_address(host)
        if literal is not None:
            return self._remember(url, Destination(addresses=[literal]))
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                addresses = await self._resolve(host, port)
        except (OSError, TimeoutError, ValueError, UnicodeError):
            return Destination()
        # one address inside is enough to refuse: the resolver may hand out any of them
        refusals = [r for r in map(self._policy.refusal_of, addresses) if r is not None]
        return Destination(refusals[0]) if refusals else Destination(addresses=addresses)

    def _remember(self, url: str, destination: Destination) -> Destination:
        if len(self._by_form) >= MAX_REMEMBERED:
            self._by_form.clear()
        self._by_form[url] = destination
        return destination

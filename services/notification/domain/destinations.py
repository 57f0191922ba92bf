"""Where a webhook may point: public https addresses, unless the deployment's allow-list names more.

A webhook URL is chosen by a caller, and the delivery log tells that caller
the status and latency of each push: without this rule it is a port
scanner of our own network (127.0.0.1:8002, [::1]:5432) and a reader of
the cloud's metadata service (169.254.169.254). Pure: addresses come in
already resolved.

The allow-list (NOTIFICATION_WEBHOOK_ALLOW) is comma-separated entries:
`http` permits plain http, `loopback` stands for 127.0.0.0/8 and ::1, and
any address or network (`10.20.0.0/16`, `fd12::/16`) opens that range.
The link-local and 10/8 ranges (the metadata services live there) open
only through an entry inside them: `0.0.0.0/0` does not reach them.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

LOOPBACK: tuple[Network, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
NAMED_ONLY: tuple[Network, ...] = (
    ip_network("10.0.0.0/8"),
    ip_network("169.254.0.0/16"),
    ip_network("fe80::/10"),
    ip_network("fd00:ec2::254/128"),
)
METADATA: frozenset[Address] = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    networks: tuple[Network, ...] = ()
    allow_http: bool = False

    @classmethod
    def parse(cls, text: str) -> DestinationPolicy:
        """`loopback,http,10.20.0.0/16`; ValueError naming the entry that is neither."""
        networks: list[Network] = []
        allow_http = False
        for entry in (part.strip().lower() for part in text.split(",")):
            if entry == "http":
                allow_http = True
            elif entry == "loopback":
                networks.extend(LOOPBACK)
            elif entry:
                try:
                    networks.append(ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"{entry!r} is neither http, loopback nor an address or network") from None
        return cls(tuple(networks), allow_http)

    def refusal_of_url(self, url: str) -> str | None:
        """Why a URL may not be a webhook by its form alone (scheme, literal address); None when it may."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http"):
            return "a webhook URL is https"
        if parts.scheme == "http" and not self.allow_http:
            return "a webhook URL is https (plain http is not allowed here)"
        if not parts.hostname:
            return "a webhook URL names a host"
        if parts.username or parts.password:
            return "a webhook URL carries no user or password"
        literal = literal_address(parts.hostname)
        return self.refusal_of(literal) if literal is not None else None

    def refusal_of(self, address: Address) -> str | None:
        """Why a push may not go to `address`; None when it may."""
        address = unmapped(address)
        kind = _kind_of(address)
        if kind is None or self._allows(address):
            return None
        return f"webhooks may not reach {kind} addresses, and the webhook host is one"

    def _allows(self, address: Address) -> bool:
        guarded = [net for net in NAMED_ONLY if net.version == address.version and address in net]
        for network in self.networks:
            if network.version != address.version or address not in network:
                continue
            if all(network.subnet_of(net) for net in guarded):  # type: ignore[arg-type]  # same version
                return True
        return False


def reachable_link_base(base: str) -> bool:
    """Whether a notice's record link base (NOTIFICATION_RECORD_LINK_BASE) is one its recipients can follow:
    an http(s) URL whose host is not this machine's own (localhost, loopback, unspecified), IPv4-mapped too.
    A name is the deployer's choice, whatever it resolves to."""
    parts = urlsplit(base)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    literal = literal_address(host)
    if literal is None:
        return True
    address = unmapped(literal)
    return not (address.is_loopback or address.is_unspecified)


def unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:127.0.0.1) as the IPv4 address it carries; others as they are."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def literal_address(host: str) -> Address | None:
    """The address when `host` is written as one (brackets of IPv6 already removed), else None."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def _kind_of(address: Address) -> str | None:
    """The kind of non-public address, or None for a public one."""
    checks = (
        (address in METADATA, "cloud metadata"),
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-public"),
    )
    return next((kind for matched, kind in checks if matched), None)

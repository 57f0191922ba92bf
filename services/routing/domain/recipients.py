"""Who receives a notice addressed to a division code.

Streets and bureaus of the districts this deployment serves are its own
recipients; every other code is reached through the external exchange
exchange partner configured for the longest matching code prefix (4401 the city
exchange, 44 the provincial platform, a default for the rest; shared/exchange
holds the partners). A code no partner carries is stamped "unconfigured":
notification refuses to send it and lists it for the bureau.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.directory.divisions import district_of
from shared.exchange.partners import UNCONFIGURED, PartnerTable


@dataclass(frozen=True, slots=True)
class ExchangeEndpoint:
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """A street office (9 digits) or district bureau (6 digits), and how it is reached.

    `endpoint` is None for a recipient of this deployment, else the external
    exchange that carries the notice there.
    """

    code: str
    endpoint: ExchangeEndpoint | None = None


@dataclass(frozen=True, slots=True)
class ExchangeTable:
    """External endpoints by division-code prefix, and the default for the rest."""

    by_prefix: dict[str, ExchangeEndpoint]
    default: ExchangeEndpoint | None = None

    @classmethod
    def of_partners(cls, partners: PartnerTable) -> ExchangeTable:
        def endpoint(name: str, address: str) -> ExchangeEndpoint:
            return ExchangeEndpoint(name, address)

        by_prefix = {prefix: endpoint(p.name, p.address) for prefix, p in partners.by_prefix.items()}
        default = endpoint(partners.default.name, partners.default.address) if partners.default else None
        return cls(by_prefix, default)

    def endpoint_for(self, code: str) -> ExchangeEndpoint:
        for length in range(len(code), 0, -1):
            endpoint = self.by_prefix.get(code[:length])
            if endpoint is not None:
                return endpoint
        return self.default or ExchangeEndpoint(UNCONFIGURED, "")


@dataclass(frozen=True, slots=True)
class Recipients:
    served_districts: frozenset[str]
    exchanges: ExchangeTable

    @classmethod
    def of(cls, served: Iterable[str], exchanges: ExchangeTable) -> Recipients:
        return cls(frozenset(served), exchanges)

    def serves(self, code: str) -> bool:
        return district_of(code) in self.served_districts

    def for_code(self, code: str) -> Recipient:
        """The recipient for a 9-digit street or 6-digit district code."""
        if self.serves(code):
            return Recipient(code)
        return Recipient(code, self.exchanges.endpoint_for(code))

    def bureau_of(self, code: str) -> Recipient:
        """The district bureau responsible for a street or district code."""
        return self.for_code(district_of(code))

"""Who receives a notice addressed to a division code.

Streets and bureaus of the districts this deployment serves are its own
recipients; every other code is reached through the external exchange
endpoint configured for the longest matching code prefix (4401 the city
exchange, 44 the provincial platform, a default for the rest).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.directory.divisions import district_of


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
    default: ExchangeEndpoint

    def endpoint_for(self, code: str) -> ExchangeEndpoint:
        for length in range(len(code), 0, -1):
            endpoint = self.by_prefix.get(code[:length])
            if endpoint is not None:
                return endpoint
        return self.default


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

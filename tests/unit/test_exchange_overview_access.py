"""Who reads notification's exchange overview: its figures are every served district's together."""

from __future__ import annotations

import pytest

from services.notification.service_layer.exchange_overview import ExchangeOverview
from shared.auth import Principal, Role, parse_scope
from shared.exchange.partners import PartnerTable
from shared.exchange.partners_file import parse_partners
from shared.http.problems import ProblemError


def _overview(served: list[str]) -> ExchangeOverview:
    return ExchangeOverview(
        partners=lambda: PartnerTable(by_prefix={}),
        store=None,  # type: ignore[arg-type]  # a refusal reads nothing
        served_districts=served,
    )


@pytest.mark.parametrize("scope", ["district:440111", "district:440106", "street:440111005"])
async def test_a_key_short_of_any_served_district_is_refused_naming_what_it_lacks(scope: str) -> None:
    bureau = Principal("k", parse_scope(scope), role=Role.BUREAU if scope.startswith("district") else None)
    with pytest.raises(ProblemError) as refused:
        await _overview(["440111", "440106"]).partners(bureau)
    assert refused.value.status == 403


class _NoTraffic:
    """A store with nothing exchanged yet."""

    async def delivery_counts(self) -> list[object]:
        return []

    async def acknowledged_counts(self) -> dict[str, int]:
        return {}

    async def batch_counts(self) -> dict[str, object]:
        return {}

    async def received_counts(self) -> dict[tuple[str, str], int]:
        return {}

    async def refused(self, *, limit: int) -> list[object]:
        return []

    async def set_aside_files(self, *, limit: int) -> list[object]:
        return []


@pytest.mark.parametrize(
    ("served", "scope"),
    [(["440111"], "district:440111"), (["440111", "440106"], "admin")],
)
async def test_a_key_covering_every_served_district_reads_it(served: list[str], scope: str) -> None:
    overview = ExchangeOverview(
        partners=lambda: PartnerTable(by_prefix={}),
        store=_NoTraffic(),  # type: ignore[arg-type]
        served_districts=served,
    )
    role = Role.ADMIN if scope == "admin" else Role.BUREAU
    assert await overview.partners(Principal("k", parse_scope(scope), role=role)) == {
        "partners": [],
        "failed": [],
        "set_aside": [],
    }


async def test_the_deployments_own_entry_in_a_shared_partners_file_is_no_partner() -> None:
    """`popflow up --districts` (and a city) writes one partners file with every deployment in it; each reads
    its own entry as itself, and its overview listed itself as a partner with nothing sent."""
    file = """
[[partners]]
name = "district-440111"
prefixes = ["440111"]
transport = "https"
url = "http://127.0.0.1:8003"

[[partners]]
name = "district-440106"
prefixes = ["440106"]
transport = "https"
url = "http://127.0.0.1:8013"
"""
    overview = ExchangeOverview(
        partners=lambda: parse_partners(file),
        store=_NoTraffic(),  # type: ignore[arg-type]
        served_districts=["440111"],
    )
    listed = await overview.partners(Principal("k", parse_scope("admin"), role=Role.ADMIN))
    assert [p["name"] for p in listed["partners"]] == ["district-440106"]

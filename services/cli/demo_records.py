"""Believable demo case records (Faker's zh_CN provider) for trying PopFlow out.

Every record is valid: identity numbers carry their check digit and a birth
date, codes come from the national directory, dates are ordered and in the
past. Residences mix the three routes: mostly the reporting street, some
another street of the district, some another district. Every event kind
occurs (mostly new inflows; verifications, certificate changes, outflows to
another street), and married persons carry a certificate check with every
result. Residences in the district mostly name one of their street's first
four communities (`<street>001` to `<street>004`), as a field app would. The
same seed gives the same records.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker

from shared.directory import DivisionDirectory
from shared.identity import check_character

SOURCES = ("canvass", "canvass", "canvass", "school", "police_station", "enterprise")
KEY_AREAS = ("market", "roadside_shop", "enterprise", "rental_housing", "other")
ELSEWHERE = ("440106001", "440104003", "310115005")  # Tianhe, Yuexiu, Pudong
EVENTS = ("new_inflow",) * 7 + ("verification", "change", "outflow")
CERTIFICATE_RESULTS = ("valid",) * 6 + ("expired",) * 2 + ("missing",) * 2 + ("invalid",)
DEMO_COMMUNITIES = 4  # per street: <street>001 to <street>004


def demo_community(street: str, number: int) -> str:
    return f"{street}{number:03d}"


def demo_records(
    count: int,
    directory: DivisionDirectory,
    *,
    district: str = "440111",
    seed: int = 7,
    now: datetime | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """`count` records observed between `since` (default six days back) and five minutes before `now`.

    A `since` less than five minutes back (a week that has just begun) moves the end to `now`, so that
    every record still falls after `since`, in the week it names."""
    fake, pick = Faker("zh_CN"), random.Random(seed)
    fake.seed_instance(seed)
    now = now or datetime.now(UTC)
    since = since or now - timedelta(days=6)
    latest = now - timedelta(minutes=5)
    if since >= latest:  # a week begun less than five minutes ago
        latest = now
    span = max((latest - since).total_seconds(), 0.0)
    streets = directory.streets_of(district)
    origins = [code for code in directory.names if len(code) == 6 and not code.startswith(district[:4])]
    records = [_record(fake, pick, streets, origins, latest, span) for _ in range(count)]
    places = random.Random(f"{seed}/communities")  # its own stream: the records stay what they were
    for record in records:
        if record["residence"]["street"] in streets and places.random() < 0.85:
            number = places.randint(1, DEMO_COMMUNITIES)
            record["residence"]["community"] = demo_community(record["residence"]["street"], number)
    return records


def _record(
    fake: Faker, pick: random.Random, streets: list[str], origins: list[str], latest: datetime, span_s: float
) -> dict[str, Any]:
    reporting, origin = pick.choice(streets), pick.choice(origins)
    roll = pick.random()
    residence = reporting if roll < 0.6 else pick.choice(streets) if roll < 0.85 else pick.choice(ELSEWHERE)
    female = pick.random() < 0.5
    born = date(1975, 1, 1) + timedelta(days=pick.randrange(365 * 30))
    observed = latest - timedelta(seconds=pick.uniform(0, span_s))
    source = pick.choice(SOURCES)
    event = pick.choice(EVENTS)
    record: dict[str, Any] = {
        "event": event,
        "person": {
            "id_number": _id_number(origin, born, pick.randrange(500) * 2 + (0 if female else 1)),
            "name": fake.name_female() if female else fake.name_male(),
            "sex": "female" if female else "male",
            "phone": fake.phone_number(),
        },
        "reporting_street": reporting,
        "residence": {
            "street": residence,
            "address": fake.street_address(),
            "arrived_on": (observed.date() - timedelta(days=pick.randrange(1, 400))).isoformat(),
        },
        "registration": {"division": origin, "address": fake.address()[:100]},
        "observed_at": observed.isoformat(timespec="seconds"),
        "marital_status": pick.choice(("married", "unmarried", "married")),
        "source_kind": source,
    }
    if source == "canvass":
        record["key_area"] = pick.choice(KEY_AREAS)
    if record["marital_status"] == "married" or event == "change":
        record["certificate"] = _certificate(pick, observed.date(), origin)
    if event == "change":
        record["change"] = "certificate"
    if event == "outflow":
        record["new_residence"] = {"street": pick.choice(streets), "address": fake.street_address()}
    return record


def _certificate(pick: random.Random, checked: date, origin: str) -> dict[str, Any]:
    result = pick.choice(CERTIFICATE_RESULTS)
    certificate: dict[str, Any] = {"result": result, "checked_on": checked.isoformat()}
    if result != "missing":
        certificate |= {"number": f"婚育{pick.randrange(10**8):08d}", "issuing_division": origin}
    if result == "valid":
        certificate["valid_until"] = (checked + timedelta(days=pick.randrange(5, 1000))).isoformat()
    if result == "expired":
        certificate["valid_until"] = (checked - timedelta(days=pick.randrange(1, 300))).isoformat()
    return certificate


def _id_number(region: str, born: date, sequence: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)

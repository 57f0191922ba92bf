"""Believable demo case records (Faker's zh_CN provider) for trying PopFlow out.

Every record is valid: identity numbers carry their check digit and a birth
date, codes come from the national directory, dates are ordered and in the
past. Residences mix the three routes: mostly the reporting street, some
another street of the district, some another district. The same seed gives
the same records.
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


def demo_records(
    count: int, directory: DivisionDirectory, *, district: str = "440111", seed: int = 7, now: datetime | None = None
) -> list[dict[str, Any]]:
    fake, pick = Faker("zh_CN"), random.Random(seed)
    fake.seed_instance(seed)
    now = now or datetime.now(UTC)
    streets = directory.streets_of(district)
    origins = [code for code in directory.names if len(code) == 6 and not code.startswith(district[:4])]
    return [_record(fake, pick, streets, origins, now) for _ in range(count)]


def _record(fake: Faker, pick: random.Random, streets: list[str], origins: list[str], now: datetime) -> dict[str, Any]:
    reporting, origin = pick.choice(streets), pick.choice(origins)
    roll = pick.random()
    residence = reporting if roll < 0.6 else pick.choice(streets) if roll < 0.85 else pick.choice(ELSEWHERE)
    female = pick.random() < 0.5
    born = date(1975, 1, 1) + timedelta(days=pick.randrange(365 * 30))
    observed = now - timedelta(days=pick.uniform(0.1, 6), minutes=5)
    source = pick.choice(SOURCES)
    record: dict[str, Any] = {
        "event": "new_inflow",
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
    return record


def _id_number(region: str, born: date, sequence: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)

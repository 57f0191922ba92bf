"""Place checks (issue 13 item 7): the pure comparison, and the use case on SQLite with a fake intake.

The comparison is by person key: found when PopFlow holds a current record,
missed when it holds none or the latest says the person moved away. The use
case stores the outcome once, enters the missed through intake, and a check
posted again enters nobody twice.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.intake_client import Entry, IntakeUnavailable
from services.reporting.adapters.placecheck_store import PlaceCheckStore
from services.reporting.adapters.tables import place_check_persons, records, spot_checks
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.placechecks import (
    Held,
    Outcome,
    compare,
    external_id,
    fingerprint,
    listed_twice,
    observed_moment,
)
from services.reporting.domain.spotchecks import PlaceTally, discrepancies
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.service_layer.errors import Conflict, Invalid, Unavailable
from services.reporting.service_layer.placechecks import PlaceChecks
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations
from shared.identity import person_key
from tests.support.infra import PERSON_KEY_SECRET, TEST_KEYRING
from tests.support.records import BAIYUN, FURONG, TONGDE, WUSHAN, XINSHI, id_number
from tests.support.reporting import report_service

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)  # 17:00 in Guangzhou
SECRET = PERSON_KEY_SECRET.encode()


def held(record_id: str, event_kind: str, day: int) -> Held:
    return Held(record_id, event_kind, datetime(2027, 2, day, 10, tzinfo=UTC))


# --- the pure comparison ---------------------------------------------------------------------------


def test_a_person_with_a_current_record_is_found_with_the_latest_record() -> None:
    findings = compare(["a"], {"a": [held("r2", "verification", 20), held("r1", "new_inflow", 10)]})
    assert [(f.outcome, f.record_id) for f in findings] == [(Outcome.FOUND, "r2")]


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], Outcome.MISSED),  # PopFlow holds nothing of them
        ([held("r1", "new_inflow", 10), held("r2", "outflow", 20)], Outcome.MISSED),  # left, yet found here
        ([held("r2", "outflow", 10), held("r3", "new_inflow", 20)], Outcome.FOUND),  # left and came back, recorded
        ([held("r1", "change", 10)], Outcome.FOUND),
    ],
)
def test_missed_means_no_record_or_a_latest_record_that_says_the_person_left(
    records: list[Held], expected: Outcome
) -> None:
    assert compare(["a"], {"a": records})[0].outcome is expected


def test_findings_keep_the_order_of_the_list_and_another_persons_records_do_not_count() -> None:
    findings = compare(["b", "a"], {"a": [held("r1", "new_inflow", 10)]})
    assert [(f.person_key, f.outcome) for f in findings] == [("b", Outcome.MISSED), ("a", Outcome.FOUND)]
    assert findings[0].record_id is None


def test_a_person_listed_twice_is_named_by_position() -> None:
    assert listed_twice(["a", "b", "a", "c", "b"]) == [2, 4]
    assert listed_twice(["a", "b"]) == []


def test_a_missed_person_counts_as_seen_at_midday_of_the_check_or_now_if_earlier() -> None:
    morning = datetime(2027, 3, 10, 1, tzinfo=UTC)  # 09:00 in Guangzhou
    assert observed_moment(date(2027, 3, 9), SHANGHAI, morning) == datetime(2027, 3, 9, 12, tzinfo=SHANGHAI)
    assert observed_moment(date(2027, 3, 10), SHANGHAI, morning) == morning


def test_the_fingerprint_ignores_the_order_of_the_persons_but_not_who_they_are() -> None:
    header = {"street": TONGDE, "checked_on": date(2027, 3, 9)}
    first = fingerprint(header, ["a", "b"], SECRET)
    assert fingerprint(header, ["b", "a"], SECRET) == first
    assert fingerprint(header, ["a", "c"], SECRET) != first
    assert fingerprint(header | {"street": XINSHI}, ["a", "b"], SECRET) != first
    assert len(external_id(str(uuid.uuid4()), "f" * 64)) <= 64  # intake's external_id bound


def test_missed_persons_rank_a_street_beside_wrong_and_not_found_cases() -> None:
    rows = discrepancies(
        {TONGDE: ["correct", "correct"], XINSHI: ["wrong", "correct"]},
        threshold=0.2,
        places={TONGDE: PlaceTally(places=1, persons=2, missed=2), "440111002": PlaceTally(1, 3, 0)},
    )
    shown = [(r.street, r.checked, r.persons, r.missed, r.rate, r.flagged) for r in rows]
    assert shown == [
        (TONGDE, 2, 2, 2, 0.5, True),  # (0 + 2) / (2 + 2)
        (XINSHI, 2, 0, 0, 0.5, True),
        ("440111002", 0, 3, 0, 0.0, False),  # only a place check: ranked all the same
    ]


# --- the use case on SQLite, with a fake intake -------------------------------------------------------


@dataclass
class FakeIntake:
    """Accepts each record once (a record sent again answers its first id), refuses what it is told to."""

    down: bool = False
    refuse: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # external id → errors
    entered: dict[str, str] = field(default_factory=dict)  # external id → record id
    received: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    async def enter(self, records: list[dict[str, Any]], *, key: str) -> list[Entry]:
        if self.down:
            raise IntakeUnavailable("ConnectError")
        self.received += records
        self.keys.append(key)
        entries = []
        for record in records:
            ref = record["external_id"]
            if ref in self.refuse:
                entries.append(Entry(None, self.refuse[ref]))
                continue
            entries.append(Entry(self.entered.setdefault(ref, str(uuid.uuid4()))))
        return entries


@dataclass
class World:
    engine: AsyncEngine
    places: PlaceChecks
    store: PlaceCheckStore
    intake: FakeIntake
    spotcheck: dict[str, Any]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    reports = report_service(engine, WeekCalendar(SHANGHAI), FixedClock(AT))
    store, intake = PlaceCheckStore(engine), FakeIntake()
    places = PlaceChecks(reports, store, intake, keyring=TEST_KEYRING, secret=SECRET)
    spotcheck = {
        "check_id": str(uuid.uuid4()),
        "district": BAIYUN,
        "seed": "s",
        "size_per_street": 0,
        "week_from": "2027-W08",
        "week_to": "2027-W10",
        "drawn_at": AT,
    }
    async with engine.begin() as connection:
        await connection.execute(sa.insert(spot_checks).values(**spotcheck))
    yield World(engine, places, store, intake, spotcheck)
    await engine.dispose()


async def hold(world: World, number: str, event_kind: str = "new_inflow", street: str = XINSHI) -> str:
    """A record of the person as reporting's fold would have written it."""
    record_id = str(uuid.uuid4())
    row = {
        "record_id": record_id,
        "reporting_street": street,
        "week": "2027-W08",
        "observed_at": datetime(2027, 2, 20, tzinfo=UTC),
        "submitted": True,
        "event_kind": event_kind,
        "person_key": person_key(number, SECRET),
    }
    async with world.engine.begin() as connection:
        await connection.execute(sa.insert(records).values(**row))
    return record_id


def found(number: str, *, details: bool = True) -> dict[str, Any]:
    person: dict[str, Any] = {"person": {"id_number": number, "name": "李四"}}
    if details:
        person["residence"] = {"street": XINSHI, "address": "新市路 3 号"}
        person["registration"] = {"division": FURONG, "address": "长沙"}
    return person


def place(**overrides: Any) -> dict[str, Any]:
    return {
        "place_check_id": str(uuid.uuid4()),
        "street": TONGDE,
        "community": None,
        "place_kind": "market",
        "place_name": "同德农贸市场",
        "place_address": "同德路 1 号",
        "checked_on": date(2027, 3, 9),
        "checker": "区局验收组",
        "note": "",
        **overrides,
    }


async def test_a_check_finds_the_recorded_enters_the_missed_and_a_second_post_enters_nobody_again(
    world: World,
) -> None:
    recorded, missing = id_number(sequence=401), id_number(sequence=403)
    record_id = await hold(world, recorded)
    values, persons = place(), [found(recorded, details=False), found(missing)]

    shown, created = await world.places.post(world.spotcheck, values, persons, by="k1", key="pf_key")
    assert created
    assert (shown["found"], shown["missed"], shown["entered"]) == (1, 1, 1)
    assert [(p["outcome"], p["entered"]) for p in shown["persons"]] == [("found", False), ("missed", True)]
    assert shown["persons"][0]["record_id"] == record_id
    [sent] = world.intake.received
    assert (sent["source_kind"], sent["event"], sent["reporting_street"]) == ("spot_check", "new_inflow", TONGDE)
    assert sent["person"]["id_number"] == missing
    assert sent["residence"]["street"] == XINSHI
    assert sent["observed_at"] == "2027-03-09T12:00:00+08:00"
    assert world.intake.keys == ["pf_key"]  # under the caller's own key
    assert shown["persons"][1]["record_id"] == world.intake.entered[sent["external_id"]]

    again, created = await world.places.post(world.spotcheck, values, list(reversed(persons)), by="k2", key="pf_key")
    assert not created
    assert again == shown
    assert len(world.intake.received) == 1  # entered once
    assert await world.store.tallies(world.spotcheck["check_id"]) == {TONGDE: PlaceTally(1, 2, 1)}


async def test_a_person_recorded_by_another_district_this_deployment_serves_is_found_not_entered_again(
    world: World,
) -> None:
    # recorded by 五山 (Tianhe), found at a Baiyun market: the census holds the person already
    number = id_number(sequence=405)
    record_id = await hold(world, number, street=WUSHAN)
    shown, _ = await world.places.post(world.spotcheck, place(), [found(number)], by="k1", key="pf_key")
    assert (shown["found"], shown["missed"], shown["entered"]) == (1, 0, 0)
    assert shown["persons"][0]["record_id"] == record_id
    assert world.intake.received == []


async def test_the_persons_are_kept_sealed_and_the_answer_names_nobody(world: World) -> None:
    number = id_number(sequence=405)
    shown, _ = await world.places.post(world.spotcheck, place(), [found(number)], by="k1", key="pf_key")
    assert number not in str(shown)
    assert "李四" not in str(shown)
    async with world.engine.connect() as connection:
        stored = (await connection.execute(sa.select(place_check_persons))).one()
    assert number not in str(tuple(stored))
    assert "李四" not in str(tuple(stored))
    context = f"place_check:{shown['place_check_id']}:{stored.person_key}"
    assert TEST_KEYRING.open(stored.person_sealed, context=context) == {"id_number": number, "name": "李四"}


async def test_a_missed_person_without_residence_and_registration_is_refused_and_nothing_is_stored(
    world: World,
) -> None:
    recorded, missing = id_number(sequence=407), id_number(sequence=409)
    await hold(world, recorded)
    values = place()
    with pytest.raises(Invalid) as refused:
        await world.places.post(
            world.spotcheck, values, [found(recorded, details=False), found(missing, details=False)], by="k", key="k"
        )
    assert [name for name, _ in refused.value.errors] == ["persons/1/residence", "persons/1/registration"]
    assert missing not in str(refused.value.errors)
    assert await world.store.get(values["place_check_id"]) is None


async def test_a_person_listed_twice_and_a_place_outside_the_district_are_refused(world: World) -> None:
    number = id_number(sequence=411)
    with pytest.raises(Invalid) as twice:
        await world.places.post(world.spotcheck, place(), [found(number), found(number)], by="k", key="k")
    assert twice.value.errors == [("persons/1/person/id_number", "is listed earlier in this check")]
    for values, field_name in [
        (place(street=WUSHAN), "street"),
        (place(street="440111999"), "street"),  # no such street
        (place(community="440111008001"), "community"),
        (place(checked_on=date(2027, 3, 11)), "checked_on"),
    ]:
        with pytest.raises(Invalid) as refused:
            await world.places.post(world.spotcheck, values, [found(number)], by="k", key="k")
        assert refused.value.errors[0][0] == field_name


async def test_the_same_id_for_another_check_is_a_conflict(world: World) -> None:
    values = place()
    await world.places.post(world.spotcheck, values, [found(id_number(sequence=413))], by="k", key="k")
    with pytest.raises(Conflict):
        await world.places.post(world.spotcheck, values, [found(id_number(sequence=415))], by="k", key="k")
    with pytest.raises(Conflict):
        await world.places.post(
            world.spotcheck, values | {"checker": "另一组"}, [found(id_number(sequence=413))], by="k", key="k"
        )


async def test_intake_down_keeps_the_check_and_the_same_post_later_enters_the_missed(world: World) -> None:
    values, persons = place(), [found(id_number(sequence=417))]
    world.intake.down = True
    with pytest.raises(Unavailable):
        await world.places.post(world.spotcheck, values, persons, by="k", key="k")
    stored = await world.places.get(values["place_check_id"])
    assert (stored["missed"], stored["entered"]) == (1, 0)
    world.intake.down = False
    shown, created = await world.places.post(world.spotcheck, values, persons, by="k", key="k")
    assert (created, shown["missed"], shown["entered"]) == (False, 1, 1)


async def test_a_record_intake_refuses_is_pointed_at_the_person_and_can_be_corrected(world: World) -> None:
    ok, wrong = id_number(sequence=419), id_number(sequence=421)
    values = place()
    wrong_ref = external_id(values["place_check_id"], person_key(wrong, SECRET))
    world.intake.refuse[wrong_ref] = [
        {"pointer": "/registration/division", "detail": "is not a division in the directory"},
        {"pointer": "/observed_at", "detail": "is in the future"},
    ]
    with pytest.raises(Invalid) as refused:
        await world.places.post(world.spotcheck, values, [found(ok), found(wrong)], by="k", key="k")
    assert [name for name, _ in refused.value.errors] == ["persons/1/registration/division", "checked_on"]
    assert (await world.places.get(values["place_check_id"]))["entered"] == 1
    del world.intake.refuse[wrong_ref]
    corrected = found(wrong)
    corrected["registration"]["division"] = "430103"
    shown, _ = await world.places.post(world.spotcheck, values, [found(ok), corrected], by="k", key="k")
    assert shown["entered"] == 2
    assert len({r["external_id"] for r in world.intake.received}) == 2  # the accepted one was not sent again


async def test_listing_counts_per_place_and_a_street_reads_its_own(world: World) -> None:
    await world.places.post(world.spotcheck, place(), [found(id_number(sequence=423))], by="k", key="k")
    await world.places.post(
        world.spotcheck, place(street=XINSHI, place_kind="school"), [found(id_number(sequence=425))], by="k", key="k"
    )
    district = await world.places.listing(world.spotcheck["check_id"], BAIYUN)
    assert [(p["street"], p["place"]["kind"], p["missed"]) for p in district] == [
        (TONGDE, "market", 1),
        (XINSHI, "school", 1),
    ]
    assert [p["street"] for p in await world.places.listing(world.spotcheck["check_id"], TONGDE)] == [TONGDE]

"""Whose records a retired reporting street's are: its successor's, for submitting and for reading."""

from __future__ import annotations

from datetime import date

import pytest

from services.intake.domain.successors import StreetSuccessors
from shared.auth import Principal, parse_scope
from shared.directory import load_changes, load_directory
from shared.directory.changes import Change, DivisionChanges

SUCCESSORS = StreetSuccessors.of(load_changes())
RETIRED, SUCCESSOR, NEIGHBOUR = "440113118", "440113017", "440113016"
MERGED, MERGED_INTO = "320611001", "320613016"


def reader(scope: str) -> Principal:
    return Principal("k1", parse_scope(scope))


@pytest.mark.parametrize(
    ("street", "answering"),
    [
        (RETIRED, SUCCESSOR),  # retired, one successor
        (MERGED, MERGED_INTO),  # retired into a street of another district
        (SUCCESSOR, SUCCESSOR),  # current
        ("999999999", "999999999"),  # in no edition: nobody else's
    ],
)
def test_a_retired_street_is_answered_for_by_its_successor(street: str, answering: str) -> None:
    assert SUCCESSORS.answering(street) == answering


def test_a_chain_of_changes_leads_to_the_current_street_and_a_district_is_no_street() -> None:
    day = date(2022, 10, 31)
    changes = DivisionChanges(
        directory=load_directory(),
        retired={"440113901": "2019", "440113902": "2020", "440199": "2020"},
        changes={
            "440113901": (Change("440113901", "440113902", day, "rename", ""),),
            "440113902": (Change("440113902", SUCCESSOR, day, "merge", ""),),
            "440199": (Change("440199", "440113", day, "merge", ""),),
        },
    )
    assert StreetSuccessors.of(changes).successor_of == {"440113901": SUCCESSOR, "440113902": SUCCESSOR}
    assert StreetSuccessors.of(None).answering(RETIRED) == RETIRED


@pytest.mark.parametrize(
    ("scope", "street", "may"),
    [
        (f"street:{SUCCESSOR}", RETIRED, True),
        (f"street:{RETIRED}", RETIRED, True),  # the street as reported still reads its own
        (f"street:{NEIGHBOUR}", RETIRED, False),
        ("district:320613", MERGED, True),
        ("district:440113", MERGED, False),
        (f"street:{SUCCESSOR}", MERGED, False),
        ("admin", MERGED, True),
    ],
)
def test_who_may_read_a_record_reported_under_a_retired_street(scope: str, street: str, may: bool) -> None:
    assert SUCCESSORS.may_read(reader(scope), street) is may


def test_the_retired_streets_a_scope_took_over_are_those_its_prefix_does_not_cover() -> None:
    assert SUCCESSORS.taken_over(reader(f"street:{SUCCESSOR}")) == [RETIRED]
    assert SUCCESSORS.taken_over(reader("district:440113")) == []  # 440113118 starts with it already
    assert MERGED in SUCCESSORS.taken_over(reader("district:320613"))
    assert SUCCESSORS.taken_over(reader("admin")) == []
    assert SUCCESSORS.taken_over(reader(f"street:{NEIGHBOUR}")) == []

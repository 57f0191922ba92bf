"""Spot checks: a reproducible random sample per street, and the streets' discrepancy rates.

The sample depends only on the seed, the size per street and the candidate
record ids (sorted), never on the order rows came out of a database, so the
same seed draws the same cases again, anywhere.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

RESULT_LABELS = {"correct": "属实", "wrong": "有误", "not_found": "查无此人"}


def draw_sample(candidates: Mapping[str, Sequence[str]], *, seed: str, size_per_street: int) -> dict[str, list[str]]:
    """{street: sorted record ids}: up to `size_per_street` cases per street, drawn with `seed`."""
    return {
        street: draw_street(street, candidates[street], seed=seed, size_per_street=size_per_street)
        for street in sorted(candidates)
    }


def draw_street(street: str, candidates: Iterable[str], *, seed: str, size_per_street: int) -> list[str]:
    """One street's share of `draw_sample`, the same draw: each street's is its own, so the streets' candidates
    can be read one street at a time."""
    ids = sorted(set(candidates))
    rng = random.Random(f"{seed}/{street}")
    return sorted(rng.sample(ids, min(size_per_street, len(ids))))


@dataclass(frozen=True, slots=True)
class PlaceTally:
    """A street's place checks within one spot check: how many, the persons found there, and the missed."""

    places: int = 0
    persons: int = 0
    missed: int = 0


@dataclass(frozen=True, slots=True)
class StreetDiscrepancy:
    street: str
    sampled: int
    checked: int
    wrong: int
    not_found: int
    places: int
    persons: int
    missed: int
    rate: float | None
    flagged: bool


def discrepancies(
    results: Mapping[str, Sequence[str | None]],
    *,
    threshold: float,
    places: Mapping[str, PlaceTally] | None = None,
) -> list[StreetDiscrepancy]:
    """Per street: the share of what the field checked that it found wrong, not found or missed, worst first.

    `results` holds every sampled case's result (None while unchecked);
    `places` the street's place checks. The rate is (wrong + not found +
    missed) over (cases checked + persons found at places). A street whose
    rate exceeds `threshold` is flagged for a new canvass.
    """
    places = places or {}
    rows = []
    for street in sorted({*results, *places}):
        outcomes, tally = results.get(street, ()), places.get(street, PlaceTally())
        checked = [o for o in outcomes if o is not None]
        wrong, missing = checked.count("wrong"), checked.count("not_found")
        seen = len(checked) + tally.persons
        rate = round((wrong + missing + tally.missed) / seen, 4) if seen else None
        flagged = rate is not None and rate > threshold
        rows.append(
            StreetDiscrepancy(
                street,
                len(outcomes),
                len(checked),
                wrong,
                missing,
                tally.places,
                tally.persons,
                tally.missed,
                rate,
                flagged,
            )
        )
    return sorted(rows, key=lambda r: (-(r.rate if r.rate is not None else -1), r.street))

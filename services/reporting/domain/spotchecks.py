"""Spot checks: a reproducible random sample per street, and the streets' discrepancy rates.

The sample depends only on the seed, the size per street and the candidate
record ids (sorted), never on the order rows came out of a database, so the
same seed draws the same cases again, anywhere.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RESULT_LABELS = {"correct": "属实", "wrong": "有误", "not_found": "查无此人"}


def draw_sample(candidates: Mapping[str, Sequence[str]], *, seed: str, size_per_street: int) -> dict[str, list[str]]:
    """{street: sorted record ids}: up to `size_per_street` cases per street, drawn with `seed`."""
    sample = {}
    for street in sorted(candidates):
        ids = sorted(set(candidates[street]))
        rng = random.Random(f"{seed}/{street}")
        sample[street] = sorted(rng.sample(ids, min(size_per_street, len(ids))))
    return sample


@dataclass(frozen=True, slots=True)
class StreetDiscrepancy:
    street: str
    sampled: int
    checked: int
    wrong: int
    not_found: int
    rate: float | None
    flagged: bool


def discrepancies(results: Mapping[str, Sequence[str | None]], *, threshold: float) -> list[StreetDiscrepancy]:
    """Per street: the share of checked cases found wrong or not found, worst first.

    `results` holds every sampled case's result (None while unchecked). A
    street whose rate exceeds `threshold` is flagged for a new canvass.
    """
    rows = []
    for street, outcomes in results.items():
        checked = [o for o in outcomes if o is not None]
        wrong, missing = checked.count("wrong"), checked.count("not_found")
        rate = round((wrong + missing) / len(checked), 4) if checked else None
        flagged = rate is not None and rate > threshold
        rows.append(StreetDiscrepancy(street, len(outcomes), len(checked), wrong, missing, rate, flagged))
    return sorted(rows, key=lambda r: (-(r.rate if r.rate is not None else -1), r.street))

"""Where a record must go: a decision over two division codes, nothing else."""

from __future__ import annotations

from shared.directory.divisions import district_of
from shared.events import Route


def decide_route(*, reporting_street: str, residence_street: str) -> Route:
    """same-district when the person lives in the reporting street, cross-street
    when in another street of the same district, inter-district otherwise.

    (The name `same-district` is the census's own: the record stays where it
    was reported.)
    """
    if residence_street == reporting_street:
        return Route.SAME_DISTRICT
    if district_of(residence_street) == district_of(reporting_street):
        return Route.CROSS_STREET
    return Route.INTER_DISTRICT

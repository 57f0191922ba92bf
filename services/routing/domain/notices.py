"""Which transfer notice a routed record causes, with an id stable across replays."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.directory.divisions import district_of
from shared.events import Route

NOTICE_NAMESPACE = uuid.UUID("6f1c2a8e-5d0b-4b9a-9a57-1e0c6f3d2b10")


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    notice_id: str
    recipient_code: str
    reason: str


def transfer_notice(*, record_id: str, route: Route, residence_street: str) -> PlannedNotice | None:
    """The notice for a freshly routed record, or None when it stays where it was reported.

    The id is derived from (record, recipient, kind), so replaying the same
    record yields the same notice id and a duplicate is recognisable.
    """
    if route is Route.SAME_DISTRICT:
        return None
    if route is Route.CROSS_STREET:
        recipient, reason = residence_street, "person lives in your street; please verify"
    else:
        recipient = district_of(residence_street)
        reason = "person lives in your district; please forward to the street and verify"
    notice_id = uuid.uuid5(NOTICE_NAMESPACE, f"{record_id}/{recipient}/transfer")
    return PlannedNotice(notice_id=str(notice_id), recipient_code=recipient, reason=reason)

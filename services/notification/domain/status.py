"""A notice's life: issued, then delivered (push), acknowledged, answered.

`failed` means every push attempt of a round failed; the notice stays in the
inbox and can still be acknowledged and answered by pulling. Status only
moves forward, so a late delivery after an acknowledgement changes nothing.
"""

from __future__ import annotations

from enum import StrEnum


class NoticeStatus(StrEnum):
    ISSUED = "issued"
    FAILED = "failed"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"


_RANK = {
    NoticeStatus.ISSUED: 0,
    NoticeStatus.FAILED: 0,
    NoticeStatus.DELIVERED: 1,
    NoticeStatus.ACKNOWLEDGED: 2,
    NoticeStatus.ANSWERED: 3,
}


def advanced(current: NoticeStatus, to: NoticeStatus) -> NoticeStatus:
    """The status after an event that would move the notice to `to`.

    Forward moves happen; issued and failed swap freely (a round of pushes
    failed, or a redelivery was asked for); nothing moves backwards.
    """
    if _RANK[to] > _RANK[current] or _RANK[to] == _RANK[current] == 0:
        return to
    return current

"""A partner's answer time, kept inside its notice's life (services/notification/domain/partner_clock.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain.partner_clock import counted_answer_time

pytestmark = pytest.mark.unit

ISSUED = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
RECEIVED = ISSUED + timedelta(hours=2)


@pytest.mark.parametrize(
    ("claimed", "counted", "off_by"),
    [
        (ISSUED, ISSUED, timedelta(0)),
        (ISSUED + timedelta(minutes=30), ISSUED + timedelta(minutes=30), timedelta(0)),
        (RECEIVED, RECEIVED, timedelta(0)),
        (RECEIVED + timedelta(seconds=3), RECEIVED, timedelta(seconds=3)),  # a clock a little ahead
        (RECEIVED + timedelta(days=3), RECEIVED, timedelta(days=3)),
        (ISSUED - timedelta(hours=8), ISSUED, -timedelta(hours=8)),  # local time written as UTC
        # another zone's offset, the same moment: inside, and kept as the partner wrote it
        (
            (ISSUED + timedelta(hours=1)).astimezone(datetime.now(UTC).astimezone().tzinfo),
            ISSUED + timedelta(hours=1),
            timedelta(0),
        ),
    ],
)
def test_the_partners_time_counts_inside_the_notices_life_else_the_nearer_bound(
    claimed: datetime, counted: datetime, off_by: timedelta
) -> None:
    assert counted_answer_time(claimed, issued_at=ISSUED, received_at=RECEIVED) == (counted, off_by)


def test_our_own_clock_gone_back_counts_the_arrival() -> None:
    """Received before issued (our clock stepped back between the two): the arrival, never a time after it."""
    claimed = ISSUED + timedelta(minutes=5)
    assert counted_answer_time(claimed, issued_at=ISSUED, received_at=ISSUED - timedelta(minutes=1))[0] == (
        ISSUED - timedelta(minutes=1)
    )

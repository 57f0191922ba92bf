"""Opaque inbox cursors: the position after the last notice of a page.

The inbox is ordered newest first by (issued_at, notice_id); the cursor
carries that pair, so the next page starts exactly after it even when new
notices arrive in between.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

NOTICE_ID_LENGTH = 36  # the inbox's notice_id column


class InvalidCursor(ValueError):
    """The cursor was not produced by this service (or was cut)."""


@dataclass(frozen=True, slots=True)
class Position:
    issued_at: datetime
    notice_id: str


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.issued_at.isoformat(), position.notice_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        issued_at, notice_id = json.loads(raw)
        position = Position(datetime.fromisoformat(issued_at), str(notice_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise InvalidCursor("the cursor is not one this service returned") from error
    if not _as_returned(position):  # a forged one: PostgreSQL would refuse it as a data error, logged as an alarm
        raise InvalidCursor("the cursor is not one this service returned")
    return position


def _as_returned(position: Position) -> bool:
    """Whether `position` could have come from a page: a zoned time the database holds, a notice id's shape."""
    at, notice_id = position.issued_at, position.notice_id
    if at.utcoffset() is None or not 1900 <= at.year <= 9998:  # year 1 at +14:00 is before year 1 in UTC
        return False
    # a NUL, a control character or half of a UTF-16 pair (escaped in JSON) is in no notice id: isprintable refuses
    # all three (a lone half is of category Cs, "other", as control characters are)
    return 0 < len(notice_id) <= NOTICE_ID_LENGTH and notice_id.isprintable()

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

from shared.surrogates import has_lone_half


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
    if has_lone_half(position.notice_id):  # a forged one, escaping half of a character no query can carry
        raise InvalidCursor("the cursor is not one this service returned")
    return position

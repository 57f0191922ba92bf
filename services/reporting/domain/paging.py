"""Pages of a long item list: where a page ends, as an opaque cursor the next request hands back. Pure.

The list is sorted by (item id, a key unique among the figure's rows: the
notice id when one record has two notices), so the position after the last
row shown is that pair; the cursor is it as base64url JSON, opaque to callers.
"""

from __future__ import annotations

import base64
import binascii
import json

ITEMS_LIMIT = 1_000  # rows of an item list per answer unless `limit` says otherwise
ITEMS_MAX = 10_000  # the most `limit` may ask for
MAX_CURSOR_CHARS = 400
_MAX_PART_CHARS = 100  # ids and keys are 36-character UUIDs


class BadCursor(ValueError):
    """The text is not a cursor this service gave."""


Position = tuple[str, str]


def encode_cursor(position: Position) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor of `encode_cursor` stands for; BadCursor for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor("the cursor is longer than any this service gives")
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as error:  # not base64, not UTF-8, not JSON
        raise BadCursor("not a cursor: pass the `next` of the previous answer as it came") from error
    if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)):
        raise BadCursor("not a cursor: pass the `next` of the previous answer as it came")
    if any(len(p) > _MAX_PART_CHARS for p in parts):
        raise BadCursor("the cursor is longer than any this service gives")
    # a NUL, a control character or half of a UTF-16 pair (escaped in JSON) is in no id: the store cannot compare
    # it (SQLite's driver cannot encode half a character: a 500; PostgreSQL refuses a NUL as a data error).
    # isprintable refuses all three: a lone half is of category Cs, "other", as control characters are
    if not all(p.isprintable() for p in parts):
        raise BadCursor("not a cursor: pass the `next` of the previous answer as it came")
    return parts[0], parts[1]

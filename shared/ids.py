"""New ids that sort by the time they were made: UUID version 7 (RFC 9562), in canonical text.

A record id, a case id or an event id is the key of a table that grows all
campaign long (intake's records and cases; every consumer's handled events).
With random (version 4) ids each insert lands on a random page of the key's
index: once the index outgrows memory, inserts slow down and each page first
touched after a checkpoint writes a full image to the WAL. Version 7 ids begin
with the millisecond they were made (48 bits), so new keys go to the index's
right edge. 3,000,000 rows in batches of 2,000 into a table with two such keys
(docs/performance.md, round 26): 18 to 31 µs a row as the table grew with
version 4, a flat 12 µs with version 7, and 638 bytes of WAL a row against 912.

The other 74 bits are random (`os.urandom`): ids made in the same millisecond
do not collide, and one id cannot be guessed from another. An id is not a
credential (reading a record takes a key whose scope covers it), and what its
prefix tells, when it was made, the record's `received_at` says anyway.

`str(uuid.uuid4())` built a UUID object and formatted its integer (about 4 %
of a bulk row's CPU); these write the same canonical text from the bytes.
"""

from __future__ import annotations

import os
import time
import uuid


def time_ordered_bytes() -> bytes:
    """The 16 bytes of a new version-7 UUID: 48 bits of Unix time in ms, version 7, 74 random bits, variant 10."""
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = raw[6] & 0x0F | 0x70  # version 7
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 9562 variant
    return bytes(raw)


def new_id() -> str:
    """A new version-7 UUID in its canonical text form (lower-case, 8-4-4-4-12)."""
    text = time_ordered_bytes().hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_uuid() -> uuid.UUID:
    """A new version-7 UUID as a `uuid.UUID` (an envelope's event id)."""
    return uuid.UUID(bytes=time_ordered_bytes())

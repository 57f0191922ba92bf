"""Deterministic ids: `uuid.uuid5`, as text, at a fraction of its cost.

Routing derives two or three ids per record (each notice's id from its
triple, each event's id from its cause), so that a replay re-emits the same
ones, and writes each as text. The standard library's uuid5 goes through
UUID's general constructor and `bytes` property, and `str()` of the result
through Python code once more; this computes the same text (SHA-1 of
namespace and name, version 5, RFC 4122 variant) straight from the digest.
"""

from __future__ import annotations

import hashlib
import uuid

# clears the version nibble and the variant bits of a 128-bit value, then sets version 5, variant 10
_KEEP = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_VERSION_5 = (5 << 76) | (0x8000 << 48)


def derived_id(namespace: uuid.UUID | str, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`; the namespace may be given as a UUID's text."""
    space = namespace.bytes if isinstance(namespace, uuid.UUID) else bytes.fromhex(namespace.replace("-", ""))
    digest = hashlib.sha1(space + name.encode(), usedforsecurity=False).digest()
    text = f"{(int.from_bytes(digest[:16], 'big') & _KEEP) | _VERSION_5:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

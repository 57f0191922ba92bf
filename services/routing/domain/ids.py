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


def derived_id(namespace: uuid.UUID | str, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`; the namespace may be given as a UUID's text."""
    space = namespace.bytes if isinstance(namespace, uuid.UUID) else bytes.fromhex(namespace.replace("-", ""))
    value = bytearray(hashlib.sha1(space + name.encode(), usedforsecurity=False).digest()[:16])
    # version 5 in the high nibble of byte 6, the RFC 4122 variant (binary 10) in the top bits of byte 8:
    # set on the bytes, then written as hex: about a tenth cheaper than through a 128-bit integer (a quiet box)
    value[6] = (value[6] & 0x0F) | 0x50
    value[8] = (value[8] & 0x3F) | 0x80
    text = value.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

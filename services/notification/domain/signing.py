"""The webhook signature: HMAC-SHA256 over `timestamp + "." + body`, hex-encoded.

Receivers recompute it with the shared secret and compare in constant time;
the timestamp inside the signed text lets them refuse replays older than a
few minutes. docs/notification.md shows the receiving side.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` for a body sent at `timestamp` (Unix seconds, as text)."""
    signed = timestamp.encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, received: str, *, now_s: float, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """True when `received` is the signature of this body and the timestamp is recent."""
    try:
        sent_s = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - sent_s) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), received)

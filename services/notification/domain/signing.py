"""Webhook signatures per the Standard Webhooks specification (standardwebhooks.com).

Each push carries `webhook-id` (the notice id: the same on every retry, so a
receiver can drop duplicates), `webhook-timestamp` (Unix seconds) and
`webhook-signature`: `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`,
keyed with the bytes behind the `whsec_<base64>` secret. Any Standard Webhooks
library verifies it; docs/notification.md shows the receiving side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every secret, not a secret)
SECRET_BYTES = (24, 64)  # the key lengths the specification allows


def secret_of(key: bytes) -> str:
    """The `whsec_<base64>` form in which a key is handed to the receiver."""
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def key_of(secret: str) -> bytes:
    """The HMAC key behind a `whsec_` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is base64 after its prefix") from error
    if not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise ValueError(f"a webhook secret holds {SECRET_BYTES[0]} to {SECRET_BYTES[1]} bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64>` for a body sent as message `msg_id` at `timestamp` (Unix seconds, as text)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.digest(key_of(secret), signed, hashlib.sha256)  # one C call, not an HMAC object
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one push."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, msg_id, timestamp, body),
    }

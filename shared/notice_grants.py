"""A notice's grant: proof, carried in its record link, of which office the notice was sent to.

Notification writes the grant into every `record_link` it shows (inbox and
webhook alike); intake checks it when the link is opened. A recipient's system
may open the link the moment the push arrives, before intake has learnt the
notice from `notices.issued`: the grant lets intake answer from the link
alone, and its own table still answers links without one.

A grant is `<recipient code>.<key id>.<tag>`: an HMAC (shared.sealing.Keyring.tag)
over the notice id, record id and recipient code, so it opens nothing else and
only a holder of the data keys can make one. It is not enough alone: the
caller's key must still act for the recipient office. It holds no personal data.
"""

from __future__ import annotations

import base64
import hmac
import re

import orjson

from shared.sealing import Keyring, UnknownKeyId

# recipient code (street or district bureau), key id, base64url of 32 bytes without padding
GRANT = re.compile(r"^([0-9]{6}|[0-9]{9})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{43})$")
MAX_LENGTH = 9 + 1 + 32 + 1 + 43


def grant_for(keyring: Keyring, *, notice_id: str, record_id: str, recipient_code: str) -> str:
    """The grant a link to `record_id` carries for the notice sent to `recipient_code`."""
    tag = keyring.tag(_message(notice_id, record_id, recipient_code), key_id=keyring.current)
    return f"{recipient_code}.{keyring.current}.{_text(tag)}"


def granted_to(keyring: Keyring, grant: str, *, notice_id: str, record_id: str) -> str | None:
    """The office the notice was sent to, when `grant` was made for this notice and record; else None."""
    match = GRANT.match(grant)
    if match is None:
        return None
    recipient_code, key_id, given = match.groups()
    try:
        expected = keyring.tag(_message(notice_id, record_id, recipient_code), key_id=key_id)
    except UnknownKeyId:  # made with a key since retired, or not by this deployment
        return None
    except orjson.JSONEncodeError:  # an id no notice has (half of a UTF-16 pair)
        return None
    return recipient_code if hmac.compare_digest(_text(expected), given) else None


def _message(notice_id: str, record_id: str, recipient_code: str) -> bytes:
    return orjson.dumps(["notice-grant", notice_id, record_id, recipient_code])  # unambiguous, whatever the ids hold


def _text(tag: bytes) -> str:
    return base64.urlsafe_b64encode(tag).rstrip(b"=").decode()

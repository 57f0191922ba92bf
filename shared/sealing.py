"""Personal data sealed with envelope encryption: a keyring of AES-GCM data keys, named by key id.

A sealed value describes itself: `pf1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
The key id says which key opens it, so keys rotate: the keyring seals with
its current key and opens with any key it still holds. The associated data
binds a value to its context (a row id, an event id and field), so a sealed
value copied elsewhere does not open. Intake's tokens from before the
keyring (`v1.<base64>`) open with the key named `intake`.

Errors name key ids and settings, never a key or a sealed value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "pf1"
LEGACY_PREFIX = "v1."
LEGACY_KEY_ID = "intake"
KEYS_SETTING = "POPFLOW_DATA_KEYS"
KEY_ID_SETTING = "POPFLOW_DATA_KEY_ID"
AES_KEY_LENGTHS = (16, 24, 32)
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SIGNING_LABEL = b"popflow/signing-key/1"


class SealError(ValueError):
    """A sealed value that does not open (unknown key id, wrong key or context, tampered, malformed)."""

    key_id: str | None = None  # the data key id the value names; None when it is no sealed value at all


class UnknownKeyId(SealError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"sealed with key id {key_id!r}, which {KEYS_SETTING} does not hold")
        self.key_id = key_id


class BrokenSeal(SealError):
    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"does not open with key id {key_id!r}: another key under that id in {KEYS_SETTING}, "
            "a value moved to another context, or tampered"
        )
        self.key_id = key_id


@dataclass(frozen=True)
class Keyring:
    """Data keys by id; `current` seals, every key opens what it sealed."""

    keys: dict[str, bytes] = field(repr=False)
    current: str
    # one cipher per key: building one costs as much as the sealing itself (shared by threads: it holds no state)
    _ciphers: dict[bytes, AESGCM] = field(default_factory=dict, init=False, repr=False, compare=False)
    _signing_keys: dict[bytes, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"{KEY_ID_SETTING} names key id {self.current!r}, which {KEYS_SETTING} does not hold")

    def seal_bytes(self, plain: bytes, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(self.keys[self.current]).encrypt(nonce, plain, _aad(self.current, context))
        return f"{FORMAT}.{self.current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open_bytes(self, token: str, *, context: str) -> bytes:
        if token.startswith(LEGACY_PREFIX):
            return self._open_legacy(token, context)
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != FORMAT:
            raise SealError(f"not a sealed value (expected {FORMAT}.<key id>.<data>)")
        key_id, blob = parts[1], _b64(parts[2], urlsafe=True)
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownKeyId(key_id)
        try:
            return self._cipher(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(key_id, context))
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce and a tag
            raise BrokenSeal(key_id) from None

    def seal(self, value: Any, *, context: str) -> str:
        """`value` (anything JSON can hold) sealed for `context`."""
        return self.seal_bytes(orjson.dumps(value), context=context)

    def open(self, token: str, *, context: str) -> Any:
        """What `seal` sealed; SealError when it does not open here."""
        return orjson.loads(self.open_bytes(token, context=context))

    def tag(self, message: bytes, *, key_id: str) -> bytes:
        """HMAC-SHA256 of `message` under a signing key derived from data key `key_id`; UnknownKeyId
        when the keyring does not hold it. The data key itself only ever seals."""
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownKeyId(key_id)
        signing = self._signing_keys.get(key)  # keyed by the key itself, as the ciphers are
        if signing is None:
            signing = self._signing_keys[key] = hmac.new(key, SIGNING_LABEL, hashlib.sha256).digest()
        return hmac.new(signing, message, hashlib.sha256).digest()

    def _cipher(self, key: bytes) -> AESGCM:
        # keyed by the key itself, so a keyring whose dict is changed never seals with a stale cipher
        cipher = self._ciphers.get(key)
        if cipher is None:
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    def _open_legacy(self, token: str, context: str) -> bytes:
        key = self.keys.get(LEGACY_KEY_ID)
        if key is None:
            raise UnknownKeyId(LEGACY_KEY_ID)
        blob = _b64(token.removeprefix(LEGACY_PREFIX), urlsafe=False)
        try:
            return self._cipher(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce and a tag
            raise BrokenSeal(LEGACY_KEY_ID) from None


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and (value.startswith(f"{FORMAT}.") or value.startswith(LEGACY_PREFIX))


def parse_keyring(keys: str, current: str | None) -> Keyring:
    """`kid1:base64,kid2:base64` (POPFLOW_DATA_KEYS) with the current id; ValueError naming the setting."""
    parsed: dict[str, bytes] = {}
    for entry in (e.strip() for e in keys.split(",")):
        if not entry:
            continue
        key_id, sep, text = entry.partition(":")
        if not sep or not KEY_ID.match(key_id):
            raise ValueError(f"{KEYS_SETTING} lists key_id:base64 pairs; key ids are 1-32 of A-Z a-z 0-9 _ -")
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{KEYS_SETTING}: the key of id {key_id!r} is not base64") from None
        if len(key) not in AES_KEY_LENGTHS:
            raise ValueError(f"{KEYS_SETTING}: the key of id {key_id!r} must decode to 16, 24 or 32 bytes")
        parsed[key_id] = key
    if not parsed:
        raise ValueError(f"{KEYS_SETTING} holds no key")
    if current is None:
        if len(parsed) > 1:
            raise ValueError(f"{KEY_ID_SETTING} must name the current key when {KEYS_SETTING} holds several")
        current = next(iter(parsed))
    return Keyring(parsed, current)


def _aad(key_id: str, context: str) -> bytes:
    return f"{FORMAT}\x00{key_id}\x00{context}".encode()


# base64url's two letters as standard base64 has them: what base64.urlsafe_b64decode does, without its
# three layers of Python around binascii (a third of opening a sealed value, where every consumed event opens some)
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(text: str, *, urlsafe: bool) -> bytes:
    try:
        if urlsafe:
            return binascii.a2b_base64(text.encode("ascii").translate(_FROM_URLSAFE))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        raise SealError("not a sealed value (its data is not base64)") from None

"""Personal data sealed at rest with AES-GCM (identity numbers, names, phones).

A sealed value is `v1.` + base64(nonce ‖ ciphertext ‖ tag). The associated
data binds it to its row (record id or event id), so a sealed person copied
onto another row does not open. Look-ups never decrypt: they go through the
keyed blind index (shared.identity.person_key).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1."


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, value: dict[str, Any], *, bound_to: str) -> str:
        nonce = os.urandom(12)
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = self._aead.encrypt(nonce, plain, bound_to.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, *, bound_to: str) -> dict[str, Any]:
        """The sealed value; cryptography's InvalidTag when the key or the row is wrong."""
        raw = base64.b64decode(token.removeprefix(PREFIX))
        plain = self._aead.decrypt(raw[:12], raw[12:], bound_to.encode())
        value: dict[str, Any] = json.loads(plain)
        return value

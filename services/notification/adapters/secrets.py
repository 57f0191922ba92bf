"""Webhook secrets encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag).

The service must sign with the plain secret, so it cannot store a hash; it
stores ciphertext, and a stolen database (or backup) alone reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet


class SecretBox:
    def __init__(self, key_material: str) -> None:
        # Any text becomes a 32-byte Fernet key; domain-separated so the same
        # deployment secret used elsewhere yields an unrelated key here.
        digest = hashlib.sha256(b"popflow/notification/webhook-secrets\x00" + key_material.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, ciphertext: str) -> str:
        return self._fernet.decrypt(ciphertext.encode("ascii")).decode()

"""What makes an exchanged message trustworthy: signed by its sender, sealed for its recipient.

Signatures follow the Standard Webhooks layout (`webhook-id`, `webhook-timestamp`,
`webhook-signature` over `{id}.{timestamp}.{body}`): `v1a,<base64 Ed25519>`
when the sender has a key pair, `v1,<base64 HMAC-SHA256>` when the two sides
share a secret. The timestamp is inside what is signed, so a captured request
cannot be replayed after the tolerance; within it, the message id makes a
replay a duplicate.

Sealing is an anonymous sealed box: an ephemeral X25519 key agreed with the
recipient's public key, HKDF-SHA256, AES-256-GCM. Only the holder of the
recipient's private key opens it; the platform in between never reads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DEFAULT_TOLERANCE_S = 300
_RAW = serialization.Encoding.Raw
_SEAL_INFO = b"popflow-exchange-seal-v1"


class BadSeal(ValueError):
    """A sealed part that does not open with our key (tampered, or sealed for someone else)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not base64") from error


def new_key_pairs() -> dict[str, str]:
    """A fresh signing pair and sealing pair, base64: the private halves stay, the public ones go to partners."""
    signing, sealing = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    return {
        "signing_key": b64(signing.private_bytes_raw()),
        "verify_key": b64(signing.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)),
        "sealing_key": b64(sealing.private_bytes_raw()),
        "seal_key": b64(sealing.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)),
    }


def _signed_text(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign_ed25519(signing_key: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(unb64(signing_key))
    return "v1a," + b64(key.sign(_signed_text(msg_id, timestamp, body)))


def sign_hmac(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), _signed_text(msg_id, timestamp, body), hashlib.sha256).digest()
    return "v1," + b64(digest)


def verify_signature(
    *,
    verify_key: str | None,
    secret: str | None,
    msg_id: str,
    timestamp: str,
    body: bytes,
    received: str,
    now_s: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when one of the space-separated signatures in `received` is the sender's and the timestamp is recent."""
    # Unix seconds as ASCII digits: int() would also read hundreds of digits, too large to compare with a float
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now_s - int(timestamp)) > tolerance_s:
        return False
    signed = _signed_text(msg_id, timestamp, body)
    return any(_one_valid(part, verify_key, secret, signed) for part in received.split())


def _one_valid(part: str, verify_key: str | None, secret: str | None, signed: bytes) -> bool:
    version, _, value = part.partition(",")
    try:
        if version == "v1a" and verify_key:
            Ed25519PublicKey.from_public_bytes(unb64(verify_key)).verify(unb64(value), signed)
            return True
        if version == "v1" and secret:
            expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
            return hmac.compare_digest(expected, unb64(value))
    except (InvalidSignature, ValueError):
        return False
    return False


def seal(plaintext: bytes, seal_key: str) -> str:
    """`plaintext` readable only by the holder of the private half of `seal_key`."""
    recipient = X25519PublicKey.from_public_bytes(unb64(seal_key))
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    key = _derive(ephemeral.exchange(recipient), ephemeral_public, unb64(seal_key))
    nonce = os.urandom(12)
    return b64(ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, None))


def open_sealed(token: str, sealing_key: str, *previous: str) -> bytes:
    """The plain text sealed for `sealing_key` (or, during a key switch-over, for a `previous` one); BadSeal else."""
    for key in (sealing_key, *previous):
        try:
            return _open_with(token, key)
        except BadSeal:
            continue
    raise BadSeal("the sealed part does not open with this deployment's key")


def _open_with(token: str, sealing_key: str) -> bytes:
    try:
        raw = unb64(token)
        ephemeral_public, nonce, ciphertext = raw[:32], raw[32:44], raw[44:]
        own = X25519PrivateKey.from_private_bytes(unb64(sealing_key))
        own_public = own.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        shared = own.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        return AESGCM(_derive(shared, ephemeral_public, own_public)).decrypt(nonce, ciphertext, None)
    except (InvalidTag, ValueError) as error:
        raise BadSeal("the sealed part does not open with this deployment's key") from error


def _derive(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO + ephemeral_public + recipient_public)
    return hkdf.derive(shared)

"""Exchange partners: who carries notices for the division codes this deployment does not serve.

Pure: a partner is reached over `https` (another PopFlow deployment's exchange
door) or `ftp`/`ftps` (a city exchange platform's drop), and has keys: one to
check what it sends us (an Ed25519 public key, or a shared secret named by an
environment variable) and one to seal what we send it (an X25519 public key).
While a partner switches keys, its previous checking key is accepted too,
until a moment the partners file names.
A partner that lacks any of that is *unconfigured*: nothing goes to it, and
the notices it would carry are refused where the bureau sees them.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

UNCONFIGURED = "unconfigured"  # the endpoint name stamped on a notice no partner can carry


class Transport(StrEnum):
    HTTPS = "https"
    FTP = "ftp"
    FTPS = "ftps"


@dataclass(frozen=True, slots=True)
class FtpDrop:
    """The exchange platform's FTP server: one folder per district (theirs to read, ours to poll)."""

    host: str
    port: int = 21
    folders: dict[str, str] = field(default_factory=dict)  # district code -> folder
    user_env: str | None = None
    password_env: str | None = None

    def folder_for(self, code: str) -> str | None:
        return self.folders.get(code[:6])


@dataclass(frozen=True, slots=True)
class Checker:
    """One way to check a partner's signature: its Ed25519 public key, or the variable holding a shared secret."""

    verify_key: str | None
    secret_env: str | None


@dataclass(frozen=True, slots=True)
class PartnerKeys:
    verify_key: str | None = None  # base64 Ed25519 public key: checks what the partner signs
    secret_env: str | None = None  # or the name of the variable holding a shared signing secret
    seal_key: str | None = None  # base64 X25519 public key: what we send is sealed to it
    # a switch-over: what the partner signed with before, still accepted until `previous_until`
    previous_verify_key: str | None = None
    previous_secret_env: str | None = None
    previous_until: datetime | None = None

    def checkers(self, now: datetime) -> list[Checker]:
        """The current key, and the previous one while its window lasts (we seal only to the current one)."""
        current = [Checker(self.verify_key, self.secret_env)]
        rotating = self.previous_until is not None and now < self.previous_until
        if rotating and (self.previous_verify_key or self.previous_secret_env):
            return [*current, Checker(self.previous_verify_key, self.previous_secret_env)]
        return current


@dataclass(frozen=True, slots=True)
class Partner:
    name: str
    transport: Transport
    url: str | None = None  # https: the partner's notification base URL
    ftp: FtpDrop | None = None
    keys: PartnerKeys = PartnerKeys()

    def problems(self) -> list[str]:
        """Why nothing can be exchanged with this partner yet; empty when it is ready."""
        missing = []
        if self.transport is Transport.HTTPS and not self.url:
            missing.append("an https partner needs url")
        if self.transport is not Transport.HTTPS and self.ftp is None:
            missing.append("an ftp partner needs host")
        if not (self.keys.verify_key or self.keys.secret_env):
            missing.append("no verify_key or secret_env to check what it sends")
        if not self.keys.seal_key:
            missing.append("no seal_key to seal what we send it")
        # a previous key is not held to this: once its switch-over ends it is never read, and until then a typo in
        # it refuses only what the partner still signs with the old key, which the partner sees (401)
        for name in ("verify_key", "seal_key"):
            key = getattr(self.keys, name)
            if key and not _public_key(key):  # a typo would fail every message at sealing or every check
                missing.append(f"{name} is not a public key (base64 of 32 bytes)")
        return missing

    @property
    def address(self) -> str:
        if self.ftp is not None:
            return f"{self.transport.value}://{self.ftp.host}:{self.ftp.port}"
        return self.url or ""


@dataclass(frozen=True, slots=True)
class PartnerTable:
    """Partners by division-code prefix (the longest match wins) and an optional default."""

    by_prefix: dict[str, Partner]
    default: Partner | None = None

    def partner_for(self, code: str) -> Partner | None:
        for length in range(len(code), 0, -1):
            partner = self.by_prefix.get(code[:length])
            if partner is not None:
                return partner
        return self.default

    def ready_partner_for(self, code: str) -> Partner | None:
        """The partner for `code` when it is fully configured, else None (refused, never dropped)."""
        partner = self.partner_for(code)
        return partner if partner is not None and not partner.problems() else None

    def named(self, name: str) -> Partner | None:
        everyone = [*self.by_prefix.values(), *([self.default] if self.default else [])]
        return next((p for p in everyone if p.name == name), None)

    def partners(self) -> list[tuple[list[str], Partner]]:
        """Each distinct partner once, with the prefixes it carries ("" for the default)."""
        seen: dict[str, tuple[list[str], Partner]] = {}
        for prefix, partner in sorted(self.by_prefix.items()):
            seen.setdefault(partner.name, ([], partner))[0].append(prefix)
        if self.default is not None:
            seen.setdefault(self.default.name, ([], self.default))[0].append("")
        return list(seen.values())


def _public_key(text: str) -> bool:
    """Whether `text` reads as an Ed25519 or X25519 public key: 32 bytes in standard base64."""
    try:
        return len(b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False

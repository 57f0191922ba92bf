"""The partners file (TOML), re-read whenever it changes. Routing and notification read the same file.

    [[partners]]
    name = "tianhe"
    prefixes = ["440106"]            # division-code prefixes, 2 to 9 digits; the longest match wins
    transport = "https"              # https | ftp | ftps
    url = "https://popflow.tianhe.example.gov.cn:8003"
    verify_key = "<base64 Ed25519 public key>"   # or secret_env = "NAME_OF_A_VARIABLE"
    seal_key = "<base64 X25519 public key>"

    [[partners]]
    name = "changsha-city-exchange"
    prefixes = ["4301"]
    transport = "ftps"
    verify_key = "..."
    seal_key = "..."
    ftp = { host = "ftp.cs.example.gov.cn", port = 21, user_env = "CS_FTP_USER",
            password_env = "CS_FTP_PASSWORD", folders = { "430102" = "/in/430102" } }
    # switching keys: what it signed with before is accepted too, until this moment
    previous_verify_key = "..."      # or previous_secret_env = "NAME_OF_A_VARIABLE"
    previous_until = 2027-04-01T00:00:00+08:00

The older form (`[default]` and `[[endpoints]]` with name and url) still
reads: such endpoints are https partners without keys, i.e. unconfigured. A
file that fails to parse is logged and ignored: the last good table stays.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import time
import tomllib
from base64 import b64decode
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from shared.digits import ascii_digits
from shared.exchange.partners import FtpDrop, Partner, PartnerKeys, PartnerTable, Transport

log = structlog.get_logger(__name__)

MAX_NAME = 100  # NoticeIssued.exchange_endpoint, and the partner columns of notification's exchange tables


class InvalidPartnersFile(ValueError):
    """The file is not TOML of the documented shape."""


def parse_partners(text: str, environ: Mapping[str, str] = os.environ) -> PartnerTable:
    """`environ`: where the shared secrets named by `secret_env` are (two partners holding one is refused)."""
    try:
        data = tomllib.loads(text)
        by_prefix: dict[str, Partner] = {}
        for entry in [*data.get("partners", []), *data.get("endpoints", [])]:
            partner = _partner(entry)
            for prefix in _prefixes(entry):
                by_prefix[prefix] = partner
        default = _partner(data["default"]) if "default" in data else None
        everyone = [*by_prefix.values(), *([default] if default else [])]
        _names_apart(everyone)
        _keys_apart(everyone, environ)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise InvalidPartnersFile(f"{type(error).__name__}: {error}") from error
    return PartnerTable(by_prefix=by_prefix, default=default)


def _partner(entry: dict[str, Any]) -> Partner:
    ftp = entry.get("ftp")
    return Partner(
        name=_name(entry),
        transport=Transport(entry.get("transport", "https")),
        url=str(entry["url"]) if "url" in entry else None,
        ftp=_ftp(ftp) if ftp is not None else None,
        keys=PartnerKeys(
            verify_key=entry.get("verify_key"),
            secret_env=entry.get("secret_env"),
            seal_key=entry.get("seal_key"),
            previous_verify_key=entry.get("previous_verify_key"),
            previous_secret_env=entry.get("previous_secret_env"),
            previous_until=_until(entry),
        ),
    )


def _names_apart(partners: list[Partner]) -> None:
    """A partner is known by its name wherever it acts (an answer counts when its sender is the partner our notice
    went to, an acknowledgement settles the batches sent to it): two entries of one name with keys of their own
    would let either key answer for the other's districts, as one shared key would. Refused; entries of one name
    that agree on their keys read as before (one partner, its prefixes in several entries)."""
    keys_of: dict[str, PartnerKeys] = {}
    for partner in partners:
        if keys_of.setdefault(partner.name, partner.keys) != partner.keys:
            raise InvalidPartnersFile(
                f"two partners are named {partner.name!r}, with different keys: each could answer as the other; "
                "give each partner its own name (one deployment serving several districts is one partner with "
                "their prefixes)"
            )


def _keys_apart(partners: list[Partner], environ: Mapping[str, str]) -> None:
    """Two partners checked with the same key could each sign as the other: a message's sender is taken from the
    partner whose key checks it, so one district's deployment could answer for another's notices. Refused: the
    same verify key, the same variable, or two variables holding the same secret (compared by digest, never
    shown)."""
    holder: dict[tuple[str, str], str] = {}
    for partner in partners:
        keys = partner.keys
        named = [("verify_key", _key_bytes(keys.verify_key)), ("verify_key", _key_bytes(keys.previous_verify_key))]
        for env in (keys.secret_env, keys.previous_secret_env):
            named.append(("secret_env", env))
            secret = environ.get(env) if env else None
            named.append(("secret", hashlib.sha256(secret.encode()).hexdigest() if secret else None))
        for kind, value in named:
            if not value:
                continue
            other = holder.setdefault((kind, value), partner.name)
            if other != partner.name:
                shown = f" {value}" if kind == "secret_env" else ""  # a variable's name, never a key or a secret
                raise InvalidPartnersFile(
                    f"partners {other!r} and {partner.name!r} share a {kind}{shown}: each could sign as the other; "
                    "give each partner its own (one deployment serving several districts is one partner with their "
                    "prefixes)"
                )


def _key_bytes(text: str | None) -> str | None:
    """A public key as the bytes it stands for: base64 can spell one key two ways (the last character's unused
    bits), and two spellings of one key are one key."""
    if not text:
        return None
    try:
        return b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text  # not a key: refused where the keys are read


def _name(entry: dict[str, Any]) -> str:
    """The partner's name, as long as a notice's `exchange_endpoint` and the exchange's tables hold it: longer,
    routing could build no notice for its codes and notification record nothing sent to it or received."""
    name = str(entry["name"])
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidPartnersFile(f"a partner's name is 1 to {MAX_NAME} characters, not {len(name)}")
    return name


def _until(entry: dict[str, Any]) -> datetime | None:
    """The end of a key switch-over: a TOML date-time with its offset, required beside a previous key."""
    until = entry.get("previous_until")
    previous = entry.get("previous_verify_key") or entry.get("previous_secret_env")
    if previous and until is None:
        raise InvalidPartnersFile(f"partner {entry.get('name')!r}: a previous key needs previous_until")
    if until is not None and not (isinstance(until, datetime) and until.tzinfo is not None):
        raise InvalidPartnersFile(f"partner {entry.get('name')!r}: previous_until is a date-time with an offset")
    return until


def _ftp(entry: dict[str, Any]) -> FtpDrop:
    folders = {str(code): str(folder) for code, folder in dict(entry.get("folders", {})).items()}
    return FtpDrop(
        host=str(entry["host"]),
        port=int(entry.get("port", 21)),
        folders=folders,
        user_env=entry.get("user_env"),
        password_env=entry.get("password_env"),
    )


def _prefixes(entry: dict[str, Any]) -> list[str]:
    prefixes = [str(p) for p in entry.get("prefixes", [])] + ([str(entry["prefix"])] if "prefix" in entry else [])
    if not prefixes:
        raise InvalidPartnersFile(f"partner {entry.get('name')!r} names no prefix")
    for prefix in prefixes:
        if not (ascii_digits(prefix) and 2 <= len(prefix) <= 9):
            raise InvalidPartnersFile(f"prefix {prefix!r} is not 2 to 9 digits")
    return prefixes


class PartnersFile:
    """The current partner table; the file's modification time is looked at once per `check_interval_s`."""

    def __init__(self, path: Path, *, check_interval_s: float = 1.0) -> None:
        self._path = path
        self._interval = check_interval_s
        self._checked_at = float("-inf")
        self._mtime: float | None = None
        self._current = self._read()

    def current(self) -> PartnerTable:
        now = time.monotonic()
        if now - self._checked_at >= self._interval:
            self._checked_at = now
            self._reload_if_changed()
        return self._current

    def _read(self) -> PartnerTable:
        self._mtime = self._path.stat().st_mtime
        return parse_partners(self._path.read_text(encoding="utf-8"))

    def _reload_if_changed(self) -> None:
        try:
            if self._path.stat().st_mtime == self._mtime:
                return
            self._current = self._read()
            log.info("partners file reloaded", path=str(self._path))
        except (OSError, InvalidPartnersFile) as error:
            log.warning("partners file not reloaded; keeping the last good one", error=str(error))

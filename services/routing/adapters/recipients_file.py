"""The exchange endpoints file (TOML), re-read whenever it changes.

Format (see services/routing/adapters/recipients.toml):

    [default]
    name = "national-exchange"
    url = "https://..."

    [[endpoints]]
    prefix = "4401"        # a division-code prefix, 2 to 9 digits
    name = "guangzhou-city-exchange"
    url = "https://..."

A file that fails to parse is logged and ignored: routing keeps the last
good table rather than stopping.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import structlog

from services.routing.domain.recipients import ExchangeEndpoint, ExchangeTable, Recipients
from shared.digits import ascii_digits

log = structlog.get_logger(__name__)


class InvalidRecipientsFile(ValueError):
    """The file is not TOML of the documented shape."""


def parse_exchanges(text: str) -> ExchangeTable:
    try:
        data = tomllib.loads(text)
        default = _endpoint(data["default"])
        by_prefix = {_prefix(entry): _endpoint(entry) for entry in data.get("endpoints", [])}
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        raise InvalidRecipientsFile(f"{type(error).__name__}: {error}") from error
    return ExchangeTable(by_prefix=by_prefix, default=default)


def _endpoint(entry: dict[str, Any]) -> ExchangeEndpoint:
    return ExchangeEndpoint(name=str(entry["name"]), url=str(entry["url"]))


def _prefix(entry: dict[str, Any]) -> str:
    prefix = str(entry["prefix"])
    if not (ascii_digits(prefix) and 2 <= len(prefix) <= 9):
        raise InvalidRecipientsFile(f"prefix {prefix!r} is not 2 to 9 digits")
    return prefix


class RecipientsFile:
    """The current recipients: served districts (a setting) and the file's endpoints.

    The file's modification time is looked at no more than once per
    `check_interval_s`, so routing thousands of records a second costs no stat calls.
    """

    def __init__(self, path: Path, served_districts: list[str], *, check_interval_s: float = 1.0) -> None:
        self._path = path
        self._served = served_districts
        self._interval = check_interval_s
        self._checked_at = float("-inf")
        self._mtime: float | None = None
        self._current = Recipients.of(served_districts, self._read())

    def current(self) -> Recipients:
        now = time.monotonic()
        if now - self._checked_at >= self._interval:
            self._checked_at = now
            self._reload_if_changed()
        return self._current

    def _read(self) -> ExchangeTable:
        self._mtime = self._path.stat().st_mtime
        return parse_exchanges(self._path.read_text(encoding="utf-8"))

    def _reload_if_changed(self) -> None:
        try:
            if self._path.stat().st_mtime == self._mtime:
                return
            self._current = Recipients.of(self._served, self._read())
            log.info("recipients file reloaded", path=str(self._path))
        except (OSError, InvalidRecipientsFile) as error:
            log.warning("recipients file not reloaded; keeping the last good one", error=str(error))

"""The partners file seen from routing: which exchange endpoint carries a notice, re-read when it changes.

The format is shared/exchange/partners_file.py's (see recipients.toml beside
this module). Routing only names the partner on each notice; notification
does the sending, with the partner's keys.
"""

from __future__ import annotations

from pathlib import Path

from services.routing.domain.recipients import ExchangeTable, Recipients
from shared.exchange.partners_file import InvalidPartnersFile, PartnersFile, parse_partners

InvalidRecipientsFile = InvalidPartnersFile


def parse_exchanges(text: str) -> ExchangeTable:
    return ExchangeTable.of_partners(parse_partners(text))


class RecipientsFile:
    """The current recipients: served districts (a setting) and the file's partners."""

    def __init__(self, path: Path, served_districts: list[str], *, check_interval_s: float = 1.0) -> None:
        self._served = served_districts
        self._file = PartnersFile(path, check_interval_s=check_interval_s)
        self._table = self._file.current()
        self._current = Recipients.of(served_districts, ExchangeTable.of_partners(self._table))

    def current(self) -> Recipients:
        table = self._file.current()
        if table is not self._table:
            self._table, self._current = table, Recipients.of(self._served, ExchangeTable.of_partners(table))
        return self._current

"""A taken FTP batch with lines that did not read is listed for the bureau under its id's safe form.

A batch's id is its file's name, its sender's choice: a batch refused whole, or an orphan, was listed under
said_safely's form (identity numbers and Chinese masked, control characters escaped, cut), but a taken batch
with lines that did not read was listed under its id as written: an identity number kept in clear in
exchange_set_aside, and shown by GET /v1/exchange/partners.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.ftp_drop import FtpDrop
from services.notification.adapters.tables import ExchangeSetAside
from services.notification.domain.exchange_batch import OpenedBatch, not_read_said
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from shared.clock import FixedClock
from shared.exchange.partners import Partner, PartnerKeys, Transport
from tests.support.records import id_number

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.listed: list[ExchangeSetAside] = []

    async def set_aside_once(self, row: ExchangeSetAside) -> None:
        self.listed.append(row)


async def test_a_batch_with_lines_not_read_is_listed_under_its_ids_safe_form() -> None:
    person = id_number(sequence=11)
    store, unused = Store(), cast(Any, None)
    poller = FtpPoller(
        drop=cast(FtpDrop, unused),
        folders=["/440111"],
        door=cast(ExchangeDoor, unused),
        store=cast(ExchangeStore, store),
        clock=FixedClock(NOW),
        interval_s=5.0,
        max_age_s=86_400,
    )
    partner = Partner(name="tianhe", transport=Transport.FTP, url=None, ftp=None, keys=PartnerKeys())
    batch_id = f"440106-{person}-张三\x1b[2J" + "x" * 300
    opened = OpenedBatch(messages=[], malformed=[(2, "not JSON")])

    await poller._list_taken(batch_id, {"sender": "440106"}, partner, not_read_said(opened))

    [row] = store.listed
    assert row.file.startswith("440106-")  # still tells the bureau whose batch it is
    assert person not in row.file
    assert "张三" not in row.file
    assert "\x1b" not in row.file
    assert len(row.file) <= 200

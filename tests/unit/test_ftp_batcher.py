"""The FTP batcher: what is due for one folder goes up as one batch, cut by count and by size.

The upload is a fake (the FTP itself is tests/integration/test_ftp_exchange.py's);
every waiting message hears its batch's outcome.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.notification.adapters.ftp_drop import FtpAccount
from services.notification.domain import exchange_crypto as crypto
from services.notification.domain.exchange_batch import Batch, open_batch, read_manifest
from services.notification.service_layer import exchange_ftp_inbound, exchange_ftp_outbound
from services.notification.service_layer.exchange_ftp_outbound import FtpBatcher, FtpItem
from shared.exchange.partners import Partner, PartnerKeys, Transport
from tests.support.notification_fakes import FakeClock

TIANHE = crypto.new_key_pairs()
PARTNER = Partner("tianhe", Transport.FTP, keys=PartnerKeys(seal_key=TIANHE["seal_key"]))
ACCOUNT = FtpAccount("127.0.0.1", 21, "440111", "secret")


class Uploads:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def drop(self, account: FtpAccount) -> Uploads:
        return self

    async def upload(self, folder: str, batch: Batch) -> None:
        self.batches.append(batch)


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> Uploads:
    found = Uploads()
    monkeypatch.setattr(exchange_ftp_outbound, "FtpDrop", found.drop)
    return found


def _item(n: int, size: int) -> FtpItem:
    line = b'{"message_id":"m-%d","type":"notice","sender":"440111","sealed":"%s"}' % (n, b"x" * size)
    return FtpItem(PARTNER, ACCOUNT, "/440106", "440111", "440106", line, f"m-{n}")


async def _sent(batcher: FtpBatcher, items: list[FtpItem]) -> list[int | None]:
    return [result.status_code for result in await asyncio.gather(*(batcher.send(item) for item in items))]


def _batcher(max_batch: int) -> tuple[FtpBatcher, list[list[str]]]:
    recorded: list[list[str]] = []

    async def record(item: FtpItem, batch: Batch, message_ids: list[str]) -> None:
        recorded.append(message_ids)

    clock = FakeClock(datetime(2027, 3, 1, 2, 0, tzinfo=UTC))
    sign = lambda partner, msg_id, ts, body: "v1,unsigned-in-this-test"  # noqa: E731
    return FtpBatcher(sign=sign, record=record, clock=clock, window_s=0.05, max_batch=max_batch), recorded


async def test_messages_due_together_go_up_as_one_batch_in_their_order(uploads: Uploads) -> None:
    batcher, recorded = _batcher(max_batch=500)
    assert await _sent(batcher, [_item(n, 10) for n in range(7)]) == [200] * 7
    [batch] = uploads.batches
    assert recorded == [[f"m-{n}" for n in range(7)]]
    opened = open_batch(read_manifest(batch.manifest), batch.file, TIANHE["sealing_key"])
    assert [message.message_id for _, message in opened.messages] == [f"m-{n}" for n in range(7)]


async def test_a_batch_is_cut_at_max_batch_messages(uploads: Uploads) -> None:
    batcher, recorded = _batcher(max_batch=3)
    assert await _sent(batcher, [_item(n, 10) for n in range(7)]) == [200] * 7
    assert [len(ids) for ids in recorded] == [3, 3, 1]


async def test_a_batch_is_cut_before_its_text_outgrows_what_a_reader_takes(
    uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange_ftp_outbound, "_LARGEST_LINE", 2_000)
    monkeypatch.setattr(exchange_ftp_outbound, "MAX_TEXT_BYTES", 2_000 + 5_000)  # cut once 5,000 bytes are gathered
    batcher, recorded = _batcher(max_batch=500)
    assert await _sent(batcher, [_item(n, 1_000) for n in range(12)]) == [200] * 12
    assert [len(ids) for ids in recorded] == [5, 5, 2]  # each line 1,07x bytes: the fifth passes 5,000
    assert all(len(batch.file) < 4 * 7_000 // 3 + 100 for batch in uploads.batches)


async def test_the_poller_lives_on_after_a_poll_that_fails_in_any_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only FTP errors were caught: any other (the store's, a fault) ended the task, and no batch was read again
    until the service restarted."""
    polls: list[int] = []
    done = asyncio.Event()

    async def poll_once(self: exchange_ftp_inbound.FtpPoller) -> int:
        polls.append(len(polls))
        if len(polls) < 3:
            raise [RuntimeError("a fault"), ConnectionResetError("the store")][len(polls) - 1]
        done.set()
        return 0

    monkeypatch.setattr(exchange_ftp_inbound.FtpPoller, "poll_once", poll_once)
    poller = exchange_ftp_inbound.FtpPoller(
        drop=None,  # type: ignore[arg-type]  # poll_once is the fake's
        folders=[],
        door=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        clock=FakeClock(datetime(2027, 3, 1, tzinfo=UTC)),
        interval_s=0.0,
        max_age_s=60,
    )
    task = asyncio.create_task(poller.run())
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    assert len(polls) >= 3  # a third poll came after the two that failed

"""A sender whose folder does not take our acknowledgement, and a folder of ours that does not list, wait: not read
again at every poll, said once a wait, tried again after 5 s, 10 s, ... up to 5 min, and read as usual again once
they answer.

The same two deployments as tests/integration/test_ftp_acknowledgements.py (real pyftpdlib, real PostgreSQL);
their clock is a fake one that stands still until a test moves it.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.notification.adapters.ftp_drop import FtpDrop
from services.notification.service_layer import exchange_acks, exchange_ftp_inbound, ftp_holds
from tests.integration.test_ftp_acknowledgements import (
    FORWARD_ID,
    Side,
    _emptied,
    _forward,
    _send_forward,
    platform,
    sides,
)
from tests.support.ftp_platform import FtpPlatform
from tests.support.logs import logged_by
from tests.support.notification_fakes import FakeClock

__all__ = ["platform", "sides"]  # the fixtures, used by name


class SendersFolder:
    """Baiyun's folder, as Tianhe's acknowledgements meet it: refusing the connection while `down`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down, self.tried = True, 0
        self.reads: list[str] = []
        real_put, real_read = FtpDrop.put, FtpDrop.read

        async def put(drop: FtpDrop, folder: str, name: str, data: bytes) -> None:
            self.tried += 1
            if self.down:
                raise ConnectionRefusedError("the sender's folder does not answer")
            await real_put(drop, folder, name, data)

        async def read(drop: FtpDrop, folder: str, names: list[str], *, max_bytes: int) -> Any:
            self.reads.extend(names)
            return await real_read(drop, folder, names, max_bytes=max_bytes)

        monkeypatch.setattr(FtpDrop, "put", put)
        monkeypatch.setattr(FtpDrop, "read", read)


def _clock(side: Side) -> FakeClock:
    clock = side.poller._clock
    assert isinstance(clock, FakeClock)
    return clock


async def test_a_batch_whose_senders_folder_refuses_the_acknowledgement_waits_longer_each_time(
    sides: dict[str, Side], platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch was downloaded and applied again, and the refusal logged, at every poll (5 s) for as long as the
    sender's folder refused: now it waits 5 s, then 10 s, ... and is said once a wait."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    folder, clock = SendersFolder(monkeypatch), _clock(tianhe)

    with logged_by(monkeypatch, exchange_acks, exchange_ftp_inbound, ftp_holds) as logs:
        for _ in range(3):  # polls within the first wait: the batch is read once
            assert await tianhe.poller.poll_once() == 0
        assert (folder.tried, len(folder.reads)) == (1, 2)  # its manifest and its file, once
        clock.advance(5)
        assert await tianhe.poller.poll_once() == 0  # its wait passed: tried again, refused again
        clock.advance(5)
        assert await tianhe.poller.poll_once() == 0  # the second wait is 10 s
        assert folder.tried == 2
        # another batch of the same sender, new to us: its manifest is read, then it waits with the other
        await baiyun.inbox.store(_forward(12), now=clock.now())
        assert await baiyun.worker.deliver_due() == 1
        assert await tianhe.poller.poll_once() == 0
        assert (folder.tried, len(folder.reads)) == (2, 5)
    said = [e for e in logs if e["event"] == "ftp acknowledgement not written; the partner's batches wait"]
    assert [(e["partner"], e["failures"], e["wait_s"]) for e in said] == [("baiyun", 1, 5.0), ("baiyun", 2, 10.0)]
    assert not [e for e in logs if e["event"] == "ftp file left for the next poll"]
    assert len(list(platform.path("440106").glob("*.manifest.json"))) == 2  # both wait in the folder

    folder.down = False  # the sender's folder answers again
    clock.advance(5)
    with logged_by(monkeypatch, exchange_acks, exchange_ftp_inbound, ftp_holds) as logs:
        assert await tianhe.poller.poll_once() == 2  # both batches, one acknowledgement each
    assert [e["failures"] for e in logs if e["event"] == "ftp acknowledgements written again"] == [2]
    assert await tianhe.inbox.get(FORWARD_ID) is not None
    assert len(list(platform.path("440111").glob("*.ack.json"))) == 2
    folder.down = True  # refused once more: a new run, whose first wait is 5 s again
    await baiyun.inbox.store(_forward(13), now=clock.now())
    assert await baiyun.worker.deliver_due() == 1
    with logged_by(monkeypatch, exchange_acks, exchange_ftp_inbound, ftp_holds) as logs:
        assert await tianhe.poller.poll_once() == 0
    assert [e["wait_s"] for e in logs if e["event"].startswith("ftp acknowledgement not written")] == [5.0]


async def test_a_folder_of_ours_that_does_not_list_is_tried_again_after_a_wait_not_at_every_poll(
    sides: dict[str, Side], platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    tianhe = sides["440106"]
    _emptied(platform)
    monkeypatch.setattr(tianhe.poller, "_folders", ["/440104", "/440106"])  # 440104's folder was never made
    clock = _clock(tianhe)
    with logged_by(monkeypatch, exchange_acks, exchange_ftp_inbound, ftp_holds) as logs:
        for _ in range(3):
            await tianhe.poller.poll_once()
        clock.advance(5)
        await tianhe.poller.poll_once()
    said = [e for e in logs if e["event"] == "ftp folder not listed; tried again after a wait"]
    assert [(e["folder"], e["failures"], e["wait_s"]) for e in said] == [("/440104", 1, 5.0), ("/440104", 2, 10.0)]

    # the platform down a while: the waits stop at a minute, so the folders are read a minute after it ends at most
    with logged_by(monkeypatch, exchange_acks, exchange_ftp_inbound, ftp_holds) as logs:
        for _ in range(6):
            clock.advance(300)
            await tianhe.poller.poll_once()
    said = [e for e in logs if e["event"] == "ftp folder not listed; tried again after a wait"]
    assert [e["wait_s"] for e in said] == [20.0, 40.0, 60.0, 60.0, 60.0, 60.0]

    platform.path("440104").mkdir()
    clock.advance(60)
    with logged_by(monkeypatch, exchange_acks, exchange_ftp_inbound, ftp_holds) as logs:
        await tianhe.poller.poll_once()
    assert [(e["folder"], e["failures"]) for e in logs if e["event"] == "ftp folder listed again"] == [("/440104", 8)]
    platform.path("440104").rmdir()

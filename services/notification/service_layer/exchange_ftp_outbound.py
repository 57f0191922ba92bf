"""The outbound half of the FTP exchange: messages due for one district's folder go up together as a batch.

The delivery worker hands each due message for an FTP partner to `FtpBatcher`,
which gathers what is due together for one destination folder (for
`window_s`, at most `max_batch`), seals the batch for the recipient, signs its
manifest and uploads both (temporary name, then rename). Every message of the
batch gets the upload's outcome as its attempt: uploaded counts as delivered
(200); a failed upload is retried with backoff like a webhook push, and a
message uploaded twice is a duplicate on the other side. The batch is recorded
with its messages' ids before it goes up, for the recipient's acknowledgement
to settle (exchange_acks.py).

The poller reading partners' batches is exchange_ftp_inbound.py: the two share
no state and run in different places (this in every delivery worker's send
path, the poller as one replica's background task), and the poller needs the
door and the acknowledgements, which themselves import this side through
exchange_outbound.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

import structlog

from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.sender import SendResult
from services.notification.domain.exchange_batch import MAX_TEXT_BYTES, Batch, build_batch
from shared.clock import Clock
from shared.exchange.partners import Partner

log = structlog.get_logger(__name__)

_LARGEST_LINE = 32 << 10  # more than a message's line can be (exchange_messages' bounds)


@dataclass(frozen=True, slots=True)
class FtpItem:
    """One message for an FTP partner: where it goes and its line (exchange_messages.body_of)."""

    partner: Partner
    account: FtpAccount
    folder: str
    sender: str
    recipient: str  # the destination district
    line: bytes
    message_id: str  # what the partner's acknowledgement of the batch settles


@dataclass
class _Pending:
    first: FtpItem
    lines: list[bytes] = field(default_factory=list)
    size: int = 0  # the lines' bytes, with their newlines
    message_ids: list[str] = field(default_factory=list)
    waiting: list[asyncio.Future[SendResult]] = field(default_factory=list)


class FtpBatcher:
    def __init__(
        self,
        *,
        sign: Callable[[Partner, str, str, bytes], str],
        record: Callable[[FtpItem, Batch, list[str]], Awaitable[None]],
        clock: Clock,
        drop: Callable[[FtpAccount], FtpDrop] | None = None,  # the exchange's, on its own threads; None: FtpDrop
        window_s: float = 0.2,
        max_batch: int = 500,
    ) -> None:
        self._sign, self._record, self._clock, self._drop = sign, record, clock, drop or FtpDrop
        self._window_s, self._max_batch = window_s, max_batch
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, item: FtpItem) -> SendResult:
        key = (item.partner.name, item.folder, item.sender)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(item)
            self._spawn(self._flush_later(key, pending))
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        pending.lines.append(item.line)
        pending.size += len(item.line) + 1
        pending.message_ids.append(item.message_id)
        pending.waiting.append(future)
        if len(pending.lines) >= self._max_batch or pending.size >= MAX_TEXT_BYTES - _LARGEST_LINE:
            del self._pending[key]  # now, not when the upload's task starts: the next message begins another batch
            self._spawn(self._upload(pending))
        return await future

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_later(self, key: tuple[str, str, str], pending: _Pending) -> None:
        await asyncio.sleep(self._window_s)
        if self._pending.get(key) is pending:  # else gone up already, full
            del self._pending[key]
            await self._upload(pending)

    async def _upload(self, pending: _Pending) -> None:
        item, started = pending.first, time.perf_counter()
        now = self._clock.now()
        batch_id = f"{item.sender}-{item.recipient}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        try:
            assert item.partner.keys.seal_key is not None
            batch = build_batch(
                batch_id=batch_id,
                sender=item.sender,
                recipient=item.recipient,
                lines=pending.lines,
                seal_key=item.partner.keys.seal_key,
                timestamp=str(int(now.timestamp())),
                sign=lambda msg_id, ts, body: self._sign(item.partner, msg_id, ts, body),
            )
            # recorded before it goes up, so that its acknowledgement always finds it
            await self._record(item, batch, pending.message_ids)
            await self._drop(item.account).upload(item.folder, batch)
            result = SendResult(200, _since(started))
            log.info("ftp batch uploaded", partner=item.partner.name, batch_id=batch_id, count=len(pending.lines))
        except Exception as error:  # FTP, no key, the database: every message waiting here must hear of it
            result = SendResult(None, _since(started), f"ftp upload failed ({type(error).__name__})")
            log.warning("ftp batch not uploaded", partner=item.partner.name, error=type(error).__name__)
        for future in pending.waiting:
            if not future.done():
                future.set_result(result)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

"""A message id in an FTP batch is its sender's choice, as a file name is: the poller's lines quote it scrubbed,
escaped and cut (shared.logging.said_safely), not as it was written.

File names were made safe in the poller's log lines; the id of a message the door refused, or could not apply,
was still written as the batch said it: a terminal's escape sequence, a character that turns the line's text
around (JSON escapes the first, not the second) and an identity number with them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
import structlog
from structlog.testing import capture_logs

from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.ftp_drop import FtpDrop
from services.notification.domain.exchange_batch import OpenedBatch
from services.notification.domain.exchange_messages import AnswerPart, ExchangeMessage
from services.notification.service_layer import exchange_ftp_inbound
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from shared.clock import FixedClock
from shared.events import FeedbackResult
from shared.exchange.partners import Partner, PartnerKeys, Transport
from shared.http.problems import ProblemError
from tests.support.records import id_number

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
CHOSEN = f"\x1b[2J\u202e{id_number(sequence=7)}"  # 34 characters: an id the format allows (at most 64)


class Door:
    """The exchange door, refusing the first message (an unknown notice) and failing on the second."""

    def __init__(self) -> None:
        self.seen = 0

    async def apply(self, partner: Partner, message: ExchangeMessage) -> None:
        self.seen += 1
        if self.seen == 1:
            raise ProblemError(404, "Not Found", "No notice of ours was sent to this partner under that id.")
        raise RuntimeError("a fault no retry mends")


def _message(n: int) -> ExchangeMessage:
    answer = AnswerPart(
        notice_id=f"n{n}",
        record_id=f"r{n}",
        result=FeedbackResult.CONFIRMED,
        answered_by="440106001",
        answered_at=NOW,
    )
    return ExchangeMessage(message_id=f"{CHOSEN}-{n}", type="answer", sender="440106", answer=answer, sealed="x")


@pytest.mark.parametrize("at", [1, 2], ids=["refused", "not-applied"])
async def test_a_message_id_is_logged_scrubbed_and_escaped(monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    unused: Any = None
    poller = FtpPoller(
        drop=cast(FtpDrop, unused),
        folders=["/440111"],
        door=cast(ExchangeDoor, Door()),
        store=cast(ExchangeStore, unused),
        clock=FixedClock(NOW),
        interval_s=5.0,
        max_age_s=86_400,
    )
    partner = Partner(name="tianhe", transport=Transport.FTP, url=None, ftp=None, keys=PartnerKeys())
    opened = OpenedBatch(messages=[(1, _message(1)), (2, _message(2))], malformed=[])
    with capture_logs() as logs:
        monkeypatch.setattr(exchange_ftp_inbound, "log", structlog.get_logger(exchange_ftp_inbound.__name__))
        refusals = await poller._apply_each(partner, opened)

    assert refusals == [(1, "refused (404)"), (2, "refused (RuntimeError)")]
    event = ["ftp message refused", "ftp message could not be applied"][at - 1]
    [said] = [line for line in logs if line["event"] == event]
    assert said["message_id"] == f"\\x1b[2J\\u202e[id-redacted]-{at}"
    assert id_number(sequence=7) not in repr(logs)
    assert not [v for line in logs for v in line.values() if "\x1b" in str(v) or "\u202e" in str(v)]

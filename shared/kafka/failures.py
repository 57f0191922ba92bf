"""The failure policy of every subscriber, in one place.

- A message that can never be handled (undecodable, invalid, of an unknown
  type, a PermanentFailure raised by the domain, or values the database
  refuses: too long for a column, out of range, NOT NULL or CHECK violated)
  goes to the dead-letter topic with the error and where it came from, and
  the consumer goes on with the next message of the partition.
- Anything else (database down, broker hiccup) is raised after a short
  pause, so the batch is not acknowledged: the consumer seeks back to each
  partition's first message not done (shared.kafka.progress), commits that
  offset, and the messages from there are delivered again, retried until
  they can succeed, never skipped. Handlers are idempotent, so the messages
  of the batch that had already succeeded are harmless to see again.
- A dead letter Kafka does not take (the broker away) is such an error too:
  the batch comes again after the pause from that message, and the message
  is set aside once the dead letter is published (reporting's fold tries the
  publish a few times within its batch, then fails the batch the same way).
  A dead letter Kafka took before is not sent again: its message is done.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError

from shared.db.errors import is_data_error, sqlstate_of
from shared.events.envelope import UnknownEventType
from shared.kafka.dead_letter_bodies import SEALED_HEADER as SEALED_HEADER  # the names this module's importers know
from shared.kafka.dead_letter_bodies import TRUNCATED_HEADER as TRUNCATED_HEADER
from shared.kafka.dead_letter_bodies import open_dead_letter as open_dead_letter
from shared.kafka.dead_letter_bodies import seal_dead_letter as seal_dead_letter
from shared.logging import scrub_text
from shared.metrics import DEAD_LETTERS
from shared.sealing import SealError

log = structlog.get_logger(__name__)

Publish = Callable[[bytes, dict[str, str]], Awaitable[None]]


class PermanentFailure(Exception):
    """Raised by a handler for a message that will never succeed, however often retried."""


# SealError: a sealed part that does not open here (tampered, unknown key id) never will
PERMANENT_ERRORS = (
    PermanentFailure,
    ValidationError,
    UnknownEventType,
    SealError,
    json.JSONDecodeError,
    UnicodeError,  # undecodable bytes, or text that cannot be encoded as a contract says (an ASCII key)
)


def is_permanent(error: BaseException) -> bool:
    """True for what retrying can never fix: the errors above and the database refusing the data."""
    return isinstance(error, PERMANENT_ERRORS) or is_data_error(error)


class DeadLetters:
    """Sends what can never be handled to the dead-letter topic; paces retries of the rest."""

    def __init__(self, publish: Publish, *, retry_pause_s: float = 1.0) -> None:
        self._publish = publish
        self.retry_pause_s = retry_pause_s
        self.sent = 0  # dead letters Kafka has taken: a subscriber commits at once past a batch that set one aside

    async def send(self, body: bytes, source: Any, error: Exception, *, group: str) -> None:
        """`group`: the consumer group that set it aside (which service, which subscriber)."""
        # pydantic's messages may quote input values: describe() keeps only locations and kinds
        await self.set_aside(body, source, type(error).__name__, describe(error), group=group)

    async def set_aside(self, body: bytes, source: Any, error_type: str, why: str, *, group: str) -> None:
        """`send` for a reason already put in words (`why`: no value of the message in it). Logged and
        counted once published: a publish that fails raises, and the caller tries again."""
        headers = dead_letter_headers(source, error_type, why, group=group)
        await self._publish(body, headers)
        self.sent += 1
        log.error("message dead-lettered", **headers)
        DEAD_LETTERS.labels(headers["source_topic"]).inc()

    async def pause_before_retry(self, error: Exception) -> None:
        log.warning("handling failed, will be retried", error_type=type(error).__name__)
        await asyncio.sleep(self.retry_pause_s)


def dead_letter_headers(source: Any, error_type: str, error: str, *, group: str) -> dict[str, str]:
    """The headers every dead letter carries: what went wrong, where the message came from and who set it
    aside (one event read by several services' groups may be set aside by more than one)."""
    return {
        "error_type": error_type,
        "error": error,
        "source_topic": str(getattr(source, "topic", "")),
        "source_partition": str(getattr(source, "partition", "")),
        "source_offset": str(getattr(source, "offset", "")),
        "consumer_group": group,
    }


# the most of an error a dead letter's header says: beside a body of up to DEAD_LETTER_BODY_MAX it must fit
# in the 1 MiB Kafka takes, or the dead letter is refused and the message comes again for ever
ERROR_MAX = 500
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # what our models' fields are called


def describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        # cut too: a hostile message's locations may be as long as the message
        return "; ".join(f"{error_location(e['loc'], e['type'])}: {e['type']}" for e in error.errors())[:ERROR_MAX]
    if is_data_error(error):
        # the database's message and SQL parameters may quote the values: the kind only
        return f"the database refused the values (SQLSTATE {sqlstate_of(error) or type(error).__name__})"
    # a dead letter's headers are not sealed: what a log line may not say, they may not either (the
    # DETAIL of a database error, an identity number in a domain's message)
    return scrub_text(str(error))[:ERROR_MAX]


def error_location(loc: tuple[int | str, ...], kind: str) -> str:
    """Where a validation error lies, without the sender's own text: a field the model does not have is named
    as such, whatever the sender called it, and any other part that is no identifier (a mapping's key made of
    digits, Chinese or spaces: an identity number, a name) as `?`. A dead letter's headers are not sealed, and
    the log carries them."""
    parts = [str(p) if isinstance(p, int) or FIELD_NAME.fullmatch(p) else "?" for p in loc]
    if kind == "extra_forbidden" and parts:
        parts[-1] = "(a field it does not have)"
    return ".".join(parts)

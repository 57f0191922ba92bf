"""The failure policy of every subscriber, in one middleware.

- A message that can never be handled (undecodable, invalid, a PermanentFailure
  raised by the domain) goes to the dead-letter topic with the error, and the
  consumer goes on.
- Anything else (database down, broker hiccup) is raised after a short pause,
  so the subscriber's NACK_ON_ERROR policy seeks back and the message is
  delivered again: retried until it can succeed, never skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import BaseMiddleware
from pydantic import ValidationError

from shared.events.envelope import UnknownEventType

log = structlog.get_logger(__name__)

DeadLetterSink = Callable[[bytes, dict[str, str]], Awaitable[None]]


class PermanentFailure(Exception):
    """Raised by a handler for a message that will never succeed, however often retried."""


PERMANENT_ERRORS = (PermanentFailure, ValidationError, UnknownEventType, json.JSONDecodeError)


class DeadLetterPolicy:
    """Broker middleware factory; `sink` is set once the broker exists."""

    def __init__(self, retry_pause_s: float = 1.0) -> None:
        self.retry_pause_s = retry_pause_s
        self.sink: DeadLetterSink | None = None

    def __call__(self, msg: Any, /, *, context: Any) -> _DeadLetterScope:
        return _DeadLetterScope(msg, context=context, policy=self)


class _DeadLetterScope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, policy: DeadLetterPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        try:
            return await call_next(msg)
        except PERMANENT_ERRORS as error:
            await self._dead_letter(msg, error)
            return None
        except Exception as error:
            log.warning("handling failed, will retry", error=type(error).__name__)
            await asyncio.sleep(self.policy.retry_pause_s)
            raise

    async def _dead_letter(self, msg: Any, error: Exception) -> None:
        headers = dead_letter_headers(error, getattr(msg, "raw_message", None))
        log.error("message dead-lettered", **headers)
        if self.policy.sink is None:
            raise RuntimeError("dead-letter sink not configured") from error
        await self.policy.sink(bytes(msg.body), headers)


def dead_letter_headers(error: Exception, raw: Any) -> dict[str, str]:
    """Headers of a dead letter: the error (never the input values) and where the message came from."""
    return {
        "error_type": type(error).__name__,
        # pydantic messages could quote input values; keep only the error kind and locations
        "error": _describe(error),
        "source_topic": str(getattr(raw, "topic", "")),
        "source_partition": str(getattr(raw, "partition", "")),
        "source_offset": str(getattr(raw, "offset", "")),
    }


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in error.errors())
    return str(error)[:500]

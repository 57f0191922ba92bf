"""When to try a failed webhook delivery again.

Exponential backoff with "equal jitter": the n-th retry waits between half
and all of min(cap, base * 2**(n-1)). The fixed half keeps a failing
receiver from being hammered; the random half spreads the retries of many
notices that failed together (a receiver that was down for a minute).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

Uniform = Callable[[float, float], float]  # random.uniform, or a fixed stand-in in tests
DOUBLINGS_MOST = 64  # base * 2**64 is past any cap a deployment may set (settings: a day at most)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base_s: float
    cap_s: float
    max_attempts: int

    def delay_after(self, attempt: int, uniform: Uniform) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1-based). The doubling stops at the cap's
        own: 2.0 ** 1024 overflows, and a round may allow more attempts than that."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, DOUBLINGS_MOST))
        return ceiling / 2 + uniform(0.0, ceiling / 2)


class CannotPush(Exception):
    """A failure of our own that no retry fixes (a secret that no longer decrypts, ...).

    The push fails at once, its message recorded as the reason the bureau sees (at most 200
    characters, nothing personal), instead of the notice being retried for ever.
    """


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class NextStep:
    outcome: Outcome
    retry_at: datetime | None = None


def after_attempt(*, succeeded: bool, attempt: int, policy: BackoffPolicy, now: datetime, uniform: Uniform) -> NextStep:
    """What follows the `attempt`-th attempt of the current round."""
    if succeeded:
        return NextStep(Outcome.DELIVERED)
    if attempt >= policy.max_attempts:
        return NextStep(Outcome.FAILED)
    return NextStep(Outcome.RETRY, now + timedelta(seconds=policy.delay_after(attempt, uniform)))


def begun_anew(step: NextStep, *, now: datetime) -> NextStep:
    """What follows an attempt during which a redelivery began a new round: the attempt was the old round's, and
    counts for nothing in the new one. Delivered is delivered; anything else leaves the new round's first attempt
    due now, as the redelivery asked (it waited only for the push under way)."""
    if step.outcome is Outcome.DELIVERED:
        return step
    return NextStep(Outcome.RETRY, now)


def is_success(status_code: int | None) -> bool:
    """A 2xx answer means delivered; anything else (or no answer) is a failure."""
    return status_code is not None and 200 <= status_code < 300

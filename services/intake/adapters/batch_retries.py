"""How often a batch is tried, and after which failures: the retry policy of RecordRepository.write_batch."""

from __future__ import annotations

import structlog
from sqlalchemy.exc import IntegrityError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter, wait_random

from shared.db.errors import driver_error_name, is_connection_lost, is_rolled_back, is_unavailable, sqlstate_of

log = structlog.get_logger(__name__)

ATTEMPTS = 5
ROLLED_BACK_WAIT_S = 0.1  # at most, at random, before a try after a deadlock: no two tries in step again
# while a bulk import waits for its store: a quarter of a second first, doubling to five at most (a restart of
# PostgreSQL takes seconds, a fail-over tens of them), up to a first wait more at random so the imports do not
# knock in step
OUTAGE_FIRST_WAIT_S = 0.25
OUTAGE_LONGEST_WAIT_S = 5.0


def attempts(rows: int, *, outage_s: float = 0.0) -> AsyncRetrying:
    """A batch's tries, ATTEMPTS at most, each one transaction (or statement) begun afresh.

    Again at once after a unique violation: a concurrent writer stored some of the batch first, and the
    next try finds it. Again after a short random wait when PostgreSQL ended the transaction to break a
    lock cycle or a serialization conflict (nothing of it stayed): batches take their locks in one order
    (cases by person key, records by source ref) and do not deadlock one another, but a writer that takes
    them otherwise may; unretried, a POST would answer 503 and a bulk import's streamed answer, its 200
    sent, would be cut off. Again at once, on a new connection, when the connection was dropped under the
    statement (PostgreSQL restarted, the backend terminated): whether it had committed is unknown, and the
    next try, which looks for the batch's own record ids first, finds it if it had. A store that refuses
    new connections fails that try: 503, as before.

    With `outage_s` (a bulk import's batches, whose 200 has gone), a store that cannot be reached at all is
    waited for instead, with growing waits, for up to `outage_s` from the batch's first try: a restart or a
    fail-over of PostgreSQL then costs the import a pause, not its end. Logged with the state and counts
    only: nothing personal."""
    jitter = wait_random(0, ROLLED_BACK_WAIT_S)
    growing = wait_exponential_jitter(
        multiplier=OUTAGE_FIRST_WAIT_S, max=OUTAGE_LONGEST_WAIT_S, jitter=OUTAGE_FIRST_WAIT_S
    )

    def waits_out(error: BaseException | None) -> bool:
        return outage_s > 0 and error is not None and is_unavailable(error)

    def retried(error: BaseException) -> bool:
        return (
            isinstance(error, IntegrityError) or is_rolled_back(error) or is_connection_lost(error) or waits_out(error)
        )

    def at_once(state: RetryCallState, failed: BaseException) -> bool:
        """A dropped connection's try again goes at once, on a new one; while an outage is waited out, only the
        first (a restart that is over by then costs nothing), the later ones wait as a refusal does."""
        return is_connection_lost(failed) and (not waits_out(failed) or state.attempt_number == 1)

    def stop(state: RetryCallState) -> bool:
        if waits_out(_failure(state)):
            return _waited(state) >= outage_s
        return state.attempt_number >= ATTEMPTS

    def wait(state: RetryCallState) -> float:
        failed = _failure(state)
        if failed is None:
            return 0
        if is_rolled_back(failed):
            return jitter(state)
        if waits_out(failed) and not at_once(state, failed):
            return min(growing(state), max(outage_s - _waited(state), 0.0))
        return 0

    def note(state: RetryCallState) -> None:
        failed = _failure(state)
        if failed is None:
            return
        if is_rolled_back(failed):
            log.warning(
                "batch ended by the database, written again",
                sqlstate=sqlstate_of(failed),
                attempt=state.attempt_number,
                rows=rows,
            )
        elif at_once(state, failed):
            log.warning(
                "batch's connection dropped, written again on a new one",
                error=driver_error_name(failed),
                attempt=state.attempt_number,
                rows=rows,
            )
        elif waits_out(failed):
            log.warning(
                "batch waits for its database to come back",
                error=driver_error_name(failed),
                sqlstate=sqlstate_of(failed),
                attempt=state.attempt_number,
                waited_s=round(_waited(state), 1),
                rows=rows,
            )

    return AsyncRetrying(stop=stop, retry=retry_if_exception(retried), wait=wait, before_sleep=note, reraise=True)


def _waited(state: RetryCallState) -> float:
    """Seconds from the batch's first try to the end of its last."""
    return state.seconds_since_start or 0.0


def _failure(state: RetryCallState) -> BaseException | None:
    """The error the try ended with, if it failed."""
    return state.outcome.exception() if state.outcome else None

"""How often a batch is tried, and after which failures: the retry policy of RecordRepository.write_batch."""

from __future__ import annotations

import structlog
from sqlalchemy.exc import IntegrityError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random

from shared.db.errors import driver_error_name, is_connection_lost, is_rolled_back, sqlstate_of

log = structlog.get_logger(__name__)

ATTEMPTS = 5
ROLLED_BACK_WAIT_S = 0.1  # at most, at random, before a try after a deadlock: no two tries in step again


def attempts(rows: int) -> AsyncRetrying:
    """A batch's tries, ATTEMPTS at most, each one transaction (or statement) begun afresh.

    Again at once after a unique violation: a concurrent writer stored some of the batch first, and the
    next try finds it. Again after a short random wait when PostgreSQL ended the transaction to break a
    lock cycle or a serialization conflict (nothing of it stayed): batches take their locks in one order
    (cases by person key, records by source ref) and do not deadlock one another, but a writer that takes
    them otherwise may; unretried, a POST would answer 503 and a bulk import's streamed answer, its 200
    sent, would be cut off. Again at once, on a new connection, when the connection was dropped under the
    statement (PostgreSQL restarted, the backend terminated): whether it had committed is unknown, and the
    next try, which looks for the batch's own record ids first, finds it if it had. A store that refuses
    new connections fails that try: 503, as before. Logged with the state and counts only: nothing personal."""
    jitter = wait_random(0, ROLLED_BACK_WAIT_S)

    def wait(state: RetryCallState) -> float:
        failed = _failure(state)
        return jitter(state) if failed is not None and is_rolled_back(failed) else 0

    def note(state: RetryCallState) -> None:
        failed = _failure(state)
        if failed is not None and is_rolled_back(failed):
            log.warning(
                "batch ended by the database, written again",
                sqlstate=sqlstate_of(failed),
                attempt=state.attempt_number,
                rows=rows,
            )
        elif failed is not None and is_connection_lost(failed):
            log.warning(
                "batch's connection dropped, written again on a new one",
                error=driver_error_name(failed),
                attempt=state.attempt_number,
                rows=rows,
            )

    return AsyncRetrying(
        stop=stop_after_attempt(ATTEMPTS),
        retry=retry_if_exception(
            lambda error: isinstance(error, IntegrityError) or is_rolled_back(error) or is_connection_lost(error)
        ),
        wait=wait,
        before_sleep=note,
        reraise=True,
    )


def _failure(state: RetryCallState) -> BaseException | None:
    """The error the try ended with, if it failed."""
    return state.outcome.exception() if state.outcome else None

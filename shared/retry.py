"""One retry policy for start-up: wait for a dependency (database, Kafka) that is still coming up."""

from __future__ import annotations

from collections.abc import Callable

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential


def until_up(
    *,
    within_s: float = 60,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    for_good: Callable[[BaseException], bool] | None = None,
) -> AsyncRetrying:
    """Retry with exponential back-off (0.2 s doubling to 3 s) for `within_s`, then raise the last error; an
    error `for_good` says no wait mends (a wrong password) is raised at once.

    async for attempt in until_up():
        with attempt:
            await broker.start()
    """
    return AsyncRetrying(
        stop=stop_after_delay(within_s),
        wait=wait_exponential(multiplier=0.2, max=3),
        retry=retry_if_exception(lambda error: isinstance(error, retry_on) and not (for_good and for_good(error))),
        reraise=True,
    )

"""The FTP exchange's threads: a few daemon threads, so that a process stopping never waits for a stalled operation.

ftplib blocks (ftp_drop.py), so every FTP operation takes a thread for up to
its 30 s. The exchange ran them on a ThreadPoolExecutor, whose threads the
interpreter joins at exit (concurrent.futures registers that, shut down or
not): a service stopping while the platform stalled waited up to 30 s after
its clean stop, past what a supervisor gives it (systemd's SIGKILL, say).
What an operation cut short leaves is what a dropped connection leaves:
a hidden `.part` file (never read), a batch left in our folder for the next
poll, a move tried again, an upload retried.

Threads start as work comes, up to `workers`; work waits in order for one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Work:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return  # cancelled while it waited
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as error:  # the caller's to see, as ThreadPoolExecutor gives it
            self.future.set_exception(error)
        else:
            self.future.set_result(result)


class FtpThreads(Executor):
    def __init__(self, workers: int, name: str) -> None:
        self._workers, self._name = workers, name
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # a token per thread waiting for work
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.stopped = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self.stopped:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[Any] = Future()
            self._queue.put(_Work(future, fn, args, kwargs))
            if not self._idle.acquire(timeout=0) and len(self._threads) < self._workers:
                name = f"{self._name}_{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)
            return future

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            work.run()
            del work  # its result and arguments are not kept alive while the thread waits
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No work is taken from now on; what waits is cancelled with `cancel_futures`. With `wait=False` a thread
        in a stalled operation is not waited for, here nor at the process's exit (a daemon thread)."""
        with self._lock:
            self.stopped = True
            if cancel_futures:
                self._cancel_waiting()
            for _ in self._threads:
                self._queue.put(None)  # each thread ends once it has no work before it
        if wait:
            for thread in self._threads:
                thread.join()

    def _cancel_waiting(self) -> None:
        while True:
            try:
                waiting = self._queue.get_nowait()
            except queue.Empty:
                return
            if waiting is not None:
                waiting.future.cancel()

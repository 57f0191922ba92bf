"""The city's FTP exchange platform: upload a batch so no one reads half of it, list, read and move files.

ftplib is blocking: every operation runs in a worker thread, on the FTP
exchange's own threads (bootstrap/exchange.py): a platform that answers slowly
holds those, not the loop's default executor, which the webhook sender's
address look-ups use. One connection per operation. A file is stored under a hidden temporary name
(`.<name>.part`) and renamed when complete; the batch file goes up before its
manifest, and readers look only at manifests (and acknowledgements), so a
half-written batch is never taken. Errors are ftplib's and OSError; callers decide what they mean.

Each operation (an upload, a put, a listing, a read, a move) ends within the
account's `timeout_s` from when it was asked for (its wait for a thread
included), plus the time its data takes at MIN_RATE (a
large batch on a slow link goes through; a trickle does not), TimeoutError
otherwise: ftplib waits that long for each answer, and a platform under load that
answers every command a little late, within the wait, held an upload for a wait
per command, past the claim's lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ftplib
import functools
import io
import posixpath
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from services.notification.domain.exchange_batch import Batch
from shared.logging import said_safely

T = TypeVar("T")

DONE, SET_ASIDE = "done", "set-aside"
OPERATION_S = 30.0  # the most one operation on the platform takes, by default (FtpAccount.timeout_s)
MIN_RATE = 64 << 10  # bytes a second: data moving at least this fast extends its operation's deadline
# what an operation raises when the platform fails it: a reply (ftplib), no reply in time, a connection reset or closed
FTP_ERRORS = (ftplib.Error, OSError, EOFError)
_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("ftp_deadline")  # the operation's (_blocking)
# MDTM's answers that say the server has no such command (not implemented, superfluous here; unknown), not that one
# file has no time (550: no such file): the same for every file, at every poll. Not 504 (not implemented for that
# parameter): a server may say it of one file's name, and it would turn MDTM off for every file until a restart
NO_SUCH_COMMAND = ("202", "500", "502")


class NoMdtm(Exception):
    """The platform does not implement MDTM: it says of no file when it was written (a 202, 500 or 502)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"MDTM answered {code}")
        self.code = code


class FileTooLarge(Exception):
    """A file on the platform is larger than its reader takes: left unread past the limit. Its text is a reason the
    bureau reads and a batch's sender is told: the name, its writer's choice, is said safely there."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"{said_safely(name)} is larger than {limit} bytes")
        self.name, self.limit = name, limit


@dataclass(frozen=True, slots=True)
class FtpAccount:
    host: str
    port: int
    user: str
    password: str
    tls: bool = False  # FTPS (explicit, AUTH TLS) with a protected data channel
    ca_file: str | None = None  # FTPS: the CAs the server's certificate is checked against; None: the system's
    timeout_s: float = OPERATION_S  # the most one operation takes, every answer in it (its data: MIN_RATE)

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checked always (ftplib's own default checks neither)."""
        return ssl.create_default_context(cafile=self.ca_file)


class FtpDrop:
    """Operations on one account. Not for concurrent use inside a `session()`: it holds one connection."""

    def __init__(self, account: FtpAccount, *, threads: Executor | None = None) -> None:
        """`threads`: where the blocking work runs; None, the loop's default executor (tests, tools)."""
        self._account, self._threads = account, threads
        self._in_session = False
        self._held: _Deadlined | None = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """One connection, opened at the first operation, for every operation until the block ends (a poll
        reads a folder's files on one login instead of three a batch). An operation that fails drops it, since
        a transfer cut off half-way leaves it unusable; the next operation opens another.

        Cancelled (the service stopping, its poll's leadership lost), the block ends at once: an operation may
        still hold the connection on our threads (a stalled one, up to its deadline), and the connection is
        dropped after it, there, not waited for. The poll has one thread: waiting there for that operation held
        the service's stop for its 30 s."""
        self._in_session = True
        cancelled = False
        try:
            yield
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self._in_session = False
            dropped = asyncio.get_running_loop().run_in_executor(self._threads, self._drop_held)
            if cancelled:
                dropped.add_done_callback(_unawaited)
            else:
                await dropped

    async def _blocking(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on our threads, with the caller's context (as asyncio.to_thread gives it) and its
        deadline, the account's timeout_s from now: the wait for a thread is part of it. Counted from the
        thread's start, an upload queued behind slow ones began late and ran its whole time after, and the
        push it is the attempt of outlasted its lease (taken up again, and uploaded twice)."""
        context = contextvars.copy_context()
        context.run(_DEADLINE.set, time.monotonic() + self._account.timeout_s)
        bound = functools.partial(context.run, work, *args)
        return await asyncio.get_running_loop().run_in_executor(self._threads, bound)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[_Deadlined]:
        """A connection for one operation, which must end by its deadline (_blocking)."""
        deadline = _DEADLINE.get(None) or time.monotonic() + self._account.timeout_s
        if not self._in_session:
            with contextlib.closing(self._connect(deadline)) as alone:
                yield alone
            return
        if self._held is None:
            self._held = self._connect(deadline)
        self._held.deadline = deadline  # a held connection's next operation has its own
        try:
            yield self._held
        except BaseException:
            self._drop_held()
            raise

    def _drop_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def _connect(self, deadline: float) -> _Deadlined:
        a = self._account
        # plain FTP is the platform's choice; what travels is sealed and signed either way
        ftp: _Deadlined = _DeadlinedTls(deadline, context=a.tls_context()) if a.tls else _Deadlined(deadline)
        try:
            ftp.connect(a.host, a.port, timeout=ftp.remaining())
            ftp.login(a.user, a.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except BaseException:
            ftp.close()  # a refused login, a certificate that does not check: no socket left open
            raise
        return ftp

    async def upload(self, folder: str, batch: Batch) -> None:
        await self._blocking(self._upload, folder, batch)

    def _upload(self, folder: str, batch: Batch) -> None:
        with self._connection() as ftp:
            for name, data in ((batch.file_name, batch.file), (batch.manifest_name, batch.manifest)):
                _store_whole(ftp, folder, name, data)

    async def put(self, folder: str, name: str, data: bytes) -> None:
        """One file (an acknowledgement), stored whole the same way: a temporary name, then the rename."""
        await self._blocking(self._put, folder, name, data)

    def _put(self, folder: str, name: str, data: bytes) -> None:
        with self._connection() as ftp:
            _store_whole(ftp, folder, name, data)

    async def names(self, folder: str) -> list[str]:
        """File names in `folder` (no temporary ones)."""
        return await self._blocking(self._names, folder)

    def _names(self, folder: str) -> list[str]:
        listing = io.BytesIO()
        with self._connection() as ftp:

            def take(block: bytes) -> None:
                listing.write(block)
                ftp.moved(len(block))

            # the bytes as listed, not ftplib's nlst(): it decodes the whole listing as UTF-8 and fails on a single
            # name in another encoding (another system's file in GBK, say), and with it every poll of the folder
            ftp.retrbinary(f"NLST {folder}", take)
        names = []
        for line in listing.getvalue().splitlines():
            try:
                names.append(posixpath.basename(line.decode("utf-8")))
            except UnicodeDecodeError:
                continue  # never one of ours: batch ids, manifests and acknowledgements are ASCII
        return sorted(n for n in names if n and not n.startswith("."))

    async def read(self, folder: str, names: list[str], *, max_bytes: int) -> dict[str, bytes | None]:
        """Each file's bytes, None for a file that is not there; FileTooLarge for one of more than `max_bytes`
        (read no further than that: memory stays bounded whatever the platform holds)."""
        return await self._blocking(self._read, folder, names, max_bytes)

    def _read(self, folder: str, names: list[str], max_bytes: int) -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = {}
        with self._connection() as ftp:
            for name in names:
                buffer = io.BytesIO()

                def take(block: bytes, buffer: io.BytesIO = buffer, name: str = name) -> None:
                    ftp.moved(len(block))  # a transfer that trickles ends at the deadline too
                    if buffer.tell() + len(block) > max_bytes:
                        # leaves the transfer half done: this connection is closed below, never used again
                        raise FileTooLarge(name, max_bytes)
                    buffer.write(block)

                try:
                    ftp.retrbinary(f"RETR {posixpath.join(folder, name)}", take)
                    found[name] = buffer.getvalue()
                except ftplib.error_perm:
                    found[name] = None
        return found

    async def written_at(self, folder: str, name: str) -> datetime | None:
        """When the file was last written, as the platform says (MDTM, UTC); None when it does not say of this file
        (gone meanwhile, another 5xx); NoMdtm when the server has no MDTM (it says of no file); ftplib.error_temp
        when it cannot say now (4xx)."""
        return await self._blocking(self._written_at, folder, name)

    def _written_at(self, folder: str, name: str) -> datetime | None:
        with self._connection() as ftp:
            try:
                answer = ftp.voidcmd(f"MDTM {posixpath.join(folder, name)}")
            except ftplib.error_perm as refused:
                answer = str(refused)  # raised below, not here: the connection is good, and kept for the poll
        code = answer[:3]
        if code in NO_SUCH_COMMAND:
            raise NoMdtm(code)
        return mdtm_time(answer)

    async def move(self, folder: str, names: list[str], to: str, *, note: tuple[str, bytes] | None = None) -> None:
        """Move files into `folder/to` (replacing same names; a file not in `folder` is passed over), and write `note`
        (name, text) beside them, whole."""
        await self._blocking(self._move, folder, names, to, note)

    def _move(self, folder: str, names: list[str], to: str, note: tuple[str, bytes] | None) -> None:
        target = posixpath.join(folder, to)
        with self._connection() as ftp:
            with contextlib.suppress(ftplib.error_perm):
                ftp.mkd(target)
            if note is not None:  # whole or not at all: a reader never finds it empty or half-written
                _store_whole(ftp, target, *note)
            for name in names:
                _move_one(ftp, posixpath.join(folder, name), posixpath.join(target, name))


def _unawaited(dropped: asyncio.Future[None]) -> None:
    """A connection dropped after its session was cancelled: nobody awaits it, and a close that failed (or was
    cancelled with the threads' shutdown) needs nobody either."""
    if not dropped.cancelled():
        dropped.exception()


def mdtm_time(answer: str) -> datetime | None:
    """The time in an MDTM answer (`213 YYYYMMDDHHMMSS[.fff]`, UTC: RFC 3659); None when it holds none."""
    code, _, stamp = answer.partition(" ")
    try:
        return datetime.strptime(stamp.strip()[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC) if code == "213" else None
    except ValueError:
        return None


def _store_whole(ftp: _Deadlined, folder: str, name: str, data: bytes) -> None:
    # six bytes longer than `name`: a set-aside note's name leaves room for them (domain/set_aside_names.py)
    temporary = posixpath.join(folder, f".{name}.part")
    ftp.storbinary(f"STOR {temporary}", io.BytesIO(data), callback=lambda block: ftp.moved(len(block)))
    ftp.rename(temporary, posixpath.join(folder, name))


def _move_one(ftp: ftplib.FTP, source: str, target: str) -> None:
    """`source` renamed to `target`, replacing a file there only when `source` is there to replace it: a file gone
    from the folder (moved by an earlier, interrupted poll; a late manifest's batch file, set aside before it came)
    must not take with it the file set aside or taken under its name before."""
    try:
        ftp.rename(source, target)
        return
    except ftplib.error_perm:
        if not _still_there(ftp, source):
            return  # gone already
    with contextlib.suppress(ftplib.error_perm):
        ftp.delete(target)  # a platform that renames over no file: the same batch taken again after a restart
    ftp.rename(source, target)  # refused (our account may not rename here): said, not taken for done


def _still_there(ftp: ftplib.FTP, path: str) -> bool:
    """Whether `path` is a file on the platform (a server without SIZE answers as if it were gone)."""
    try:
        ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode by some servers
        ftp.size(path)
    except ftplib.error_perm:
        return False
    return True


class _Deadlined(ftplib.FTP):
    """ftplib's client whose every wait (an answer, a data connection, a block sent or received) is cut to what
    is left of its operation's deadline (time.monotonic()); TimeoutError once nothing is."""

    def __init__(self, deadline: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.deadline = deadline

    def remaining(self) -> float:
        """What is left of the deadline, set as the wait of the next answer and of a data connection opened now."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the ftp operation outlasted its deadline")
        self.timeout = left  # ftplib opens a data connection with this timeout
        if isinstance(self.sock, socket.socket):
            self.sock.settimeout(left)
        return left

    def moved(self, size: int) -> float:
        """`size` more bytes of data moved: the deadline is that much later at MIN_RATE; what is left of it."""
        self.deadline += size / MIN_RATE
        return self.remaining()

    def putcmd(self, line: str) -> None:
        self.remaining()
        super().putcmd(line)

    def getresp(self) -> str:
        self.remaining()
        return super().getresp()


class _DeadlinedTls(_Deadlined, ftplib.FTP_TLS):
    pass

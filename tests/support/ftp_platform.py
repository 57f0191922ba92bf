"""The city's FTP exchange platform in the tests: a pyftpdlib server on 127.0.0.1, in a thread, temp root.

One account per district (user = the district code), each seeing the whole
tree, and one folder per district (`/<code>`), as a city platform lays out
its drops. `FtpPlatform.path(code, ...)` reads the tree directly, for asserting
where files went. With `tls` (a certificate from tests/support/certificates.py)
it is an FTPS platform that requires TLS on the control and the data channel.
With `reply_delay_s` it answers every command that much late, as a platform
under load does: each answer comes within a client's wait, the whole exchange does not;
with `data_rate` its data channel moves that many bytes a second, no more.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, ThrottledDTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from tests.support.certificates import ServerCertificate


def password_of(code: str) -> str:
    return f"ftp-{code}-secret"


class FtpPlatform:
    def __init__(
        self,
        root: Path,
        districts: list[str],
        *,
        tls: ServerCertificate | None = None,
        reply_delay_s: float = 0.0,
        data_rate: int = 0,
    ) -> None:
        self.root, self.districts, self.tls = root, districts, tls
        authorizer = DummyAuthorizer()
        for code in districts:
            (root / code).mkdir(parents=True, exist_ok=True)
            authorizer.add_user(code, password_of(code), str(root), perm="elradfmwMT")
        attributes: dict[str, object] = {"authorizer": authorizer, "banner": "exchange platform"}
        if tls is not None:
            attributes |= {
                "certfile": str(tls.cert_file),
                "keyfile": str(tls.key_file),
                "tls_control_required": True,
                "tls_data_required": True,
            }
        base = TLS_FTPHandler if tls else FTPHandler
        if reply_delay_s:
            attributes["respond"] = _late(base, reply_delay_s)
        if data_rate:
            attributes["dtp_handler"] = type(
                "Throttled", (ThrottledDTPHandler,), {"read_limit": data_rate, "write_limit": data_rate}
            )
        handler = type("PlatformHandler", (base,), attributes)
        # its own loop: pyftpdlib's shared one would be run by two platforms' threads, and closed by either's stop
        self._server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)  # a line per login otherwise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ftp-platform", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.address[1])

    def path(self, code: str, *parts: str) -> Path:
        return self.root.joinpath(code, *parts)

    def _serve(self) -> None:
        while not self._stop.is_set():  # the server's own loop, a turn at a time, so it can be stopped
            self._server.ioloop.loop(0.05, blocking=False)
        self._server.close_all()

    def start(self) -> FtpPlatform:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> FtpPlatform:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _late(base: type[FTPHandler], delay_s: float) -> Callable[..., None]:
    """A handler's `respond` that sends each answer `delay_s` late, on the server's own loop (nothing blocks)."""

    def respond(handler: FTPHandler, resp: str, *args: Any, **kwargs: Any) -> None:
        def now() -> None:
            with contextlib.suppress(Exception):  # the client may have hung up meanwhile
                base.respond(handler, resp, *args, **kwargs)

        handler.ioloop.call_later(delay_s, now)

    return respond

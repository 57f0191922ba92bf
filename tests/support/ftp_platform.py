"""The city's FTP exchange platform in the tests: a pyftpdlib server on 127.0.0.1, in a thread, temp root.

One account per district (user = the district code), each seeing the whole
tree, and one folder per district (`/<code>`), as a city platform lays out
its drops. `FtpPlatform.path(code, ...)` reads the tree directly, for asserting
where files went. With `tls` (a certificate from tests/support/certificates.py)
it is an FTPS platform that requires TLS on the control and the data channel.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer

from tests.support.certificates import ServerCertificate


def password_of(code: str) -> str:
    return f"ftp-{code}-secret"


class FtpPlatform:
    def __init__(self, root: Path, districts: list[str], *, tls: ServerCertificate | None = None) -> None:
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
        handler = type("PlatformHandler", (TLS_FTPHandler if tls else FTPHandler,), attributes)
        self._server = FTPServer(("127.0.0.1", 0), handler)
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

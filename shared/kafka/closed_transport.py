"""A broker connection whose socket uvloop has closed fails as a broken connection, not with RuntimeError.

aiokafka turns an OSError from writing a request into KafkaConnectionError, which every caller of
its connections handles: it reconnects, finds the group's coordinator again, retries. Under uvloop,
which the services run on, writing to a transport that the peer has just closed raises RuntimeError
("unable to perform operation on <TCPTransport closed=True ...>; the handler is closed") before
aiokafka's reader has seen the close (aiokafka issue #1038, open). That RuntimeError escapes the
client's error handling: in a CI run where a broker was killed, a notification replica's consumer
met it and then read nothing for four minutes, until the cluster changed again (docs/operations.md).

`tolerate_closed_transports` (called by `KafkaConnection.from_settings`, through which every service and CLI
command configures its Kafka clients) wraps the connection's two writes, `send` and `_send_sasl_token`, so
that this one case, a RuntimeError while the connection's transport is closing, is handled as aiokafka
handles an OSError. Any other RuntimeError is raised as it was. Remove it once aiokafka catches the error itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiokafka import errors
from aiokafka.conn import AIOKafkaConnection, CloseReason

_WRAPPED = "_popflow_tolerates_closed_transports"


def tolerate_closed_transports() -> None:
    """Wrap aiokafka's `AIOKafkaConnection.send` and `_send_sasl_token` once per process (later calls change
    nothing). The second writes a SASL handshake's tokens as the first writes requests, with the same handling
    of an OSError, so it meets the same RuntimeError when a broker closes the socket mid-handshake."""
    for name in ("send", "_send_sasl_token"):
        write = getattr(AIOKafkaConnection, name)
        if not getattr(write, _WRAPPED, False):
            setattr(AIOKafkaConnection, name, _tolerant(write))


def _tolerant(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def tolerant_write(self: AIOKafkaConnection, payload: Any, expect_response: bool = True) -> Any:
        writer = self._writer
        try:
            return write(self, payload, expect_response)
        except RuntimeError as error:
            if writer is None or not writer.transport.is_closing():
                raise
            self.close(reason=CloseReason.CONNECTION_BROKEN)
            raise errors.KafkaConnectionError(
                f"Connection at {self.host}:{self.port} broken: its transport is closed"
            ) from error

    setattr(tolerant_write, _WRAPPED, True)
    return tolerant_write

"""A write to a transport uvloop has closed fails as a broken Kafka connection (shared/kafka/closed_transport.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import errors
from aiokafka.conn import AIOKafkaConnection
from aiokafka.protocol.metadata import MetadataRequest

from shared.kafka.closed_transport import tolerate_closed_transports

pytestmark = pytest.mark.unit


class _Transport:
    def __init__(self, closing: bool) -> None:
        self.closing = closing

    def is_closing(self) -> bool:
        return self.closing


class _Writer:
    """What uvloop's stream writer does once the peer has closed the socket: its write raises RuntimeError."""

    def __init__(self, closing: bool) -> None:
        self.transport = _Transport(closing)

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

    def close(self) -> None:
        return None


class _Reader:
    def at_eof(self) -> bool:  # the peer has closed the socket
        return True


class _ReadTask:
    def done(self) -> bool:
        return True


def _connection(closing: bool) -> Any:
    connection: Any = AIOKafkaConnection.__new__(AIOKafkaConnection)  # no socket: only `send`'s path is used
    connection._host, connection._port = "127.0.0.1", 9092
    connection._writer, connection._reader = _Writer(closing), _Reader()
    connection._versions = {MetadataRequest.API_KEY: (0, 0)}
    connection._correlation_id = 0
    connection._client_id = "popflow-test"
    connection._requests = []
    connection._read_task = _ReadTask()
    connection._idle_handle = None
    connection._on_close_cb = None
    connection._closed_fut = None
    connection._close_reason = None
    connection._sasl_mechanism = None
    return connection


def test_a_write_to_a_closed_transport_is_a_broken_connection() -> None:
    tolerate_closed_transports()
    connection = _connection(closing=True)
    with pytest.raises(errors.KafkaConnectionError, match=r"127\.0\.0\.1:9092 broken"):
        connection.send(MetadataRequest([]))
    assert connection._writer is None  # closed, so the client connects anew


def test_another_runtime_error_is_raised_as_it_was() -> None:
    tolerate_closed_transports()
    connection = _connection(closing=False)
    with pytest.raises(RuntimeError, match="the handler is closed"):
        connection.send(MetadataRequest([]))


def test_a_sasl_token_written_to_a_closed_transport_is_a_broken_connection() -> None:
    tolerate_closed_transports()
    connection = _connection(closing=True)
    with pytest.raises(errors.KafkaConnectionError, match=r"127\.0\.0\.1:9092 broken"):
        connection._send_sasl_token(b"\x00popflow\x00secret")
    assert connection._writer is None


def test_wrapping_twice_wraps_once() -> None:
    tolerate_closed_transports()
    once = AIOKafkaConnection.send, AIOKafkaConnection._send_sasl_token
    tolerate_closed_transports()
    assert (AIOKafkaConnection.send, AIOKafkaConnection._send_sasl_token) == once

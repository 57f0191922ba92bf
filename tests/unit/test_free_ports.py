"""tests/support/system.free_port: ports no outgoing connection takes, and no other test worker hands out."""

from __future__ import annotations

import socket

import pytest

from tests.support.system import PORTS, free_port, port_share

pytestmark = pytest.mark.unit


def test_each_worker_has_a_share_of_its_own() -> None:
    shares = [set(port_share(f"gw{index}", 3)) for index in range(3)]
    assert len(set().union(*shares)) == sum(len(share) for share in shares)  # no port in two shares
    assert all(share <= set(PORTS) for share in shares)
    assert set(port_share("", 1)) == set(port_share("gw0", 1)) == set(PORTS)  # not under xdist, or one worker


def test_a_port_handed_out_is_below_the_ephemeral_range_free_and_not_handed_out_again() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(port in PORTS and port < 32_768 for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nobody listens there


def test_a_port_listened_on_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setattr("tests.support.system._HANDED_OUT", set())  # not left out for having been handed out
    monkeypatch.setattr("tests.support.system.PORTS", range(port, port + 1))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", port))
        listening.listen()
        with pytest.raises(RuntimeError, match="no free port"):
            free_port()
    assert free_port() == port  # once nobody listens there


def test_a_host_whose_ephemeral_range_starts_low_gets_the_kernel_s_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.support.system.ephemeral_low", lambda: PORTS.start + 10)  # ten ports left: too few
    port = free_port()
    assert port not in range(PORTS.start, PORTS.start + 10)  # the kernel's, from its own range
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))

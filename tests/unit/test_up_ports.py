"""`popflow up` checks every port it will bind before it starts anything: Kafka's, each service's, each district's."""

from __future__ import annotations

import socket

import pytest
import typer

from services.cli.local_ports import require_free, wanted_ports
from services.cli.side_by_side import PORT_STEP


def test_the_ports_of_kafka_and_of_every_service_of_every_district() -> None:
    wanted = wanted_ports({"INTAKE_PORT": "9001"}, ["440111", "440106"], kafka_port=9092)
    assert wanted["Kafka (KAFKA_PORT)"] == ("127.0.0.1", 9092)
    assert wanted["Kafka's controller (KAFKA_CONTROLLER_PORT)"] == ("127.0.0.1", 9093)
    assert wanted["440111/intake (INTAKE_PORT)"] == ("127.0.0.1", 9001)
    assert wanted["440106/intake (INTAKE_PORT)"] == ("127.0.0.1", 9001 + PORT_STEP)
    assert wanted["440106/reporting (REPORTING_PORT)"] == ("127.0.0.1", 8004 + PORT_STEP)
    assert "Kafka (KAFKA_PORT)" not in wanted_ports({}, [], kafka_port=None)  # a cluster of the deployer's


def test_a_port_named_twice_or_listened_on_is_refused_and_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        with pytest.raises(typer.Exit):
            require_free({"intake (INTAKE_PORT)": ("127.0.0.1", busy)})
    with pytest.raises(typer.Exit):
        require_free({"intake (INTAKE_PORT)": ("127.0.0.1", 1), "routing (ROUTING_PORT)": ("127.0.0.1", 1)})
    said = " ".join(capsys.readouterr().out.split())
    assert f"{busy} for intake (INTAKE_PORT)" in said
    assert "1 for both intake (INTAKE_PORT) and routing (ROUTING_PORT)" in said


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ROUTING_PORT": "80o2"}, "ROUTING_PORT"),
        ({"INTAKE_PORT": "70000"}, "INTAKE_PORT"),
        ({"KAFKA_CONTROLLER_PORT": ""}, "KAFKA_CONTROLLER_PORT"),
        ({"REPORTING_PORT": "65530"}, "REPORTING_PORT"),  # the second district's, counted from it, is past 65535
    ],
)
def test_a_port_variable_that_names_no_port_is_refused_by_name(
    env: dict[str, str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in .env was a ValueError's traceback (or an OverflowError at bind): exit 2 naming the variable."""
    with pytest.raises(typer.Exit) as refused:
        wanted_ports(env, ["440111", "440106"], kafka_port=9092)
    assert refused.value.exit_code == 2
    assert f"{named} must be a port number (1-65535)" in " ".join(capsys.readouterr().out.split())

"""docker-compose.yml (no Docker engine here): every variable it passes is one the settings read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.intake.settings import IntakeSettings
from services.notification.settings import NotificationSettings
from services.reporting.settings import ReportingSettings
from services.routing.settings import RoutingSettings
from shared.settings import ServiceSettings, environment_names

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "routing": RoutingSettings,
    "notification": NotificationSettings,
    "reporting": ReportingSettings,
}
IMAGE_ONLY = {"SERVICE"}  # read by the Dockerfile's command, not by settings


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_variable_is_read_by_the_settings(compose: dict[str, Any], service: str) -> None:
    environment = compose["services"][service]["environment"]
    unknown = set(environment) - environment_names(SETTINGS[service]) - IMAGE_ONLY
    assert unknown == set()
    assert environment["SERVICE"] == service


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_required_settings_are_given(compose: dict[str, Any], service: str) -> None:
    environment = compose["services"][service]["environment"]
    required = {
        name
        for name in environment_names(SETTINGS[service])
        if SETTINGS[service].model_fields[_field(SETTINGS[service], name)].is_required()
    }
    assert required <= set(environment)
    assert environment["POPFLOW_PERSON_KEY_SECRET"].startswith("${POPFLOW_PERSON_KEY_SECRET:?")
    assert environment["POPFLOW_DATA_KEYS"].startswith("${POPFLOW_DATA_KEYS:?")


def test_services_use_the_project_image_and_real_infrastructure(compose: dict[str, Any]) -> None:
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    for service in SETTINGS:
        assert compose["services"][service]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / "deploy/Dockerfile").exists()


def _field(settings_class: Any, env_name: str) -> str:
    prefix = str(settings_class.model_config.get("env_prefix", "")).upper()
    for name, field in settings_class.model_fields.items():
        if (field.alias or f"{prefix}{name}".upper()) == env_name:
            return str(name)
    raise KeyError(env_name)


def test_kafka_keeps_its_data_in_the_volume(compose: dict[str, Any]) -> None:
    # apache/kafka writes to /tmp/kraft-combined-logs unless KAFKA_LOG_DIRS says otherwise: the events (kept for
    # ever, the rebuilds replay them) would go with the container at its next `docker compose up`.
    kafka = compose["services"]["kafka"]
    mounted = {volume.split(":")[1] for volume in kafka["volumes"] if volume.startswith("kafka-data:")}
    assert kafka["environment"].get("KAFKA_LOG_DIRS") in mounted


# A link a person follows from a notice, to the deployment's public address: the deployer's to give, not a
# service's name on compose's network.
PEOPLE_FOLLOW = {"NOTIFICATION_RECORD_LINK_BASE"}


def test_the_broker_runs_with_g1_regions_that_keep_its_requests_young(compose: dict[str, Any]) -> None:
    """KAFKA_JVM_PERFORMANCE_OPTS replaces kafka-run-class.sh's own flags: they are kept beside the regions
    (docs/scaling.md; deploy/kafka/start.sh starts its broker the same way)."""
    flags = compose["services"]["kafka"]["environment"]["KAFKA_JVM_PERFORMANCE_OPTS"].split()
    assert "-XX:G1HeapRegionSize=4m" in flags
    assert {"-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"} <= set(flags)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_no_service_calls_another_on_its_own_loopback(compose: dict[str, Any], service: str) -> None:
    # In a container, 127.0.0.1 is the container itself: a URL default of `make run` reaches nothing there.
    settings_class = SETTINGS[service]
    environment = compose["services"][service]["environment"]
    local = {
        name
        for name in environment_names(settings_class)
        if str(settings_class.model_fields[_field(settings_class, name)].default).startswith("http://127.0.0.1")
    }
    assert local - PEOPLE_FOLLOW <= set(environment)
    # what people follow is where the deployment is reached from outside: the deployer says it, no default
    for name in (local & PEOPLE_FOLLOW) & set(environment):
        assert environment[name].startswith("${")
        assert ":?" in environment[name]


def test_a_notices_record_link_is_asked_of_the_deployer(compose: dict[str, Any]) -> None:
    # notification runs in production there, which refuses the loopback default: compose must pass one
    assert compose["services"]["notification"]["environment"]["NOTIFICATION_RECORD_LINK_BASE"].startswith(
        "${POPFLOW_RECORD_LINK_BASE:?"
    )


def test_postgresql_gets_the_buffers_the_wal_room_and_the_compression_that_scaling_md_sizes(
    compose: dict[str, Any],
) -> None:
    """PostgreSQL's defaults wrote 3.4 times the data pages a list row, and uncompressed full-page images half of
    an answer's WAL (docs/scaling.md, "WAL and page writes")."""
    command = compose["services"]["postgres"]["command"]
    settings = dict(part.split("=", 1) for flag, part in zip(command[1::2], command[2::2], strict=True) if flag == "-c")
    assert command[0] == "postgres"
    assert settings["max_wal_size"] == "8GB"
    assert settings["shared_buffers"].startswith("${POSTGRES_SHARED_BUFFERS:-")  # a quarter of the host's memory
    assert settings["wal_compression"] == "zstd"

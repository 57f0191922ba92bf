"""One KafkaConnection from the settings: the same security for aiokafka and FastStream, never the password shown."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import pytest
from faststream.kafka.security import parse_security
from faststream.security import SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from shared.kafka.broker import build_broker
from shared.kafka.security import KafkaConnection
from shared.settings import CommonSettings, KafkaSettings
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET

SERVICE_ENV = {"POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET, "POPFLOW_DATA_KEYS": DATA_KEYS}

PASSWORD = "pa55-word-never-shown"


def connection(**env: str) -> KafkaConnection:
    return KafkaConnection.from_settings(KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "k1:9096", **env}))


def sasl(protocol: str = "SASL_PLAINTEXT", mechanism: str = "SCRAM-SHA-512") -> KafkaConnection:
    return connection(
        KAFKA_SECURITY_PROTOCOL=protocol,
        KAFKA_SASL_MECHANISM=mechanism,
        KAFKA_SASL_USERNAME="popflow",
        KAFKA_SASL_PASSWORD=PASSWORD,
    )


def test_plaintext_is_the_default_and_has_no_security() -> None:
    plain = connection()
    assert plain.options() == {"bootstrap_servers": ["k1:9096"], "security_protocol": "PLAINTEXT"}
    assert plain.security() is None


def test_a_clusters_list_of_servers_reaches_every_client_as_a_list() -> None:
    """Kafka's own `host:port,host:port` form: FastStream's broker takes a string as one server's name."""
    cluster = connection(KAFKA_BOOTSTRAP_SERVERS="k1:9092, k2:9092,,k3:9092 ")
    assert cluster.bootstrap == ["k1:9092", "k2:9092", "k3:9092"]
    assert cluster.options()["bootstrap_servers"] == ["k1:9092", "k2:9092", "k3:9092"]
    settings = CommonSettings.model_validate(SERVICE_ENV | {"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092"})
    # what FastStream hands its aiokafka clients (given the text, it made ["k1:9092,k2:9092"] of it)
    builder = build_broker(settings, service="t").config.broker_config.builder
    assert isinstance(builder, functools.partial)
    clients = builder.keywords
    assert clients["bootstrap_servers"] == ["k1:9092", "k2:9092"]


@pytest.mark.parametrize(
    ("mechanism", "security_class"),
    [("SCRAM-SHA-512", SASLScram512), ("SCRAM-SHA-256", SASLScram256), ("PLAIN", SASLPlaintext)],
)
def test_sasl_gives_aiokafka_and_faststream_the_same_options(mechanism: str, security_class: type) -> None:
    kafka = sasl(mechanism=mechanism)
    options = kafka.options()
    assert options == {
        "bootstrap_servers": ["k1:9096"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "popflow",
        "sasl_plain_password": PASSWORD,
    }
    security = kafka.security()
    assert isinstance(security, security_class)
    faststream: dict[str, Any] = parse_security(security)
    assert {key: faststream[key] for key in options if key != "bootstrap_servers"} == {
        key: value for key, value in options.items() if key != "bootstrap_servers"
    }


def test_tls_protocols_carry_a_verifying_context() -> None:
    for kafka in (connection(KAFKA_SECURITY_PROTOCOL="SSL"), sasl("SASL_SSL")):
        context = kafka.options()["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
        assert parse_security(kafka.security())["security_protocol"] == kafka.security_protocol


@pytest.mark.parametrize("servers", ["", " , ", "k1", "k1:", ":9092", "k1:90a2", "k1:0", "k1:9092,k2"])
def test_a_list_without_a_broker_or_with_one_not_host_and_port_is_refused(servers: str) -> None:
    with pytest.raises(ValidationError, match="KAFKA_BOOTSTRAP_SERVERS"):
        connection(KAFKA_BOOTSTRAP_SERVERS=servers)


def test_names_and_addresses_of_every_form_are_taken() -> None:
    servers = "kafka-1.internal:9092,10.0.0.7:9093,[::1]:9094"
    assert connection(KAFKA_BOOTSTRAP_SERVERS=servers).bootstrap == servers.split(",")


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        connection(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="popflow")


def test_unknown_protocol_or_mechanism_is_refused() -> None:
    with pytest.raises(ValidationError):
        connection(KAFKA_SECURITY_PROTOCOL="TLS")
    with pytest.raises(ValidationError):
        connection(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="GSSAPI")


def test_the_password_is_never_shown() -> None:
    kafka = sasl()
    assert PASSWORD not in repr(kafka)
    assert PASSWORD not in str(kafka.describe())
    assert kafka.describe() == {
        "servers": "k1:9096",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "popflow",
    }


def test_credentials_are_ignored_without_sasl() -> None:
    kafka = connection(KAFKA_SASL_USERNAME="popflow", KAFKA_SASL_PASSWORD=PASSWORD)
    assert "sasl_plain_password" not in kafka.options()

"""How every Kafka client of PopFlow connects: servers, TLS and SASL, built once from the settings.

`KafkaConnection` is the one value passed wherever a client is made: the
FastStream broker takes `security()`, the aiokafka producers, consumers and
admin clients take `**options()`. Its repr never shows the password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr

from shared.kafka.closed_transport import tolerate_closed_transports
from shared.settings import KafkaSettings, bootstrap_list

AUTHENTICATION_ERRORS = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
)
_SASL_SECURITY = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


class KafkaAuthenticationFailed(Exception):
    """The brokers refused our credentials (or our mechanism): retrying will not help."""


@dataclass(frozen=True)
class KafkaConnection:
    servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> KafkaConnection:
        # every Kafka client of a service or the CLI is configured here: a broker's closed socket under uvloop
        # is a broken connection for all of them (the broker's, reporting's fold, the dead-letter tools)
        tolerate_closed_transports()
        sasl = settings.kafka_security_protocol.startswith("SASL_")
        return cls(
            servers=settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism if sasl else None,
            username=settings.kafka_sasl_username if sasl else None,
            password=settings.kafka_sasl_password if sasl else None,
            ssl_cafile=settings.kafka_ssl_cafile,
            ssl_certfile=settings.kafka_ssl_certfile,
            ssl_keyfile=settings.kafka_ssl_keyfile,
        )

    @property
    def bootstrap(self) -> list[str]:
        """KAFKA_BOOTSTRAP_SERVERS (`host:port,host:port`, Kafka's own form) as a list: FastStream's broker takes
        a string as one server, so a cluster's list given as text would not resolve."""
        return bootstrap_list(self.servers)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context (the CA file given, else the system's CAs), or None without TLS."""
        if not self.uses_tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
        )
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client: bootstrap servers and security."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password.get_secret_value() if self.password else None
        return options

    def security(self) -> BaseSecurity | None:
        """The same security for a FastStream KafkaBroker (`security=`); None for PLAINTEXT."""
        context = self.ssl_context()
        if self.sasl_mechanism:
            password = self.password.get_secret_value() if self.password else ""
            return _SASL_SECURITY[self.sasl_mechanism](
                self.username or "", password, ssl_context=context, use_ssl=self.uses_tls
            )
        if self.uses_tls:
            return BaseSecurity(ssl_context=context, use_ssl=True)
        return None

    def describe(self) -> dict[str, str]:
        """What a log line may say about this connection: never the password."""
        described = {"servers": self.servers, "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            described |= {"sasl_mechanism": self.sasl_mechanism, "sasl_username": self.username or ""}
        return described


async def check_credentials(kafka: KafkaConnection, *, timeout_s: float = 10) -> None:
    """Connect (and authenticate) to the bootstrap servers one by one until one accepts.

    Raises KafkaAuthenticationFailed when a broker refuses the credentials, so
    start-up and readiness can say so instead of "unreachable"; any other
    failure (refused, timed out) is re-raised for the caller to retry.
    aiokafka's clients report both as "Unable to bootstrap", hence this probe.
    """
    options = kafka.options()
    del options["bootstrap_servers"]
    last: Exception | None = None
    for server in kafka.bootstrap:
        host, _, port = server.rpartition(":")
        try:
            connection = await create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options)
        except AUTHENTICATION_ERRORS as error:
            raise KafkaAuthenticationFailed("kafka authentication failed") from error
        except Exception as error:
            last = error
            continue
        connection.close()
        return
    raise ConnectionError(f"no Kafka broker answered at {kafka.servers}") from last

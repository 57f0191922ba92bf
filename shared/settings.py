"""Settings every service reads, from the environment (pydantic-settings).

Each service's own settings class inherits these and adds its prefixed
fields (INTAKE_PORT, ROUTING_DATABASE_URL, ...). Nothing is read at import
time: a composition root calls `Settings()`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.digits import ascii_digits
from shared.sealing import Keyring, parse_keyring

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "dev-only-secret", "secret"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def bootstrap_list(servers: str) -> list[str]:
    """KAFKA_BOOTSTRAP_SERVERS (`host:port,host:port`, Kafka's own form) as a list, blanks left out."""
    return [server.strip() for server in servers.split(",") if server.strip()]


class KafkaSettings(BaseSettings):
    """Where Kafka is and how to connect to it: every Kafka client of PopFlow is built from these.

    Read on their own by tools and tests that talk to Kafka without being a service.
    """

    # A refused setting's error names it and says why, without the input: pydantic would print the start and
    # end of every variable read (a data key, a database password), on the terminal and in the service's log.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS", description="Kafka brokers"
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT", alias="KAFKA_SECURITY_PROTOCOL", description="PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL"
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        default="SCRAM-SHA-512", alias="KAFKA_SASL_MECHANISM", description="SCRAM-SHA-512|SCRAM-SHA-256|PLAIN"
    )
    kafka_sasl_username: str = Field(
        default="", alias="KAFKA_SASL_USERNAME", description="SASL user; required with the SASL_* protocols"
    )
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""), alias="KAFKA_SASL_PASSWORD", description="Its password (never logged)"
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        alias="KAFKA_SSL_CAFILE",
        description="CA bundle for the brokers' certificates (else the system's)",
    )
    kafka_ssl_certfile: str | None = Field(
        default=None, alias="KAFKA_SSL_CERTFILE", description="Client certificate, for brokers that require one"
    )
    kafka_ssl_keyfile: str | None = Field(default=None, alias="KAFKA_SSL_KEYFILE", description="Its private key")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers_listed(cls, value: str) -> str:
        servers = bootstrap_list(value)
        if not servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS lists no broker: give host:port, or host:port,host:port,...")
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"KAFKA_BOOTSTRAP_SERVERS: {server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Self:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            protocol = self.kafka_security_protocol
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        return self


class CommonSettings(KafkaSettings):
    """Kafka, topics, logging and the person-key secret, shared by all services."""

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        alias="POPFLOW_ENV",
        description="development|production; production refuses placeholder secrets",
    )
    topic_prefix: str = Field(
        default="popflow.", alias="POPFLOW_TOPIC_PREFIX", description="Prefix of every topic name"
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        alias="POPFLOW_TOPIC_PARTITIONS",
        description="Partitions of each topic the services create (broker auto-creation stays off)",
    )
    topic_replication: int = Field(
        default=1, ge=1, alias="POPFLOW_TOPIC_REPLICATION", description="Replication factor of each topic created"
    )
    topic_min_in_sync: int | None = Field(
        default=None,
        ge=1,
        alias="POPFLOW_TOPIC_MIN_IN_SYNC",
        description="Copies of a partition that must hold an event before Kafka acknowledges it (the topics' "
        "min.insync.replicas); unset: 2 for a topic of 3 copies or more, else 1; never above a topic's copies",
    )
    topic_retention_days: int = Field(
        default=-1,
        alias="POPFLOW_TOPIC_RETENTION_DAYS",
        description="How long event topics keep messages; -1 keeps them for ever (the rebuilds replay them)",
    )
    dead_letter_retention_days: int = Field(
        default=14,
        ge=1,
        alias="POPFLOW_DEAD_LETTER_RETENTION_DAYS",
        description="How long the dead-letter topic keeps messages (they may hold personal data)",
    )
    outbox_keep_days: int = Field(
        default=7,
        ge=0,
        le=3650,
        alias="POPFLOW_OUTBOX_KEEP_DAYS",
        description="How long intake's and notification's outbox rows are kept after they are published "
        "(their events stay on the topics); 0 deletes each as soon as Kafka confirmed it; unpublished and "
        "set-aside rows are always kept",
    )
    outbox_unclear_passes: int = Field(
        default=5,
        ge=1,
        le=1000,
        alias="POPFLOW_OUTBOX_UNCLEAR_PASSES",
        description="Passes of intake's and notification's outbox relays in which a row must have failed with an "
        "error that does not say whose fault it is (Kafka's 'unknown server error', a bare KafkaError) before it "
        "is set aside, its person's later rows waiting meanwhile; POPFLOW_OUTBOX_UNCLEAR_FOR_S must be over too",
    )
    outbox_unclear_for_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        alias="POPFLOW_OUTBOX_UNCLEAR_FOR_S",
        description="Seconds since a row's first such failure before it is set aside: longer than a broker's "
        "restart or a leader election, so a passing fault sets no row aside; 0: the passes alone decide",
    )
    person_key_secret: SecretStr = Field(
        alias="POPFLOW_PERSON_KEY_SECRET",
        description="HMAC key for person keys (Kafka keys, look-ups); required",
    )
    data_keys: SecretStr = Field(
        alias="POPFLOW_DATA_KEYS",
        description="AES-GCM data keys sealing personal data in events and stores, `key_id:base64,...` "
        "(32 random bytes each); keep retired keys listed while data sealed with them remains; required",
    )
    data_key_id: str | None = Field(
        default=None,
        alias="POPFLOW_DATA_KEY_ID",
        description="Id of the key that seals new data; may be omitted when POPFLOW_DATA_KEYS holds one key",
    )
    keys_database_url: str = Field(
        default="sqlite+aiosqlite:///./var/keys.db",
        alias="POPFLOW_KEYS_DATABASE_URL",
        description="The one API-key store of the system (intake migrates it, every service reads it)",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        alias="POPFLOW_TIMEZONE",
        description="Where days begin and end: intake's today (a check date, a birth date), working days for "
        "reminders, the weekly cut-off",
    )
    served_districts: Annotated[list[str], NoDecode] = Field(
        default=["440111"],
        alias="POPFLOW_SERVED_DISTRICTS",
        description="6-digit districts this deployment serves, comma-separated; everything else is a partner's",
    )
    log_level: str = Field(default="INFO", alias="POPFLOW_LOG_LEVEL", description="DEBUG, INFO, WARNING or ERROR")
    deployment_name: str = Field(
        default="",
        alias="POPFLOW_DEPLOYMENT_NAME",
        max_length=40,
        pattern=r"^[0-9A-Za-z_.-]*$",
        description="A name every log line carries as `deployment`, to tell deployments apart in one log "
        "(`make run-two` names each by its district); empty: not carried",
    )
    log_format: str = Field(
        default="auto", alias="POPFLOW_LOG_FORMAT", description="json|console|auto (JSON lines unless on a terminal)"
    )

    @field_validator("data_key_id", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return value or None

    @field_validator("topic_retention_days")
    @classmethod
    def _forever_or_days(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError("POPFLOW_TOPIC_RETENTION_DAYS is -1 (for ever) or a number of days")
        return value

    @field_validator("served_districts", mode="before")
    @classmethod
    def _split_districts(cls, value: Any) -> Any:
        return comma_separated(value)

    @field_validator("served_districts")
    @classmethod
    def _six_digits(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not ascii_digits(code, 6)]
        if bad or not value:
            raise ValueError("POPFLOW_SERVED_DISTRICTS lists 6-digit district codes, at least one")
        return value

    @model_validator(mode="after")
    def _reject_placeholders(self) -> Self:
        secret = self.person_key_secret.get_secret_value()
        if self.environment is Environment.PRODUCTION and (secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 16):
            raise ValueError("POPFLOW_PERSON_KEY_SECRET is a placeholder or too short for production")
        keyring = self.keyring()  # ValueError naming the setting, never the key
        if self.environment is Environment.PRODUCTION and len(set(keyring.keys[keyring.current])) < 8:
            raise ValueError("POPFLOW_DATA_KEYS: the current key is a placeholder (too few distinct bytes)")
        return self

    @model_validator(mode="after")
    def _in_sync_within_replication(self) -> Self:
        if self.topic_min_in_sync is not None and self.topic_min_in_sync > self.topic_replication:
            raise ValueError(
                f"POPFLOW_TOPIC_MIN_IN_SYNC={self.topic_min_in_sync} is more than the "
                f"{self.topic_replication} copies POPFLOW_TOPIC_REPLICATION makes: no write would ever be acknowledged"
            )
        return self

    @property
    def min_in_sync(self) -> int:
        """The min.insync.replicas of the topics the services create (POPFLOW_TOPIC_REPLICATION copies)."""
        return self.min_in_sync_for(self.topic_replication)

    def min_in_sync_for(self, copies: int) -> int:
        """The min.insync.replicas of a topic with `copies` copies: POPFLOW_TOPIC_MIN_IN_SYNC (never more than
        the copies, or no write would be acknowledged), else 2 from three copies on (one broker may be down,
        and an acknowledged event still has two), else 1. A topic made before with other copies than
        POPFLOW_TOPIC_REPLICATION asks for what its own copies allow."""
        if self.topic_min_in_sync is not None:
            return min(self.topic_min_in_sync, copies)
        return 2 if copies >= 3 else 1

    def keyring(self) -> Keyring:
        """The data keys (POPFLOW_DATA_KEYS) with the current one (POPFLOW_DATA_KEY_ID)."""
        return parse_keyring(self.data_keys.get_secret_value(), self.data_key_id)

    @property
    def zone(self) -> ZoneInfo:
        """POPFLOW_TIMEZONE as a zone: where the deployment's days begin and end."""
        return ZoneInfo(self.timezone)

    def cautions(self) -> list[tuple[str, str]]:
        """Settings that work but give up something an operator may not have meant to: (the settings, what is
        given up). Every service logs each at start-up as a warning; none stops it."""
        found = []
        if self.outbox_keep_days == 0 and self.topic_retention_days != -1:
            found.append(
                (
                    f"POPFLOW_OUTBOX_KEEP_DAYS=0 POPFLOW_TOPIC_RETENTION_DAYS={self.topic_retention_days}",
                    "no copy of an event outlives the topics' retention: the outboxes keep no published row, "
                    f"and the topics drop events after {self.topic_retention_days} day(s); a lost topic cannot be "
                    "published again from the outbox, and a rebuild replays only what the topics still hold",
                )
            )
        copies, in_sync = self.topic_replication, self.min_in_sync
        if copies >= 3 and in_sync == 1:
            found.append(
                (
                    f"POPFLOW_TOPIC_REPLICATION={copies} POPFLOW_TOPIC_MIN_IN_SYNC=1",
                    "Kafka acknowledges an event held by one broker only: if that broker's disk is lost before "
                    "the others copy it, the event is lost although the outbox counted it published",
                )
            )
        if copies > 1 and in_sync == copies:
            found.append(
                (
                    f"POPFLOW_TOPIC_REPLICATION={copies} POPFLOW_TOPIC_MIN_IN_SYNC={in_sync}",
                    "every copy must be in sync: one broker down stops every write (nothing is lost; the outboxes "
                    "and consumers wait until it is back)",
                )
            )
        return found

    @property
    def outbox_keeps_sent(self) -> bool:
        """Whether the outbox relays mark published rows sent (kept for the purge) or delete them at once (0 days)."""
        return self.outbox_keep_days > 0


class ServiceSettings(CommonSettings):
    """Fields every service has under its own prefix: HOST, PORT, DATABASE_URL."""

    host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on")
    port: int = Field(description="Port of the HTTP API")
    database_url: str = Field(
        description="The service's own store: a SQLite file under ./var by default, "
        "postgresql+asyncpg://... in production"
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1, description="Largest request body (413 above); bulk routes state their own"
    )
    db_pool_size: int = Field(
        default=20,
        ge=8,
        le=500,
        description="Connections each process keeps to its PostgreSQL database, and as many to the key store's; "
        "a request that finds none free waits up to 10 s, then answers 503. Each replica and each web worker has "
        "its own, so size max_connections for all of them (docs/scaling.md). At least 8: a leading replica holds "
        "one for each task it leads and one for the relay's wake-ups",
    )
    web_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Processes serving the service on its one port (uvicorn workers); each is a full replica "
        "(its own consumers, the deployment-wide work led by one of them). Above 1 needs PostgreSQL stores",
    )


def comma_separated(value: Any) -> Any:
    """`a, b,c` from the environment as a list; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def sqlite_url(service: str) -> str:
    """The embedded default store: one SQLite file per service under ./var."""
    return f"sqlite+aiosqlite:///./var/{service}.db"


def env_prefix(settings: BaseSettings | type[BaseSettings]) -> str:
    """`INTAKE_` for intake's settings (the class or an instance): the prefix of the service's own variables."""
    return str(settings.model_config.get("env_prefix", ""))


def environment_names(settings_class: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads (for checking deploy files)."""
    prefix = env_prefix(settings_class)
    names = set()
    for field_name, field in settings_class.model_fields.items():
        names.add(field.alias if field.alias else f"{prefix}{field_name}".upper())
    return names

"""Notification's settings: the common ones plus NOTIFICATION_* fields."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.notification.domain.destinations import DestinationPolicy, reachable_link_base
from services.notification.domain.exchange_batch import MAX_LINES
from services.notification.domain.orphan_batches import ORPHAN_AFTER_S
from shared.settings import Environment, ServiceSettings, comma_separated, sqlite_url

# the one partners file of the deployment: routing names the partner on each notice, notification sends
DEFAULT_PARTNERS_FILE = Path(__file__).parents[1] / "routing" / "adapters" / "recipients.toml"


DEFAULT_WINDOW_MOST = 32  # a recipient's widest window when the setting is unset (domain/pacing.py)


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore", populate_by_name=True)

    port: int = 8003
    database_url: str = sqlite_url("notification")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Whole-request timeout of one push")
    retry_base_s: float = Field(default=5.0, gt=0, le=3600, description="Backoff after the first failed push")
    retry_cap_s: float = Field(default=900.0, gt=0, le=86_400, description="Longest backoff between two pushes")
    retry_max_attempts: int = Field(
        default=10, ge=1, le=1000, description="Pushes per round before a notice is 'failed'"
    )
    per_recipient_concurrency: int = Field(
        default=8,
        ge=1,
        description="Pushes in flight to one recipient to begin with; its window widens while it answers "
        "2xx with more waiting, and halves for each failed attempt",
    )
    per_recipient_max_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="The most pushes in flight to one recipient its window grows to; equal to "
        "PER_RECIPIENT_CONCURRENCY for a fixed limit; unset: 32, or PER_RECIPIENT_CONCURRENCY if larger",
    )
    max_concurrent_deliveries: int = Field(default=64, ge=1, description="Pushes in flight in this process")
    claim_margin_s: float = Field(
        default=30.0,
        gt=0,
        description="A claimed push is due again after twice the push time (address check and HTTP timeout) "
        "plus this (crash recovery)",
    )
    poll_interval_s: float = Field(default=0.5, gt=0, description="How often the worker looks for due pushes")
    webhook_secret_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts webhook secrets at rest (any text; hashed to a Fernet key); "
        "derived from POPFLOW_PERSON_KEY_SECRET when absent",
    )
    webhook_allow: str = Field(
        default="",
        description="Webhook destinations allowed beyond public https, comma-separated: 'http', 'loopback', "
        "addresses and networks (e.g. 'loopback,http' for `popflow receiver`; empty in production)",
    )
    reporting_url: str = Field(
        default="http://127.0.0.1:8004",
        description="Reporting's base URL: the office page submits weekly reports there",
    )
    office_session_minutes: int = Field(
        default=30, ge=1, le=720, description="How long a clerk's login on the office page lasts"
    )
    office_cookie_secure: bool | None = Field(
        default=None,
        description=(
            "Mark the office page's cookies (session, login form) Secure and name them `__Host-...`; "
            "unset: so everywhere but development"
        ),
    )
    record_link_base: str = Field(
        default="http://127.0.0.1:8001/v1/records/",
        max_length=1000,
        description="A notice's record link is this + record id: where street offices reach intake "
        "(in production an http(s) address other than this machine's loopback)",
    )
    partners_file: Path = Field(
        default=DEFAULT_PARTNERS_FILE,
        description="TOML file of exchange partners by code prefix (the file routing reads; docs/exchange.md)",
    )
    exchange_signing_key: SecretStr | None = Field(
        default=None,
        description="This deployment's Ed25519 private key (base64) that signs what it sends partners; "
        "`popflow exchange keygen` makes one",
    )
    exchange_sealing_key: SecretStr | None = Field(
        default=None, description="This deployment's X25519 private key (base64) that opens what partners seal for it"
    )
    exchange_previous_sealing_key: SecretStr | None = Field(
        default=None,
        description="During a key switch-over: our previous X25519 private key, so what partners still seal to "
        "the old public half opens; remove it once every partner has the new one",
    )
    exchange_tolerance_s: int = Field(
        default=300, ge=1, description="How old a partner's signed timestamp may be before the message is refused"
    )
    exchange_ftp_host: str | None = Field(
        default=None, description="The city's FTP exchange platform where our folder is polled; unset: no poller"
    )
    exchange_ftp_port: int = Field(default=21, ge=1, le=65535, description="The exchange platform's FTP port")
    exchange_ftp_tls: bool = Field(default=False, description="FTPS (AUTH TLS, protected data channel)")
    exchange_ftp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the certificate authorities FTPS servers are checked against (for example the "
        "city's own CA); unset: the system's. Certificates are always verified",
    )
    exchange_ftp_user: str | None = Field(default=None, description="Our account on the exchange platform")
    exchange_ftp_password: SecretStr | None = Field(default=None, description="Our account's password")
    exchange_ftp_folders: Annotated[list[str], NoDecode] = Field(
        default=[], description="Our folders on the platform (one per served district), comma-separated"
    )
    exchange_ftp_poll_s: float = Field(default=5.0, gt=0, description="How often our folders are polled")
    exchange_ftp_max_age_s: int = Field(
        default=30 * 86400, ge=1, description="How old a batch's signed timestamp may be (files wait on the platform)"
    )
    exchange_ftp_orphan_after_s: int = Field(
        default=ORPHAN_AFTER_S,
        ge=60,
        le=365 * 86400,
        description="How long a batch file may wait in our folder without its manifest (its sender never finished "
        "the upload) before it is moved to set-aside/ and listed for the bureau",
    )
    exchange_ftp_batch_window_s: float = Field(
        default=0.2, gt=0, description="How long messages due for one folder are gathered into one batch"
    )
    exchange_ftp_max_batch: int = Field(
        default=500, ge=1, le=MAX_LINES, description=f"Messages per batch file at most (up to {MAX_LINES})"
    )

    @field_validator("exchange_ftp_folders", mode="before")
    @classmethod
    def _split_folders(cls, value: Any) -> Any:
        return comma_separated(value)

    @model_validator(mode="after")
    def _window_fits(self) -> NotificationSettings:
        most = self.per_recipient_max_concurrency
        if most is not None and most < self.per_recipient_concurrency:
            raise ValueError(
                "NOTIFICATION_PER_RECIPIENT_MAX_CONCURRENCY must be at least NOTIFICATION_PER_RECIPIENT_CONCURRENCY"
            )
        return self

    @model_validator(mode="after")
    def _link_leaves_the_machine(self) -> NotificationSettings:
        """In production a notice's record link must be one its recipient can follow: the default
        loopback address would send every street office's browser, or system, to its own machine."""
        if self.environment is Environment.PRODUCTION and not reachable_link_base(self.record_link_base):
            raise ValueError(
                "NOTIFICATION_RECORD_LINK_BASE must be an http(s) address street offices reach intake at, "
                "not this machine's loopback (e.g. https://popflow.district.example/v1/records/)"
            )
        return self

    @property
    def per_recipient_most(self) -> int:
        """The widest a recipient's window grows (unset: 32, or the start when a deployment set it above)."""
        if self.per_recipient_max_concurrency is not None:
            return self.per_recipient_max_concurrency
        return max(DEFAULT_WINDOW_MOST, self.per_recipient_concurrency)

    @field_validator("webhook_allow")
    @classmethod
    def _parses(cls, value: str) -> str:
        DestinationPolicy.parse(value)  # a typo fails at start-up, not at the first push
        return value

    @property
    def secure_office_cookie(self) -> bool:
        if self.office_cookie_secure is not None:
            return self.office_cookie_secure
        return self.environment is not Environment.DEVELOPMENT

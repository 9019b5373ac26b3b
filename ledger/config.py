"""Settings from the environment, validated once at start.

Every setting is read from an environment variable named in ``Settings``; a bad value stops
the service at start with a message naming the variable, never later at first use.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Role(StrEnum):
    """What one instance does (``serve --role``, LEDGER_ROLE). Any number of each run
    together over one database; they coordinate through it (advisory locks, ``SKIP
    LOCKED``, leases), never with one another."""

    # HTTP and live streams: the API, the pages, the probes.
    WEB = "web"
    # The asynchronous consumers (webhook fan-out and delivery, the scheduler, mail fan-out
    # and sender, the read side's keeper); of HTTP only the probes, /healthz and /readyz.
    WORKER = "worker"
    # Both in one process: one instance is a whole service.
    ALL = "all"

    @property
    def serves_http(self) -> bool:
        return self is not Role.WORKER

    @property
    def runs_consumers(self) -> bool:
        return self is not Role.WEB


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# "10.0.0.5, 10.1.0.0/16, ::1": addresses or networks, comma-separated.
Networks = Annotated[tuple[IPvAnyNetwork, ...], NoDecode, BeforeValidator(_comma_separated)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", frozen=True, extra="ignore")

    role: Role = Role.ALL
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Unset: an embedded PostgreSQL is started with its data under ``data_dir``.
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        # Not pydantic's PostgresDsn: it refuses Unix-socket URLs (postgresql://u@/db?host=/dir).
        pattern=r"^postgres(ql)?://",
    )
    # The schema's owner, who runs the migrations and grants the service (DATABASE_URL)
    # its role; unset: DATABASE_URL migrates too. Only with DATABASE_URL.
    database_owner_url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    # Where the service LISTENs (and sends its NOTIFYs, with settings of their own): PostgreSQL
    # itself when DATABASE_URL is a pooler in transaction mode, such as PgBouncer, which
    # can carry neither. Unset: DATABASE_URL.
    listen_database_url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    # How many prepared statements each pooled connection keeps (asyncpg's cache); 0
    # behind a pooler in transaction mode that does not track them (PgBouncer before 1.21).
    statement_cache_size: int = Field(default=100, ge=0)
    data_dir: Path = Path(".ledger-data")
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0)
    projection_poll_seconds: float = Field(default=1.0, gt=0)
    projection_batch_size: int = Field(default=500, ge=1, le=10_000)
    # How often each instance looks for reviews that fell due and deadlines that passed.
    scheduler_interval_seconds: float = Field(default=30.0, gt=0)
    # Development only: accept plain-http webhook endpoints.
    webhooks_allow_http: bool = False
    # Tests only: deliver webhooks to loopback and private addresses (a local receiver).
    webhooks_allow_private: bool = False
    # The whole of one delivery attempt; a claimed message's lease is three times as long.
    webhook_timeout_seconds: float = Field(default=20.0, gt=0, le=30)
    # Live streams (ledger/http/live.py): how many one account may hold open on one
    # instance (a page each, a bot's), and how often a quiet stream says it is still there,
    # asks again whether its credential still holds and looks without being woken.
    live_streams_per_account: int = Field(default=20, ge=1)
    live_keepalive_seconds: float = Field(default=15.0, gt=0)
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    log_format: str = Field(default="json", pattern="^(json|console)$")
    # Base64 of 32 bytes that wraps every data key (see docs/privacy.md). Required with
    # DATABASE_URL; the embedded default keeps a generated one in data_dir/master.key.
    master_key: SecretStr | None = Field(default=None, validation_alias="LEDGER_MASTER_KEY")
    # Base64 of the 32-byte Ed25519 key that signs checkpoints, and the public keys of
    # earlier ones, still published (docs/verification.md). Required with DATABASE_URL; the
    # embedded default keeps them in data_dir/checkpoint.key and checkpoint-retired.keys.
    checkpoint_key: SecretStr | None = None
    checkpoint_retired_keys: str | None = None
    # Operators who send it as X-Operator-Token see /status (the machinery: lags, parked
    # polycules and on which event) and why /readyz says what it says; nobody else does.
    # Unset: /status is refused to everyone.
    operator_token: SecretStr | None = Field(default=None, min_length=16)
    # The reverse proxies (addresses or networks) in front of the service, such as one that
    # ends TLS. Only a request whose TCP peer is one of them has its X-Forwarded-For,
    # -Proto and -Host believed: then the client's address is what the proxy says (for
    # throttling), and HTTPS there makes the session cookie Secure and sends HSTS. Empty:
    # every X-Forwarded-* header is ignored (ledger/http/middleware.py).
    trusted_proxies: Networks = ()
    # Signing up costs an Argon2id hash: how many sign-ups one client address may make in
    # an hour (ledger/auth/throttle.py).
    sign_ups_per_address_per_hour: int = Field(default=10, ge=1)
    # Where people reach the service, as links in mail give it (https://ledger.example.org):
    # a mail is read far from any request, so the address cannot be taken from one.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    # Mail notices (ledger/mail/, docs/email.md): off while no SMTP host is set. The
    # port defaults to the TLS mode's own (25 none, 587 starttls, 465 tls).
    smtp_host: str | None = Field(default=None, min_length=1)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_tls: str = Field(default="starttls", pattern="^(none|starttls|tls)$")
    smtp_username: str | None = Field(default=None, min_length=1)
    smtp_password: SecretStr | None = None
    # The From of every mail; the Message-IDs are made in its domain.
    mail_from: str | None = Field(default=None, pattern=r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
    # The hour (UTC) the daily digest is sent at.
    mail_digest_hour: int = Field(default=8, ge=0, le=23)

    @model_validator(mode="after")
    def _owner_only_with_a_server(self) -> Settings:
        if self.database_owner_url and not self.database_url:
            raise ValueError(
                "LEDGER_DATABASE_OWNER_URL is set without DATABASE_URL (the embedded "
                "database needs neither); set both, or neither"
            )
        if self.listen_database_url and not self.database_url:
            raise ValueError(
                "LEDGER_LISTEN_DATABASE_URL is set without DATABASE_URL (the embedded "
                "database needs neither); set both, or neither"
            )
        return self

    @model_validator(mode="after")
    def _mail_settings_together(self) -> Settings:
        if self.smtp_host and not (self.mail_from and self.public_url):
            raise ValueError(
                "LEDGER_SMTP_HOST is set without LEDGER_MAIL_FROM and LEDGER_PUBLIC_URL "
                "(every mail needs a sender and links people can follow); set them too"
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "LEDGER_SMTP_USERNAME and LEDGER_SMTP_PASSWORD go together; set both, or neither"
            )
        return self

    @property
    def mail_enabled(self) -> bool:
        """Whether mail is sent at all: an SMTP host is configured."""
        return self.smtp_host is not None

    @property
    def smtp_port_in_use(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return {"none": 25, "starttls": 587, "tls": 465}[self.smtp_tls]


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = str(item["loc"][0]) if item["loc"] else "?"
            variable = field if field in ("DATABASE_URL", "LEDGER_MASTER_KEY") else (
                f"LEDGER_{field.upper()}"
            )
            # A rule across settings names its variables in its own message.
            problems.append(f"{variable}: {item['msg']}" if item["loc"] else item["msg"])
        raise ConfigurationError("invalid configuration — " + "; ".join(problems)) from None

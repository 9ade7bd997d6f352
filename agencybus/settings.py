"""The one settings object every AgencyBus process reads (environment variables ``AGENCYBUS_*``).

One object with the same names in every process, so an operator sets a value once
and a bad value fails at start with the variable's name and the reason.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "AGENCYBUS_"


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the environment variable."""


class Settings(BaseSettings):
    """Effective configuration of an AgencyBus process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    # --- Kafka ---------------------------------------------------------------
    broker_kind: Literal["embedded", "kafka"] = Field(
        "embedded",
        description="Which broker the bus runs on: embedded (Tansu, with its workarounds) or kafka "
        "(Apache Kafka, as in production)",
    )
    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka transport: SASL_SSL in production (per-agency SCRAM user over TLS)"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of the agency's Kafka principal"
    )
    sasl_username: str | None = Field(None, description="Kafka principal (one per agency / role)")
    sasl_password: SecretStr | None = Field(None, description="Password of the Kafka principal")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certificates")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS only)")
    ssl_keyfile: Path | None = Field(None, description="Client private key (mutual TLS only)")
    topic_partitions: int = Field(6, ge=1, le=1000, description="Partitions for agency and alert topics")
    replication_factor: int = Field(1, ge=1, le=10, description="Replication factor (3 in production)")
    session_timeout_ms: int = Field(6000, ge=1000, description="Consumer group session timeout")
    heartbeat_interval_ms: int = Field(1000, ge=100, description="Consumer group heartbeat interval")
    kafka_bootstrap_timeout_ms: int = Field(
        10_000, ge=100, description="How long a Kafka client waits for a first broker when it is created"
    )

    # --- Where and who -------------------------------------------------------
    province_code: str = Field("38", description="Province this deployment serves (2-digit code, 2025 list)")
    data_dir: Path = Field(
        Path(".agencybus"), description="Local state: outboxes, RocksDB tables, SQLite files, keys"
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL for the consumers' stores; SQLite under data_dir if unset"
    )
    communes_file: Path | None = Field(
        None, description="CSV of the province's communes/wards (code,name,kind)"
    )
    agencies_file: Path | None = Field(
        None,
        description="Agency registry YAML of this deployment; schemas/reference/agencies.yaml if unset "
        "(read by schemas.reference from the same variable, so every process agrees)",
    )

    # --- Logs and metrics ----------------------------------------------------
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="Log format: auto (console on a terminal, JSON otherwise), json or console"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged")
    metrics_port: int = Field(0, ge=0, le=65535, description="Port for /metrics; 0 disables the endpoint")
    metrics_host: str = Field(
        "127.0.0.1", description="Address the /metrics endpoint binds (0.0.0.0 to expose it)"
    )

    # --- Producers: SDK, outbox, gateway ------------------------------------
    keys_dir: Path | None = Field(
        None,
        description="Ed25519 keys (this host's private keys, keyring of public keys); data_dir/keys if unset",
    )
    outbox_flush_interval_s: float = Field(
        2.0, gt=0, description="How often the outbox flusher retries delivery"
    )
    outbox_dedupe_days: float = Field(
        400.0,
        gt=0,
        description="How long an outbox remembers delivered event_ids: handing one over again within "
        "this time (a re-import) sends nothing; older entries are pruned hourly",
    )
    publish_timeout_s: float = Field(
        10.0, gt=0, description="Longest a publish waits for the broker before the event goes to the outbox"
    )
    gateway_host: str = Field("127.0.0.1", description="Address the HTTP ingest gateway binds")
    gateway_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP ingest gateway")
    gateway_keys_file: Path | None = Field(
        None, description="Hashed per-agency API keys (YAML); data_dir/gateway-keys.yaml if unset"
    )
    gateway_max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body (413 above)")
    gateway_rate_limit_per_minute: int = Field(600, ge=1, description="Requests per agency a minute")
    gateway_inflight_wait_s: float = Field(
        20.0,
        ge=0,
        description="How long a request waits for another in flight under its Idempotency-Key or "
        "event_id before it is answered 409 with Retry-After",
    )
    gateway_inflight_lease_s: float = Field(
        120.0,
        gt=0,
        description="How long a request in flight holds its Idempotency-Key and event_ids: after a "
        "gateway crash they are free again this long after the request began",
    )

    # --- Processors ----------------------------------------------------------
    processor_store: str = Field(
        "rocksdb://", description="faust table store: rocksdb:// (default) or memory:// (tests)"
    )
    processor_web_port: int = Field(6066, ge=0, le=65535, description="faust web port of this worker")
    rules_path: Path | None = Field(
        None, description="Correlation rules YAML; processors/rules.yaml if unset"
    )
    warninglist_path: Path | None = Field(
        None, description="Tokens that never link sellers; processors/warninglist.yaml if unset"
    )
    identity_hmac_secret: SecretStr | None = Field(
        None, description="If set, identity tokens are keyed-hashed in processor state"
    )
    hot_token_limit: int = Field(
        20, ge=1, description="A token seen with more distinct clusters stops linking"
    )
    processor_stall_after_s: float = Field(
        30.0, gt=0, description="Log input_stalled when a partition's records wait this long (seconds)"
    )
    processor_commit_gate: bool = Field(
        True,
        description="Testing only: false falls back to faust's ack-based commits, which commit records "
        "skipped during rebalances (the crash matrix shows the loss)",
    )
    processor_compression: Literal["none", "gzip"] = Field(
        "none",
        description="Compression of what the processors produce (alerts, internal topics, changelogs); "
        "gzip costs the worker CPU, see benchmarks/README.md",
    )

    # --- State Bank branch service ------------------------------------------
    bank_branch: str = Field("NHNN-KV10", description="State Bank regional branch code of this service")
    bank_provinces: list[str] = Field(
        default_factory=lambda: ["38"], description="Province codes the branch serves (JSON list)"
    )
    bank_allowed_agencies: list[str] = Field(
        default_factory=lambda: ["CA", "QLTT", "SCT"],
        description="Agencies allowed to request payment blocks",
    )
    bank_sla_hours: float = Field(
        24.0, gt=0, description="Hours the bank has to act before a request is overdue"
    )
    bank_sink: Literal["file", "webhook"] = Field(
        "file", description="How execution instructions reach the credit institutions"
    )
    bank_webhook_url: str | None = Field(None, description="Endpoint of the webhook sink")
    bank_web_port: int = Field(8081, ge=0, le=65535, description="Port of the bank's operator web page")
    bank_users_file: Path | None = Field(None, description="Bank operators (YAML, argon2)")
    bank_consumer_group: str = Field(
        "state-bank", description="Consumer group of the bank service on the request topic"
    )
    bank_sweep_interval_s: float = Field(
        30.0, gt=0, description="How often the bank service runs its expiry/SLA sweep"
    )
    bank_max_poll_records: int = Field(
        500, ge=1, le=10_000, description="Requests the bank service stores per ledger transaction"
    )
    bank_wallet_providers: dict[str, str] = Field(
        default_factory=lambda: {
            "momo": "MoMo (M_Service)",
            "zalopay": "ZaloPay (VNG)",
            "vnpay": "VNPAY",
            "shopeepay": "ShopeePay (AirPay)",
            "viettelmoney": "Viettel Money (Viettel Digital)",
        },
        description="E-wallet providers the branch can instruct (JSON object provider -> institution)",
    )

    # --- Takedown requests and the platform service --------------------------
    takedown_deadline_hours: float = Field(
        24.0,
        ge=1,
        le=720,
        description="Hours a platform has to answer a takedown request the dashboard sends (the deadline)",
    )
    platform: str = Field(
        "SHOPEE",
        description="Platform this platform service serves (code of schemas/reference/platforms.yaml)",
    )
    platform_allowed_agencies: list[str] = Field(
        default_factory=lambda: ["CA", "QLTT", "SCT"],
        description="Agencies this platform accepts takedown requests from (and the registry must allow)",
    )
    platform_host: str = Field("127.0.0.1", description="Address the platform service's HTTP endpoint binds")
    platform_port: int = Field(
        8082, ge=0, le=65535, description="Port of the platform service's HTTP endpoint"
    )
    platform_api_token: SecretStr | None = Field(
        None, description="Bearer token of the platform service's HTTP endpoint (requests in, answers, lists)"
    )
    platform_relay_interval_s: float = Field(
        1.0, gt=0, description="How often the platform service publishes answers waiting in its outbox"
    )

    # --- Steering committee dashboard and forwarder -------------------------
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard binds")
    dashboard_port: int = Field(8000, ge=0, le=65535, description="Port of the dashboard")
    dashboard_users_file: Path | None = Field(None, description="Dashboard users, roles (YAML)")
    case_response_hours: float = Field(
        72.0,
        gt=0,
        description="Hours an agency a case is routed to has to act on it (a note, a lead, a closure) "
        "before the dashboard counts it overdue",
    )
    session_ttl_minutes: int = Field(480, ge=1, description="Web sessions expire after this long")
    session_secret: SecretStr | None = Field(
        None, description="Cookie signing secret; generated under data_dir if unset"
    )
    dashboard_secure_cookies: bool = Field(
        True, description="Session cookies only over HTTPS (Secure); the demo turns it off for http://"
    )
    login_max_failures_per_user: int = Field(
        5, ge=1, description="Failed logins for one user name within the window before it is refused"
    )
    login_max_failures_per_address: int = Field(
        20, ge=1, description="Failed logins from one client address within the window before it is refused"
    )
    login_window_seconds: int = Field(
        900, ge=1, description="Failed logins count for this long; a throttled login waits until then"
    )

    # --- The statutory yearly report ------------------------------------------
    report_compiling_agency: str = Field(
        "SCT",
        description="Agency code that compiles the province's report and receives each agency's report",
    )
    report_addressee: str | None = Field(
        None, description="Addressee of the compiled report (kính gửi), e.g. 'Ủy ban nhân dân tỉnh Thanh Hóa'"
    )
    report_parent_body: str | None = Field(
        None, description="Parent body printed above the compiling agency's name (cơ quan chủ quản)"
    )
    report_place: str | None = Field(None, description="Place name of the report's dateline (địa danh)")

    @field_validator("province_code")
    @classmethod
    def _two_digits(cls, value: str) -> str:
        if not (len(value) == 2 and value.isdigit()):
            raise ValueError(f"expected a 2-digit province code such as '38', found {value!r}")
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for part in value.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], found {part.strip()!r}")
        return value

    @cached_property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / UNSET_PATHS["keys_dir"]

    def kafka_env(self) -> dict[str, str]:
        """The AGENCYBUS_* variables of this broker connection, for a child process (holds the password)."""
        names = ["broker_kind", "bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username"]
        names += ["sasl_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "replication_factor"]
        env = {}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env

    def sqlite_url(self, name: str) -> str:
        """Database URL for the consumer store ``name`` (SQLite under data_dir unless database_url is set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{name}.db').resolve()}"


# What an unset optional setting means, so `config show` never prints a blank: a file under data_dir...
UNSET_PATHS: dict[str, str] = {
    "keys_dir": "keys",
    "gateway_keys_file": "gateway-keys.yaml",
    "bank_users_file": "bank-users.yaml",
    "dashboard_users_file": "dashboard-users.yaml",
}
# ... or a sentence (``{data_dir}`` is filled in).
UNSET_MEANS: dict[str, str] = {
    "sasl_username": "no SASL login (PLAINTEXT or mutual TLS)",
    "sasl_password": "no SASL password",
    "ssl_cafile": "the system's CA bundle",
    "ssl_certfile": "no client certificate",
    "ssl_keyfile": "no client private key",
    "database_url": "one SQLite file per store under {data_dir}",
    "communes_file": "the shipped sample schemas/reference/communes_sample_38.csv",
    "agencies_file": "the shipped schemas/reference/agencies.yaml",
    "rules_path": "the shipped processors/rules.yaml",
    "warninglist_path": "the shipped processors/warninglist.yaml",
    "report_addressee": "Ủy ban nhân dân tỉnh <the province's name>",
    "report_parent_body": "UBND tỉnh <the province's name>",
    "report_place": "the province's name",
    "identity_hmac_secret": "identity tokens are kept unhashed in processor state",
    "bank_webhook_url": "none (needed only with AGENCYBUS_BANK_SINK=webhook)",
    "session_secret": "generated once under {data_dir}",
    "platform_api_token": "generated once under {data_dir} (platform-api-token)",
}

# AGENCYBUS_* variables that are not settings of this object but are read elsewhere: the Kafka
# cluster's compose file (deploy/kafka/compose.yaml), the gateway examples' shell variable, and
# the test suite's own (AGENCYBUS_TEST_*, e.g. tests/kafka_cluster.py).
OTHER_VARIABLES = frozenset({"AGENCYBUS_KAFKA_HOST", "AGENCYBUS_KAFKA_CLUSTER_ID", "AGENCYBUS_KEY"})
TEST_PREFIX = f"{ENV_PREFIX}TEST_"


def variable_names() -> list[str]:
    return [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``AGENCYBUS_*`` variables that set nothing (a typo is silently ignored otherwise), each with
    the closest setting's name, if one is close."""
    known = variable_names()
    found = []
    for name in sorted(environ):
        if name.startswith(TEST_PREFIX) or name in OTHER_VARIABLES:
            continue
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            found.append((name, close[0] if close else None))
    return found


def unknown_variable_warnings(environ: Mapping[str, str]) -> list[str]:
    return [
        f"warning: {name} is not an AgencyBus setting and is ignored"
        + (f"; did you mean {close}?" if close else " (`agencybus config show` lists the settings)")
        for name, close in unknown_variables(environ)
    ]


_warned: set[str] = set()


def warn_unknown_variables() -> None:
    """Print the warnings above on stderr, each once per process (every verb loads the settings)."""
    for line in unknown_variable_warnings(os.environ):
        if line not in _warned:
            _warned.add(line)
            print(line, file=sys.stderr)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value raises SettingsError naming the variable."""
    warn_unknown_variables()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            var = f"{ENV_PREFIX}{field.split('.')[0].upper()}"
            reason = err["msg"].removeprefix("Value error, ")
            found = "" if "found" in reason else f" (found {err.get('input')!r})"
            problems.append(f"{var}: {reason}{found}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems)) from None

"""Typed, validated configuration.

Where the file comes from, first match wins: ``--config PATH`` > ``$LIQRISK_CONFIG`` >
``./liqrisk.toml`` > the packaged ``config/liqrisk.toml``. The exchange table is read from the file
named by ``exchanges_file`` beside the config file, or the packaged one when there is none; so is
the limit set, from ``limits_file`` (default ``limits.toml``; see :mod:`reporting.checks.limits`),
unless the config file has ``[limits]`` tables of its own.

Environment variables override the file (and are the only place secrets come from):
``LIQRISK_DATABASE_URL``, ``LIQRISK_REPORTS_DIR``, ``LIQRISK_KAIKO_BASE_URL``, ``KAIKO_API_KEY``,
``LIQRISK_BINANCE_BASE_URL``, ``LIQRISK_OKX_BASE_URL``, ``LIQRISK_BINANCE_WS_URL``,
``LIQRISK_BINANCE_COINM_WS_URL``, ``LIQRISK_BINANCE_COINM_BASE_URL``, ``LIQRISK_BYBIT_WS_URL``,
``LIQRISK_OKX_WS_URL``,
``LIQRISK_SMTP_HOST``, ``LIQRISK_SMTP_PORT``, ``LIQRISK_SMTP_SECURITY``, ``LIQRISK_SMTP_USER``,
``LIQRISK_SMTP_PASSWORD``. Webhook HMAC keys come from the variables that
``notify.webhooks.*.secret_env`` names, read only when a webhook is sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from audit_store.canonical import canonical_json
from reporting.checks.limits import INTRADAY_FORMS, scope_problems
from reporting.checks.limits import LimitSet as LimitSet
from reporting.checks.limits import Threshold as Threshold
from reporting.errors import ConfigError
from reporting.fetch.registry import FETCH_SOURCES, JOIN, source_problem
from reporting.fetch.sources.kaiko.format import interval_seconds
from reporting.fetch.streams.settings import Streams
from reporting.resources import config_dir, default_config_file

KAIKO_REGION_HOSTS = {
    "eu": "https://eu.market-api.kaiko.io",
    "us": "https://us.market-api.kaiko.io",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KaikoSource(_Strict):
    region: Literal["eu", "us"] = "eu"
    base_url: str | None = None  # overrides the region's host; so does $LIQRISK_KAIKO_BASE_URL
    page_size: int = Field(default=1000, ge=1, le=1000)  # the documented maximum: fewest requests
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)  # per request, on 429, 5xx, network errors
    backoff_seconds: float = Field(default=1.0, ge=0)  # first retry's ceiling; doubles each time
    backoff_max_seconds: float = Field(default=30.0, ge=0)
    retry_budget_seconds: float = Field(default=300.0, ge=0)  # all waiting for one request
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    prefetch: bool = True  # ask for the next page while the current one is being stored
    api_key: SecretStr | None = None  # only ever from $KAIKO_API_KEY
    # the API key over plain http:// to a host other than loopback is refused unless this is set
    allow_plain_http: bool = False

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or KAIKO_REGION_HOSTS[self.region]).rstrip("/")


class ExchangeApi(_Strict):
    """An exchange's public API (funding rates, open interest, OKX liquidation orders): no key."""

    base_url: str  # overridden by $LIQRISK_BINANCE_BASE_URL / $LIQRISK_OKX_BASE_URL
    quote: str = Field(default="USDT", pattern=r"^[A-Z]{2,6}$")  # perpetuals' quote: BTC-USDT-SWAP
    liquidation_quotes: tuple[str, ...] = ("USDT", "USD", "USDC")  # OKX swap families to count
    oi_period: Literal["5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"] = "1h"
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_max_seconds: float = Field(default=30.0, ge=0)
    retry_budget_seconds: float = Field(default=300.0, ge=0)
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    @property
    def effective_base_url(self) -> str:
        return self.base_url.rstrip("/")


class Quality(_Strict):
    """Data-quality checks (:mod:`reporting.checks.quality`)."""

    reconcile_tolerance_pct: float = Field(default=10.0, ge=0)  # Kaiko okex vs OKX, per day
    reconcile_min_usd: float = Field(default=100_000.0, ge=0)  # smaller days are not graded
    stale_after_hours: float = Field(default=3.0, gt=0)  # latest interval older than this: stale
    sum_tolerance_usd: float = Field(default=0.01, ge=0)  # parts vs totals


class FetchSettings(_Strict):
    # One source, or several in priority order (a list, kept as "streams+kaiko"): per asset,
    # exchange and day, the first listed that holds the exchange feeds its figures.
    default_source: str = "demo"
    assets: tuple[str, ...] = ("btc", "eth", "sol", "xrp", "doge")  # as the packaged liqrisk.toml
    interval: str = "1h"
    settle_seconds: int = Field(default=900, ge=0)  # an interval counts as closed this long after
    backfill_chunk_days: int = Field(default=7, ge=1, le=366)

    @field_validator("default_source", mode="before")
    @classmethod
    def _source(cls, value: object) -> object:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            if not value:
                raise ValueError("an empty list names no source")
            value = JOIN.join(value)
        if isinstance(value, str) and (why := source_problem(value)):
            raise ValueError(why)
        return value

    @field_validator("interval")
    @classmethod
    def _kaiko_interval(cls, value: str) -> str:
        interval_seconds(value)  # 1h to 1d, or ValueError saying why
        return value

    @field_validator("assets")
    @classmethod
    def _lower_assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one asset is needed")
        for asset in value:
            if not asset.isalnum():
                raise ValueError(f"asset code {asset!r} must be letters and digits only")
        return tuple(a.lower() for a in value)


Limits = (
    LimitSet  # the limit set, read from its own file (limits_file): see reporting.checks.limits
)


NoticeSeverity = Literal["breach", "warn"]


def _check_domains(
    addresses: tuple[str, ...], allowed: tuple[str, ...] | None, where: str = ""
) -> None:
    """Refuse an address outside ``allowed`` (``None``: that key failed validation already)."""
    if allowed is None or not addresses:
        return
    if not allowed:
        raise ValueError(f"{where}list the recipients' domains in email.allowed_domains")
    for address in addresses:
        domain = address.rsplit("@", 1)[-1].lower()
        if domain not in allowed:
            raise ValueError(
                f"{where}{address} is outside email.allowed_domains ({', '.join(allowed)})"
            )


class Route(_Strict):
    """Who hears of a breach: every route whose severity and asset match adds its ``to``."""

    severity: tuple[NoticeSeverity, ...] = ("breach",)
    assets: tuple[str, ...] = ()  # asset codes ("BTC"); empty: every asset
    to: tuple[EmailStr, ...]

    @field_validator("assets")
    @classmethod
    def _upper_assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for asset in value:
            if not asset.isalnum():
                raise ValueError(f"asset code {asset!r} must be letters and digits only")
        return tuple(a.upper() for a in value)

    def matches(self, severity: str, asset: str) -> bool:
        return severity in self.severity and (not self.assets or asset.upper() in self.assets)


class Email(_Strict):
    """Senders and recipients. Every recipient's domain must be in ``allowed_domains``."""

    sender: EmailStr = "liqrisk@example.com"
    allowed_domains: tuple[str, ...] = ()  # exact domains, case-insensitive
    compliance: tuple[EmailStr, ...] = ()  # the daily report
    risk: tuple[EmailStr, ...] = ()  # breach notices when no routes are configured
    operations: tuple[EmailStr, ...] = ()  # told when a message cannot be delivered
    routes: tuple[Route, ...] = ()  # breach notices by severity and asset

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for domain in value:
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
                raise ValueError(f"{domain!r} is not a domain name")
        return tuple(d.lower() for d in value)

    @field_validator("compliance", "risk", "operations")
    @classmethod
    def _allowed(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        _check_domains(value, info.data.get("allowed_domains"))
        return value

    @field_validator("routes")
    @classmethod
    def _routes_allowed(cls, value: tuple[Route, ...], info: ValidationInfo) -> tuple[Route, ...]:
        for n, route in enumerate(value):
            _check_domains(route.to, info.data.get("allowed_domains"), f"routes[{n}].to: ")
        return value

    def breach_routes(self) -> tuple[Route, ...]:
        """The configured routes; without any, breaches go to ``risk`` and ``compliance``."""
        if self.routes:
            return self.routes
        to = tuple(dict.fromkeys((*self.risk, *self.compliance)))
        return (Route(to=to),) if to else ()


class Smtp(_Strict):
    host: str | None = None  # none: messages are written as .eml files to <reports_dir>/outbox/
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (port 465)
    user: str | None = None  # login only when set
    password: SecretStr | None = None  # only ever from $LIQRISK_SMTP_PASSWORD
    timeout_seconds: float = Field(default=30.0, gt=0)


class Webhook(_Strict):
    """A URL that receives each breach group as JSON, signed with HMAC-SHA256."""

    url: str
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")  # the variable holding the HMAC key
    severity: tuple[NoticeSeverity, ...] = ("breach",)
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
            raise ValueError("must be an http:// or https:// URL")
        return value


WebhookName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


def _parse_interval(value: Any) -> Any:
    """``"24h"``, ``"2d"`` or a number of hours; anything else goes to pydantic as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(hours=value)
    if isinstance(value, str):
        found = re.fullmatch(r"\s*(\d+)\s*([hd])\s*", value)
        if found:
            n = int(found.group(1))
            return timedelta(hours=n) if found.group(2) == "h" else timedelta(days=n)
        raise ValueError("must look like 24h or 2d")
    return value


class Notify(_Strict):
    """How notices are repeated and delivered."""

    # An ongoing breach is announced again once this much time separates its days (the checks run
    # per UTC day, so this is a whole number of days: 24h repeats daily, 48h every other day).
    repeat_interval: Annotated[timedelta, BeforeValidator(_parse_interval)] = timedelta(hours=24)
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=30.0, gt=0)  # doubled after every failed attempt
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    drain_wait_seconds: float = Field(default=120.0, ge=0)  # `liqrisk daily` retries this long
    lease_seconds: float = Field(default=600.0, gt=0)  # a sender's claim on a message
    # Intraday alerts: the first goes at once; those that follow within this many seconds on the
    # same route (or webhook) wait and go together as one message when it has passed. 0: each alone.
    intraday_group_seconds: float = Field(default=30.0, ge=0, le=3600)
    webhooks: dict[WebhookName, Webhook] = Field(default_factory=dict)

    @field_validator("repeat_interval")
    @classmethod
    def _whole_days(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value % timedelta(days=1):
            raise ValueError("must be a whole number of days (24h, 48h, 7d)")
        return value


class Audit(_Strict):
    """The evidence log: who signs its checkpoints, with which key, and who is trusted."""

    origin: str = Field(default="liqrisk.example/audit-log", pattern=r"^[^\s+]+$")
    # The Ed25519 signing key: $LIQRISK_SIGNING_KEY (the key text) wins; else this file, made by
    # `liqrisk init` (mode 0600). Keep it outside the repository and outside the database.
    signing_key_file: Path = Path("~/.config/liqrisk/signing.key")
    # Verifier keys a regulator or auditor pins; empty: each checkpoint's own stored key.
    trusted_keys: tuple[str, ...] = ()
    retention_days: int = Field(default=1826, ge=1, le=2557)  # raw bodies; the log is never pruned


class Anchor(_Strict):
    """RFC 3161: an outside Time-Stamping Authority stamps each signed checkpoint's note, so the
    firm cannot backdate its log. Off unless ``tsa_url`` is set; a TSA that is down or refuses
    never holds up a report: the checkpoint waits for its token and is asked for again."""

    tsa_url: str | None = None  # RFC 3161 over HTTP(S), application/timestamp-query
    tsa_ca_file: Path | None = None  # PEM: the CA(s) the TSA's certificate must chain to
    tsa_cert_file: Path | None = None  # PEM: the TSA's own certificate, pinned (optional)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    retry_seconds: int = Field(default=300, ge=1, le=86_400)  # a failed request, asked again after
    max_skew_seconds: int = Field(default=120, ge=0, le=3600)  # TSA clock vs the firm's, in verify
    # Witnesses (c2sp.org/tlog-cosignature): their keys, name+keyid+base64(0x04 || key), whose
    # cosignatures `liqrisk witness FILE` accepts, and how many `liqrisk verify` requires.
    witnesses: tuple[str, ...] = ()
    witness_threshold: int = Field(default=0, ge=0)

    @field_validator("witnesses")
    @classmethod
    def _witness_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from audit_store import standalone_verify as sv

        for key in value:
            try:
                sv.parse_witness_key(key)
            except sv.CheckFailed as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("tsa_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parsed.username or parsed.password:
            raise ValueError("must not carry a user name or password")
        return value

    @model_validator(mode="after")
    def _trust_given(self) -> Anchor:
        if self.tsa_url is not None and self.tsa_ca_file is None:
            raise ValueError("tsa_url needs tsa_ca_file: a token is only kept once it verifies")
        if self.witness_threshold > len(self.witnesses):
            raise ValueError("witness_threshold exceeds the number of witnesses")
        return self


class Web(_Strict):
    """``liqrisk serve``, the officer console: its session key, session lifetimes, packages."""

    # The key that signs session cookies: $LIQRISK_SESSION_KEY wins; else this file, made on the
    # first `serve` (mode 0600). Keep it outside the repository.
    session_key_file: Path = Path("~/.config/liqrisk/session.key")
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)  # a session unused this long ends
    absolute_hours: int = Field(default=12, ge=1, le=7 * 24)  # and every session after this
    # Where the console writes the audit packages an admin makes; default <reports_dir>/exports.
    exports_dir: Path | None = None
    # The console's address as officers reach it (behind the TLS proxy), for the links in alert
    # emails: "https://liqrisk.example.com". None: messages carry no links.
    base_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http:// or https:// URL with no query")
        return value.rstrip("/") if value else value


class JobTrigger(_Strict):
    """When one of the daemon's jobs fires: a crontab line (in ``schedule.timezone``) or an
    interval in seconds (counted from 2000-01-01 UTC, so every process fires at the same times)."""

    enabled: bool = True
    # "minute hour day month day_of_week" as APScheduler 3 reads it: name weekdays (mon-sun), since
    # its numbers start at 0 = Monday, not Sunday as in crontab(5).
    cron: str | None = None
    every_seconds: int | None = Field(default=None, ge=1, le=31 * 86_400)

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(
                    f"not a crontab line (minute hour day month weekday): {exc}"
                ) from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> JobTrigger:
        if self.cron is not None and self.every_seconds is not None:
            raise ValueError("give cron or every_seconds, not both")
        if self.enabled and self.cron is None and self.every_seconds is None:
            raise ValueError("give cron or every_seconds (or enabled = false)")
        return self


class Schedule(_Strict):
    """``liqrisk run``: the daemon's jobs, and how it makes each period happen exactly once."""

    timezone: str = "UTC"  # IANA name the cron lines are read in
    fetch: JobTrigger = JobTrigger(cron="5 * * * *")  # closed intervals since the watermarks
    daily: JobTrigger = JobTrigger(cron="30 0 * * *")  # check, report, notify: the previous UTC day
    drain: JobTrigger = JobTrigger(every_seconds=60)  # deliver what waits in the outbox
    checkpoint: JobTrigger = JobTrigger(cron="45 0 * * *")  # sign and publish the day's checkpoint
    checkpoint_dir: Path | None = None  # where it is published; default <reports_dir>/checkpoint
    sources: tuple[str, ...] = ()  # what the fetch job fetches; empty: the daily job's sources
    catchup_days: int = Field(default=7, ge=1, le=366)  # days back to look for missing reports
    working_timeout_seconds: float = Field(default=900.0, ge=1)  # silent claims are taken over
    misfire_grace_seconds: int = Field(default=600, ge=1)  # a fire this late still runs
    max_attempts: int = Field(default=3, ge=1, le=100)  # failed runs of a period, then given up
    workers: int = Field(default=4, ge=1, le=32)  # jobs running at once in one daemon
    instance: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,40}$")  # "": the host name

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone name (UTC, Europe/London, ...)") from None
        return value

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for source in value:
            if source not in FETCH_SOURCES:
                raise ValueError(
                    f"unknown source {source!r}; choose from {', '.join(FETCH_SOURCES)}"
                )
        return value


class Exchange(_Strict):
    name: str
    jurisdiction: str


class Settings(_Strict):
    firm_name: str = "Example Derivatives Ltd"
    database_url: str = "sqlite:///liqrisk.db"
    reports_dir: Path = Path("reports")
    exchanges_file: str = "exchanges.toml"
    limits_file: str = "limits.toml"  # beside this file, else the packaged one; or inline [limits]
    audit: Audit = Audit()
    anchor: Anchor = Anchor()
    web: Web = Web()
    fetch: FetchSettings = FetchSettings()
    kaiko: KaikoSource = KaikoSource()
    binance: ExchangeApi = ExchangeApi(base_url="https://fapi.binance.com")
    okx: ExchangeApi = ExchangeApi(base_url="https://www.okx.com")
    quality: Quality = Quality()
    streams: Streams = Streams()
    limits: LimitSet  # from limits_file, or this file's own [limits] tables
    email: Email = Email()
    smtp: Smtp = Smtp()
    notify: Notify = Notify()
    schedule: Schedule = Schedule()
    exchanges: dict[str, Exchange] = Field(default_factory=dict)
    config_file: Path | None = None  # where this came from, for messages

    def config_hash(self) -> str:
        """SHA-256 of the effective configuration, secrets and local paths left out."""
        data = self.model_dump(
            mode="json",
            exclude={
                "config_file": True,
                "database_url": True,
                "reports_dir": True,
                "kaiko": {"api_key", "allow_plain_http"},  # transport policy, not figures
                "smtp": {"password", "user", "host", "port"},
                "audit": {"signing_key_file"},
                "anchor": True,  # where checkpoints are time-stamped, not what a figure is
                "web": True,  # the console's sessions
                "schedule": True,  # when things run, not what they compute
                "streams": True,  # what is collected, not how a stored figure is computed
            },
        )
        return hashlib.sha256(canonical_json(data)).hexdigest()

    def exchange_name(self, code: str) -> str:
        known = self.exchanges.get(code)
        return known.name if known else code

    def jurisdiction(self, code: str) -> str:
        known = self.exchanges.get(code)
        return known.jurisdiction if known else "unknown"


ENV_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "LIQRISK_DATABASE_URL": ("database_url",),
    "LIQRISK_REPORTS_DIR": ("reports_dir",),
    "LIQRISK_KAIKO_BASE_URL": ("kaiko", "base_url"),
    "KAIKO_API_KEY": ("kaiko", "api_key"),
    "LIQRISK_BINANCE_BASE_URL": ("binance", "base_url"),
    "LIQRISK_OKX_BASE_URL": ("okx", "base_url"),
    "LIQRISK_BINANCE_WS_URL": ("streams", "binance_url"),
    "LIQRISK_BINANCE_COINM_WS_URL": ("streams", "binance_coinm_url"),
    "LIQRISK_BINANCE_COINM_BASE_URL": ("streams", "binance_coinm_rest_url"),
    "LIQRISK_BYBIT_WS_URL": ("streams", "bybit_url"),
    "LIQRISK_OKX_WS_URL": ("streams", "okx_url"),
    "LIQRISK_SMTP_HOST": ("smtp", "host"),
    "LIQRISK_SMTP_PORT": ("smtp", "port"),
    "LIQRISK_SMTP_SECURITY": ("smtp", "security"),
    "LIQRISK_SMTP_USER": ("smtp", "user"),
    "LIQRISK_SMTP_PASSWORD": ("smtp", "password"),
    "LIQRISK_SIGNING_KEY_FILE": ("audit", "signing_key_file"),
    "LIQRISK_TSA_URL": ("anchor", "tsa_url"),
    "LIQRISK_TSA_CA_FILE": ("anchor", "tsa_ca_file"),
    "LIQRISK_TSA_CERT_FILE": ("anchor", "tsa_cert_file"),
}
SECRET_ENV = frozenset({"KAIKO_API_KEY", "LIQRISK_SMTP_PASSWORD"})


def resolve_config_path(explicit: Path | None, env: Mapping[str, str]) -> Path:
    if explicit is not None:
        return explicit
    if env.get("LIQRISK_CONFIG"):
        return Path(env["LIQRISK_CONFIG"])
    local = Path("liqrisk.toml")
    if local.is_file():
        return local
    return default_config_file()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def _exchanges_path(config_path: Path, name: str) -> Path:
    beside = (config_path.parent / name).resolve()
    return beside if beside.is_file() else config_dir() / "exchanges.toml"


def load_settings(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load, merge the environment into, and validate the configuration."""
    env = os.environ if env is None else env
    path = resolve_config_path(explicit, env)
    raw = _read_toml(path)
    data: dict[str, Any] = dict(raw)
    sources: dict[str, str] = {}  # top key -> where its value came from, for messages

    exchanges_file = str(raw.get("exchanges_file", "exchanges.toml"))
    if "exchanges" not in raw:
        ex_path = _exchanges_path(path, exchanges_file)
        data["exchanges"] = _read_toml(ex_path).get("exchanges", {})
        sources["exchanges"] = str(ex_path)

    for var, keys in ENV_OVERRIDES.items():
        value = env.get(var)
        if value is None or value == "":
            continue
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{path}: key {'.'.join(keys[:-1])} must be a table")
        target[keys[-1]] = value
        sources[".".join(keys)] = f"${var}"
    data["config_file"] = str(path)

    if "limits" in raw:  # inline [limits] tables: the limit set of this file, not limits_file
        if "limits_file" in raw:
            raise ConfigError(f"{path}: keys limits and limits_file: give one, not both")
        limits_path = path
    else:
        limits_path = _limits_path(path, raw.get("limits_file"))
        data["limits"] = load_limits(limits_path)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(path, exc, sources)) from None
    if limits_path == path:
        settings.limits.from_file(f"{path} [limits]")
    check_limit_scopes(settings, settings.limits, limits_path)
    return settings


def _limits_path(config_path: Path, name: Any) -> Path:
    """``limits_file`` beside the config; the packaged file when the default name is absent."""
    if name is None:
        beside = (config_path.parent / "limits.toml").resolve()
        return beside if beside.is_file() else config_dir() / "limits.toml"
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{config_path}: key limits_file = {name!r}: must be a file name")
    named = (config_path.parent / name).resolve()
    if not named.is_file():
        raise ConfigError(f"{config_path}: key limits_file = {name!r}: no such file {named}")
    return named


def load_limits(path: Path) -> LimitSet:
    """Read and validate a limit set file; errors name the file, the key and the value."""
    raw = _read_toml(path)
    try:
        return LimitSet.model_validate(raw).from_file(str(path))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in _limit_key(err["loc"]))
            value = err.get("input")
            shown = "" if isinstance(value, dict | list) else f" = {value!r}"
            if err["type"] == "missing":
                problems.append(f"{path}: key {key} is required")
            elif err["type"] == "extra_forbidden":
                problems.append(f"{path}: unknown key {key}{shown}{_unknown_key_hint(key)}")
            else:
                problems.append(f"{path}: key {key}{shown}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None


def _limit_key(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The key as the file spells it: an intraday table (``velocity_usd_15m``) is a table of its
    own there, and its window is its name."""
    if loc[:1] == ("intraday",):
        loc = loc[1:]
        if loc[1:] == ("window",):
            loc = loc[:1]
    return loc


def _unknown_key_hint(key: str) -> str:
    parts = key.split(".")
    if len(parts) == 2 and parts[1] in ("exchange", "jurisdiction", "asset_exchange"):
        return f" ({parts[0]} is checked per asset; those scopes apply to per-exchange checks)"
    if len(parts) == 1:
        known = ", ".join(n for n in LimitSet.model_fields if n != "intraday")
        return f" (the checks are: {known}; intraday: {INTRADAY_FORMS})"
    return ""


def check_limit_scopes(settings: Settings, limits: LimitSet, path: Path) -> list[str]:
    """Refuse override keys naming an exchange or jurisdiction the exchange table does not know;
    return the warnings (assets not fetched now), each naming file, key and value."""
    jurisdictions = {code: ex.jurisdiction for code, ex in settings.exchanges.items()}
    found = scope_problems(limits, settings.fetch.assets, jurisdictions)
    errors = [f"{path}: key {k} = {v!r}: {why}" for sev, k, v, why in found if sev == "error"]
    if errors:
        raise ConfigError("; ".join(errors))
    return [f"{path}: key {k} = {v!r}: {why}" for sev, k, v, why in found if sev != "error"]


def _describe_validation(path: Path, exc: ValidationError, sources: Mapping[str, str]) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        origin = next(
            (src for k, src in sources.items() if key == k or key.startswith(k + ".")), str(path)
        )
        secret = origin.lstrip("$") in SECRET_ENV
        value = "<secret>" if secret else repr(err.get("input"))
        if err["type"] == "missing":
            problems.append(f"{origin}: key {key} is required")
        elif err["type"] == "extra_forbidden":
            problems.append(f"{origin}: unknown key {key}")
        else:
            problems.append(f"{origin}: key {key} = {value}: {err['msg']}")
    return "; ".join(problems)

"""Typed, validated configuration.

Where the file comes from, first match wins: ``--config PATH`` > ``$LIQRISK_CONFIG`` >
``./liqrisk.toml`` > the packaged ``config/liqrisk.toml``. The exchange table is read from the file
named by ``exchanges_file`` beside the config file, or the packaged one when there is none.

Environment variables override the file (and are the only place secrets come from):
``LIQRISK_DATABASE_URL``, ``LIQRISK_REPORTS_DIR``, ``LIQRISK_KAIKO_BASE_URL``, ``KAIKO_API_KEY``,
``LIQRISK_BINANCE_BASE_URL``, ``LIQRISK_OKX_BASE_URL``,
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
from reporting.errors import ConfigError
from reporting.resources import config_dir, default_config_file

KAIKO_REGION_HOSTS = {
    "eu": "https://eu.market-api.kaiko.io",
    "us": "https://us.market-api.kaiko.io",
}

PositiveMoney = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KaikoSource(_Strict):
    region: Literal["eu", "us"] = "eu"
    base_url: str | None = None  # overrides the region's host; so does $LIQRISK_KAIKO_BASE_URL
    page_size: int = Field(default=100, ge=1, le=1000)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)  # per request, on 429, 5xx, network errors
    backoff_seconds: float = Field(default=1.0, ge=0)  # first retry's ceiling; doubles each time
    backoff_max_seconds: float = Field(default=30.0, ge=0)
    retry_budget_seconds: float = Field(default=300.0, ge=0)  # all waiting for one request
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    api_key: SecretStr | None = None  # only ever from $KAIKO_API_KEY

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
    """Data-quality checks (:mod:`reporting.quality`)."""

    reconcile_tolerance_pct: float = Field(default=10.0, ge=0)  # Kaiko okex vs OKX, per day
    reconcile_min_usd: float = Field(default=100_000.0, ge=0)  # smaller days are not graded
    stale_after_hours: float = Field(default=3.0, gt=0)  # latest interval older than this: stale
    sum_tolerance_usd: float = Field(default=0.01, ge=0)  # parts vs totals


class FetchSettings(_Strict):
    default_source: Literal["demo", "kaiko"] = "demo"
    assets: tuple[str, ...] = ("btc", "eth", "sol", "xrp")
    interval: str = "1h"
    settle_seconds: int = Field(default=900, ge=0)  # an interval counts as closed this long after
    backfill_chunk_days: int = Field(default=7, ge=1, le=366)

    @field_validator("interval")
    @classmethod
    def _kaiko_interval(cls, value: str) -> str:
        from reporting.sources.kaiko_format import interval_seconds

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


class Threshold(_Strict):
    warn: PositiveMoney
    breach: PositiveMoney

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.warn > self.breach:
            raise ValueError(f"warn ({self.warn}) must not exceed breach ({self.breach})")
        return self


class ScopedThreshold(Threshold):
    """A default threshold with per-scope overrides (an asset code, or ``ASSET/exchange``)."""

    overrides: dict[str, Threshold] = Field(default_factory=dict)

    def for_scope(self, scope: str) -> Threshold:
        return self.overrides.get(scope, Threshold(warn=self.warn, breach=self.breach))


class Limits(_Strict):
    daily_usd: ScopedThreshold  # per asset, all exchanges, UTC day
    daily_usd_exchange: ScopedThreshold  # per asset x exchange, UTC day
    velocity_usd: ScopedThreshold  # per asset, largest single hour of the day


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


class Exchange(_Strict):
    name: str
    jurisdiction: str


class Settings(_Strict):
    firm_name: str = "Example Derivatives Ltd"
    database_url: str = "sqlite:///liqrisk.db"
    reports_dir: Path = Path("reports")
    exchanges_file: str = "exchanges.toml"
    audit: Audit = Audit()
    fetch: FetchSettings = FetchSettings()
    kaiko: KaikoSource = KaikoSource()
    binance: ExchangeApi = ExchangeApi(base_url="https://fapi.binance.com")
    okx: ExchangeApi = ExchangeApi(base_url="https://www.okx.com")
    quality: Quality = Quality()
    limits: Limits
    email: Email = Email()
    smtp: Smtp = Smtp()
    notify: Notify = Notify()
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
                "kaiko": {"api_key"},
                "smtp": {"password", "user", "host", "port"},
                "audit": {"signing_key_file"},
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
    "LIQRISK_SMTP_HOST": ("smtp", "host"),
    "LIQRISK_SMTP_PORT": ("smtp", "port"),
    "LIQRISK_SMTP_SECURITY": ("smtp", "security"),
    "LIQRISK_SMTP_USER": ("smtp", "user"),
    "LIQRISK_SMTP_PASSWORD": ("smtp", "password"),
    "LIQRISK_SIGNING_KEY_FILE": ("audit", "signing_key_file"),
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

    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(path, exc, sources)) from None


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

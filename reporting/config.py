"""Typed, validated configuration.

Where the file comes from, first match wins: ``--config PATH`` > ``$LIQRISK_CONFIG`` >
``./liqrisk.toml`` > the packaged ``config/liqrisk.toml``. The exchange table is read from the file
named by ``exchanges_file`` beside the config file, or the packaged one when there is none.

Environment variables override the file (and are the only place secrets come from):
``LIQRISK_DATABASE_URL``, ``LIQRISK_REPORTS_DIR``, ``LIQRISK_KAIKO_BASE_URL``, ``KAIKO_API_KEY``,
``LIQRISK_SMTP_HOST``, ``LIQRISK_SMTP_PORT``, ``LIQRISK_SMTP_USER``, ``LIQRISK_SMTP_PASSWORD``.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    ValidationError,
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


class FetchSettings(_Strict):
    default_source: Literal["demo", "kaiko"] = "demo"
    assets: tuple[str, ...] = ("btc", "eth", "sol", "xrp")
    interval: str = "1h"

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


class Email(_Strict):
    sender: EmailStr = "liqrisk@example.com"
    compliance: tuple[EmailStr, ...] = ()
    risk: tuple[EmailStr, ...] = ()


class Smtp(_Strict):
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None


class Exchange(_Strict):
    name: str
    jurisdiction: str


class Settings(_Strict):
    firm_name: str = "Example Derivatives Ltd"
    database_url: str = "sqlite:///liqrisk.db"
    reports_dir: Path = Path("reports")
    exchanges_file: str = "exchanges.toml"
    fetch: FetchSettings = FetchSettings()
    kaiko: KaikoSource = KaikoSource()
    limits: Limits
    email: Email = Email()
    smtp: Smtp = Smtp()
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
    "LIQRISK_SMTP_HOST": ("smtp", "host"),
    "LIQRISK_SMTP_PORT": ("smtp", "port"),
    "LIQRISK_SMTP_USER": ("smtp", "user"),
    "LIQRISK_SMTP_PASSWORD": ("smtp", "password"),
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

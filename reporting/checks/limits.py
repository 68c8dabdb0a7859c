"""The limit set: what ``config/limits.toml`` holds, typed, validated, and resolved per scope.

One table per check, named as the check (``[daily_usd]``, ``[velocity_usd_exchange]``, ...); a
check whose table is absent is not run. In a table, ``warn`` and ``breach`` are the global values,
and override tables give a scope its own::

    [velocity_usd_exchange]
    asset_exchange."BTC/binc" = { warn = 20_000_000, breach = 40_000_000 }

Scopes, and which value applies (a scope's own value overrides the wider one):

1. ``asset_exchange."BTC/binc"``: that asset on that exchange;
2. ``asset.BTC`` and ``exchange.binc``: one dimension each; when both match and neither is
   narrower, the stricter of the two applies (lower ``breach``, then lower ``warn``);
3. ``jurisdiction.SC``: every exchange whose jurisdiction (``exchanges.toml``) has that ISO code;
4. the table's own ``warn``/``breach``: global.

The first layout, ``overrides = {BTC = ..., "BTC/binc" = ...}`` in a check's table, is still read
(an asset code is an ``asset`` override, ``ASSET/exchange`` an ``asset_exchange`` one).

Checks per asset (result scope ``BTC``) take ``asset`` overrides only; checks per asset and exchange
(result scope ``BTC/binc``) take all four. A scope that no value reaches is not checked: a table
with only ``asset_exchange."BTC/binc"`` checks BTC on Binance and nothing else. A status is
``breach`` when the observed value is at or above ``breach``, ``warn`` at or above ``warn``.

This module knows nothing of files; :func:`reporting.config.load_limits` reads and validates one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
"""A limit value: a number (an integer reads as one), never a boolean or a string."""
_ASSET = re.compile(r"^[A-Za-z0-9]+$")
_EXCHANGE = re.compile(r"^[A-Za-z0-9_.-]+$")
_JURISDICTION = re.compile(r"^[A-Z]{2}$")
_INTRADAY_NAME = re.compile(
    r"^(?:velocity_(?P<velocity>usd|count)|(?P<imbalance>imbalance)|(?P<exposure>exposure)_usd)"
    r"_(?P<window>[0-9][0-9A-Za-z]*|day)$"
)
INTRADAY_FORMS = (
    "velocity_usd_<window>, velocity_count_<window>, imbalance_<window>, exposure_usd_day"
)
"""The intraday tables' names, for messages (a window is 1m to 24h, written as <n>m or <n>h)."""
_WINDOW = re.compile(r"^([1-9][0-9]*)(m|h)$")
MAX_WINDOW_MINUTES = 24 * 60
_WRITTEN = "_written_in_file"  # an intraday table's own measure or window keys, to refuse


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    warn: NonNegative
    breach: NonNegative

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.warn > self.breach:
            raise ValueError(f"warn ({self.warn:g}) must not exceed breach ({self.breach:g})")
        return self

    def stricter(self, other: Threshold) -> bool:
        return (self.breach, self.warn) < (other.breach, other.warn)


@dataclass(frozen=True)
class Resolved:
    """The threshold that applies to one scope, and the configured scope it came from."""

    threshold: Threshold
    source: str  # "asset_exchange BTC/binc", "asset BTC", "exchange binc", "jurisdiction SC", ...


def _upper_assets(value: dict[str, Threshold]) -> dict[str, Threshold]:
    out: dict[str, Threshold] = {}
    for key, threshold in value.items():
        if not _ASSET.match(key):
            raise ValueError(f"asset code {key!r} must be letters and digits only")
        out[key.upper()] = threshold
    return out


class AssetLimits(_Strict):
    """Limits of a check made per asset: a global value and per-asset overrides."""

    bounds: ClassVar[tuple[float, float | None]] = (0.0, None)
    unit_hint: ClassVar[str] = ""

    warn: NonNegative | None = None
    breach: NonNegative | None = None
    asset: dict[str, Threshold] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _earlier_spelling(cls, data: Any) -> Any:
        """``overrides = {BTC = ..., "BTC/binc" = ...}``, the first layout, is still read."""
        if not isinstance(data, dict) or "overrides" not in data:
            return data
        out = {k: v for k, v in data.items() if k != "overrides"}
        overrides = data["overrides"]
        if not isinstance(overrides, dict):
            return data  # let validation name the key
        for key, value in overrides.items():
            kind = "asset_exchange" if "/" in str(key) else "asset"
            table = dict(out.get(kind) or {})
            table[key] = value
            out[kind] = table
        return out

    @field_validator("asset")
    @classmethod
    def _assets(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        return _upper_assets(value)

    @model_validator(mode="after")
    def _consistent(self) -> AssetLimits:
        if (self.warn is None) != (self.breach is None):
            raise ValueError("give both warn and breach for the global value, or neither")
        if self.warn is not None and self.breach is not None and self.warn > self.breach:
            raise ValueError(f"warn ({self.warn:g}) must not exceed breach ({self.breach:g})")
        low, high = self.bounds
        for key, threshold in self.thresholds():
            for name, value in (("warn", threshold.warn), ("breach", threshold.breach)):
                where = f"{key}.{name}" if key else name
                if value < low or (high is not None and value > high):
                    span = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
                    raise ValueError(f"{where} = {value:g}: must be {span}{self.unit_hint}")
        return self

    def global_threshold(self) -> Threshold | None:
        if self.warn is None or self.breach is None:
            return None
        return Threshold(warn=self.warn, breach=self.breach)

    def thresholds(self) -> Iterator[tuple[str, Threshold]]:
        """Every configured value with its key ("" for the global one)."""
        top = self.global_threshold()
        if top is not None:
            yield "", top
        for kind, table in self.override_tables().items():
            for key, threshold in table.items():
                yield f"{kind}.{key}", threshold

    def override_tables(self) -> dict[str, dict[str, Threshold]]:
        return {"asset": self.asset}

    def resolve(
        self, asset: str, exchange: str | None = None, jurisdiction: str | None = None
    ) -> Resolved | None:
        """The threshold for ``asset`` (per-asset checks ignore exchange and jurisdiction)."""
        own = self.asset.get(asset.upper())
        if own is not None:
            return Resolved(own, f"asset {asset.upper()}")
        top = self.global_threshold()
        return Resolved(top, "global") if top is not None else None

    def named_scopes(self, asset: str) -> tuple[str, ...]:
        """Exchanges this table names explicitly for ``asset`` (checked even when quiet)."""
        return ()


class ShareLimits(AssetLimits):
    """A share in percent, graded only when the day's USD reaches ``min_usd`` (materiality)."""

    bounds: ClassVar[tuple[float, float | None]] = (0.0, 100.0)
    unit_hint: ClassVar[str] = " (percent)"

    min_usd: NonNegative = 0.0


class ImbalanceLimits(ShareLimits):
    """The dominant side's share of USD: 50% is balanced, so thresholds lie in 50..100."""

    bounds: ClassVar[tuple[float, float | None]] = (50.0, 100.0)
    unit_hint: ClassVar[str] = " (percent of USD on the dominant side)"


class ReconciliationLimits(AssetLimits):
    """Difference in percent between the day's USD from this source and from ``against``."""

    bounds: ClassVar[tuple[float, float | None]] = (0.0, None)

    against: str | None = None  # the second source's name ("kaiko", ...); none: not computable


class ExchangeLimits(AssetLimits):
    """Limits of a check made per asset and exchange: every scope kind applies."""

    exchange: dict[str, Threshold] = Field(default_factory=dict)
    jurisdiction: dict[str, Threshold] = Field(default_factory=dict)
    asset_exchange: dict[str, Threshold] = Field(default_factory=dict)

    @field_validator("exchange")
    @classmethod
    def _exchanges(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        for key in value:
            if not _EXCHANGE.match(key):
                raise ValueError(f"exchange code {key!r}: letters, digits, '_', '.', '-' only")
        return value

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdictions(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        for key in value:
            if not _JURISDICTION.match(key):
                raise ValueError(f"jurisdiction {key!r} must be an ISO 3166 code such as 'SC'")
        return value

    @field_validator("asset_exchange")
    @classmethod
    def _pairs(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        out: dict[str, Threshold] = {}
        for key, threshold in value.items():
            asset, sep, exchange = key.partition("/")
            if not sep or not _ASSET.match(asset) or not _EXCHANGE.match(exchange):
                raise ValueError(f"{key!r} must be ASSET/exchange, such as 'BTC/binc'")
            out[f"{asset.upper()}/{exchange}"] = threshold
        return out

    def override_tables(self) -> dict[str, dict[str, Threshold]]:
        return {
            "asset": self.asset,
            "exchange": self.exchange,
            "jurisdiction": self.jurisdiction,
            "asset_exchange": self.asset_exchange,
        }

    def resolve(
        self, asset: str, exchange: str | None = None, jurisdiction: str | None = None
    ) -> Resolved | None:
        asset = asset.upper()
        if exchange is not None:
            pair = self.asset_exchange.get(f"{asset}/{exchange}")
            if pair is not None:
                return Resolved(pair, f"asset_exchange {asset}/{exchange}")
        by_asset = self.asset.get(asset)
        by_exchange = self.exchange.get(exchange) if exchange is not None else None
        if by_asset is not None and by_exchange is not None:
            if by_exchange.stricter(by_asset):
                return Resolved(by_exchange, f"exchange {exchange} (stricter than asset {asset})")
            return Resolved(by_asset, f"asset {asset} (at least as strict as exchange {exchange})")
        if by_asset is not None:
            return Resolved(by_asset, f"asset {asset}")
        if by_exchange is not None:
            return Resolved(by_exchange, f"exchange {exchange}")
        if jurisdiction is not None and jurisdiction in self.jurisdiction:
            return Resolved(self.jurisdiction[jurisdiction], f"jurisdiction {jurisdiction}")
        top = self.global_threshold()
        return Resolved(top, "global") if top is not None else None

    def named_scopes(self, asset: str) -> tuple[str, ...]:
        prefix = f"{asset.upper()}/"
        return tuple(sorted(k[len(prefix) :] for k in self.asset_exchange if k.startswith(prefix)))


class ExchangeShareLimits(ExchangeLimits):
    """An exchange's share of an asset's USD, in percent; graded from ``min_usd`` of the asset."""

    bounds: ClassVar[tuple[float, float | None]] = (0.0, 100.0)
    unit_hint: ClassVar[str] = " (percent)"

    min_usd: NonNegative = 0.0


def window_minutes(window: str) -> int:
    """``"15m"`` -> 15, ``"4h"`` -> 240; a window outside 1m..24h, or written otherwise, raises
    :class:`ValueError`."""
    found = _WINDOW.match(window)
    minutes = int(found.group(1)) * (60 if found.group(2) == "h" else 1) if found else 0
    if not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise ValueError(
            f"window {window!r}: must be 1m to 24h, written as <n>m or <n>h (5m, 15m, 4h)"
        )
    return minutes


def intraday_name(name: str) -> tuple[str, str] | None:
    """The measure and window a table's name gives, ``None`` for a name of another form:
    ``"velocity_usd_15m"`` -> ``("usd", "15m")``, ``"velocity_count_5m"`` -> ``("count", "5m")``,
    ``"imbalance_60m"`` -> ``("imbalance", "60m")``, ``"exposure_usd_day"`` -> ``("exposure",
    "day")``. The window is checked by the table's model (``exposure_usd_15m`` is an error)."""
    found = _INTRADAY_NAME.match(name)
    if not found:
        return None
    measure = found.group("velocity") or found.group("imbalance") or found.group("exposure")
    return measure, found.group("window")


class Hysteresis(_Strict):
    """When an intraday episode is over: the window's value stayed under ``resolve_below_pct`` of
    the warn level for ``resolve_after_minutes`` (each minute's window), so a value hovering at the
    limit crosses once and does not flap. For an imbalance limit a window below its ``min_usd``
    (not enough volume to grade) counts as under."""

    resolve_below_pct: Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)] = 90.0
    resolve_after_minutes: Annotated[int, Field(ge=0, le=MAX_WINDOW_MINUTES, strict=True)] = 10


class IntradayLimits(ExchangeLimits):
    """An intraday limit, evaluated on every committed stream batch: a table named by measure and
    window. Validating this class gives the subclass of the table's measure:

    * ``[velocity_usd_15m]``, ``[velocity_count_5m]`` (:class:`IntradayVelocityLimits`): the
      trailing window's USD (or count of liquidations);
    * ``[exposure_usd_day]`` (:class:`IntradayExposureLimits`): USD since 00:00 UTC;
    * ``[imbalance_60m]`` (:class:`IntradayImbalanceLimits`): the dominant side's share of the
      trailing window's USD, graded from ``min_usd``.

    ``per = "asset_exchange"`` (default) measures an asset on one exchange (result scope
    ``BTC/binc``) and takes all four override kinds, narrowest first, as the ``_exchange`` daily
    checks do; ``per = "asset"`` measures an asset across every streamed exchange (scope ``BTC``)
    and takes ``asset`` overrides only. An episode that stays over is stored (and announced) again
    every ``repeat_minutes`` (0: never); ``hysteresis`` says when it is over.

    ``window`` and ``measure`` come from the table's name (set by :class:`LimitSet`) and are not
    part of the canonical form: the name is.
    """

    window: str = Field(exclude=True)
    measure: str = Field(exclude=True)  # "usd" | "count" | "exposure" | "imbalance"
    per: Literal["asset_exchange", "asset"] = "asset_exchange"
    repeat_minutes: Annotated[int, Field(ge=0, le=MAX_WINDOW_MINUTES, strict=True)] = 60
    hysteresis: Hysteresis = Hysteresis()

    @model_validator(mode="wrap")
    @classmethod
    def _by_measure(cls, data: Any, handler: ModelWrapValidatorHandler[IntradayLimits]) -> Any:
        """``IntradayLimits`` itself validates as the class of the table's measure (so an error's
        key is the file's: ``imbalance_60m.min_usd``, with no class name in between)."""
        if cls is IntradayLimits and isinstance(data, dict):
            if data.get(_WRITTEN):
                raise ValueError(
                    f"{', '.join(data[_WRITTEN])}: not a key of an intraday table (its name gives "
                    f"the measure and window: {INTRADAY_FORMS})"
                )
            kind = INTRADAY_KINDS.get(str(data.get("measure")), IntradayVelocityLimits)
            return kind.model_validate(data)
        return handler(data)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        window_minutes(value)
        return value

    @model_validator(mode="after")
    def _per_asset(self) -> IntradayLimits:
        if self.per == "asset" and (self.exchange or self.jurisdiction or self.asset_exchange):
            raise ValueError(
                'per = "asset" measures an asset across exchanges: it takes asset overrides only'
            )
        return self

    @property
    def minutes(self) -> int:
        """The window's length in minutes (for ``exposure_usd_day``, the longest it gets)."""
        return window_minutes(self.window)


class IntradayVelocityLimits(IntradayLimits):
    """``[velocity_usd_<window>]`` and ``[velocity_count_<window>]``: the trailing window's USD,
    or its count of liquidations."""

    measure: Literal["usd", "count"] = Field(exclude=True)


class IntradayExposureLimits(IntradayLimits):
    """``[exposure_usd_day]``: the USD liquidated since 00:00 UTC of the batch's newest minute
    (the window runs from the day's start to that minute, and starts again at midnight)."""

    measure: Literal["exposure"] = Field(exclude=True)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if value != "day":
            raise ValueError(
                f"window {value!r}: exposure runs from 00:00 UTC to the batch's minute; "
                "the table is [exposure_usd_day]"
            )
        return value

    @property
    def minutes(self) -> int:
        return MAX_WINDOW_MINUTES


class IntradayImbalanceLimits(IntradayLimits):
    """``[imbalance_<window>]``: the dominant side's share of the trailing window's USD in percent
    (50 is balanced), as the daily ``[imbalance]`` check measures a day; so ``warn`` and
    ``breach`` lie in 50..100. A window whose USD is under ``min_usd`` (required, above 0) has not
    enough volume to mean anything: it opens no episode, and counts as under for the hysteresis."""

    bounds: ClassVar[tuple[float, float | None]] = (50.0, 100.0)
    unit_hint: ClassVar[str] = " (percent of USD on the dominant side)"

    measure: Literal["imbalance"] = Field(exclude=True)
    min_usd: Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


INTRADAY_KINDS: dict[str, type[IntradayLimits]] = {
    "usd": IntradayVelocityLimits,
    "count": IntradayVelocityLimits,
    "exposure": IntradayExposureLimits,
    "imbalance": IntradayImbalanceLimits,
}
"""The class of each measure's table."""


class ClusterLevels(_Strict):
    """An hour is a *cluster hour* of an asset when its liquidations reach this many USD."""

    hour_usd: Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)] | None = None
    asset: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]] = Field(
        default_factory=dict
    )

    @field_validator("asset")
    @classmethod
    def _assets(cls, value: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, level in value.items():
            if not _ASSET.match(key):
                raise ValueError(f"asset code {key!r} must be letters and digits only")
            out[key.upper()] = level
        return out

    def level_for(self, asset: str) -> float | None:
        return self.asset.get(asset.upper(), self.hour_usd)


class LimitSet(_Strict):
    """Every check's limits. The canonical JSON of this model is what the SHA-256 is taken of."""

    # data quality, per asset
    gaps: AssetLimits | None = None  # hourly intervals missing from the day (count)
    staleness: AssetLimits | None = None  # hours from the newest interval to the day's end
    reconciliation: ReconciliationLimits | None = None  # % difference from a second source
    # liquidations, per asset
    daily_usd: AssetLimits | None = None
    velocity_usd: AssetLimits | None = None  # largest hour (USD)
    velocity_count: AssetLimits | None = None  # largest hour (liquidations)
    velocity_2h_usd: AssetLimits | None = None  # largest two consecutive hours (USD)
    velocity_2h_count: AssetLimits | None = None  # largest two consecutive hours (liquidations)
    imbalance: ImbalanceLimits | None = None  # dominant side's share of USD (%)
    funding_swing: AssetLimits | None = None  # bps per 8h, max - min across the day
    oi_change: AssetLimits | None = None  # |% change| of open interest, day over day
    # liquidations, per asset and exchange
    daily_usd_exchange: ExchangeLimits | None = None
    velocity_usd_exchange: ExchangeLimits | None = None
    velocity_count_exchange: ExchangeLimits | None = None
    concentration: ExchangeShareLimits | None = None  # the exchange's share of the asset's USD
    # the Weibull time-to-cluster estimate of `liqrisk limits calibrate`
    clusters: ClusterLevels = ClusterLevels()
    # intraday limits, evaluated on every committed stream batch, by table name
    # ("velocity_usd_15m", "imbalance_60m", "exposure_usd_day"); in the file and in the canonical
    # form each is a table of its own
    intraday: dict[str, SerializeAsAny[IntradayLimits]] = Field(default_factory=dict)

    _loaded_from: str = PrivateAttr(default="<built in code>")

    @model_validator(mode="before")
    @classmethod
    def _intraday_tables(cls, data: Any) -> Any:
        """Tables named as :func:`intraday_name` reads them are intraday limits; each is told its
        measure and window (from its name)."""
        if not isinstance(data, dict):
            return data
        out = {k: v for k, v in data.items() if intraday_name(str(k)) is None}
        given = out.get("intraday") or {}
        if not isinstance(given, dict):
            return out  # let validation name it
        intraday = {**given, **{k: v for k, v in data.items() if intraday_name(str(k))}}
        for key, value in intraday.items():
            named = intraday_name(str(key))
            if named is not None and isinstance(value, dict):
                written = sorted(k for k in ("measure", "window") if k in value)
                told = {"measure": named[0], "window": named[1]}
                intraday[key] = {**value, **told, **({_WRITTEN: written} if written else {})}
        if intraday:
            out["intraday"] = intraday
        return out

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Each intraday limit under its own name, and nothing when there are none: a limit set
        without intraday tables keeps the canonical form (and SHA-256) it always had."""
        data = handler(self)
        if isinstance(data, dict):
            intraday = data.pop("intraday", None) or {}
            data.update(intraday)
        return data

    @property
    def loaded_from(self) -> str:
        """The file this limit set was read from (not part of the limit set or its hash)."""
        return self._loaded_from

    def from_file(self, path: str) -> LimitSet:
        self._loaded_from = path
        return self

    def for_check(self, check: str) -> AssetLimits | None:
        value = getattr(self, check, None) if check in type(self).model_fields else None
        return value if isinstance(value, AssetLimits) else None

    def configured_checks(self) -> tuple[str, ...]:
        return tuple(name for name in type(self).model_fields if self.for_check(name) is not None)


def jurisdiction_code(jurisdiction: str | None) -> str | None:
    """``"SC Seychelles"`` -> ``"SC"``; ``None`` or ``"unknown"`` -> ``None``."""
    if not jurisdiction:
        return None
    code = jurisdiction.split()[0]
    return code if _JURISDICTION.match(code) else None


def scope_problems(
    limits: LimitSet, assets: tuple[str, ...], jurisdictions: Mapping[str, str]
) -> list[tuple[str, str, str, str]]:
    """Override keys that match nothing known: ``(severity, key, value, reason)`` for each.

    ``assets`` are the configured assets; ``jurisdictions`` maps every known exchange code to its
    jurisdiction (from ``exchanges.toml``). An exchange code or jurisdiction that the exchange table
    does not know is an ``error`` (a typo would silently check nothing), and so is an asset that
    is not configured: ``asset.BTX`` would leave BTC on the global values without a word.
    """
    known_assets = {a.upper() for a in assets}
    known_codes = {c for c in (jurisdiction_code(j) for j in jurisdictions.values()) if c}
    problems: list[tuple[str, str, str, str]] = []

    def check_asset(key: str, asset: str) -> None:
        if asset not in known_assets:
            close = difflib.get_close_matches(asset, sorted(known_assets), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            why = (
                f"not a configured asset (fetch.assets: {', '.join(sorted(known_assets))}): "
                f"its limits would never apply{hint}"
            )
            problems.append(("error", key, asset, why))

    def check_exchange(key: str, code: str) -> None:
        if code not in jurisdictions:
            why = f"not an exchange code of exchanges.toml ({', '.join(sorted(jurisdictions))})"
            problems.append(("error", key, code, why))

    tables: list[tuple[str, AssetLimits]] = []
    for check in limits.configured_checks():
        table = limits.for_check(check)
        assert table is not None
        tables.append((check, table))
    tables.extend(sorted(limits.intraday.items()))
    for check, table in tables:
        for asset in table.asset:
            check_asset(f"{check}.asset.{asset}", asset)
        if isinstance(table, ExchangeLimits):
            for code in table.exchange:
                check_exchange(f"{check}.exchange.{code}", code)
            for code in table.jurisdiction:
                if code not in known_codes:
                    why = f"no exchange in exchanges.toml has it ({', '.join(sorted(known_codes))})"
                    problems.append(("error", f"{check}.jurisdiction.{code}", code, why))
            for pair in table.asset_exchange:
                asset, _, code = pair.partition("/")
                check_asset(f'{check}.asset_exchange."{pair}"', asset)
                check_exchange(f'{check}.asset_exchange."{pair}"', code)
    for asset in limits.clusters.asset:
        check_asset(f"clusters.asset.{asset}", asset)
    return problems

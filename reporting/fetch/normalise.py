"""Normalisation: one spelling for assets, exchanges and times, whatever a source sends.

Pure functions of their input (no config, no I/O), so the derivers that use them stay pure and
``liqrisk verify`` re-derives exactly what was stored.

**Asset symbols.** :func:`parse_symbol` reads the instrument names sources use and returns the base
asset with the instrument kept verbatim and the quote beside it::

    BTC, btc, XBT              -> base BTC                     (an asset, no quote)
    BTCUSDT, XBTUSD, 1000PEPEUSDT -> BTC / USDT, BTC / USD, PEPE x1000 / USDT   (concatenated pairs)
    BTC-USDT-SWAP              -> BTC / USDT perpetual          (OKX)
    BTC-USDT-251226            -> BTC / USDT future, 2025-12-26 (OKX)
    BTC-PERP, BTC-PERPETUAL    -> BTC / USD perpetual           (FTX, Deribit)
    ETH-USD, ETH/USDT          -> ETH / USD, ETH / USDT         (a pair)
    BTC/USDT:USDT              -> BTC / USDT perpetual          (ccxt's unified form)
    BTCUSDT_251226, BTCUSD_PERP -> future, perpetual            (Binance delivery and coin-M)
    PF_XBTUSD                  -> BTC / USD perpetual           (Kraken Futures)

Concatenated pairs are split only on fiat and stablecoin quotes (``USDT``, ``USDC``, ``USD``, ...):
``ETHBTC`` could be read two ways and ``STETH`` is not ``ST``/``ETH``, so crypto quotes need a
delimiter. ``XBT`` is Bitcoin and ``XDG`` Dogecoin (Kraken and BitMEX spellings). A multiplier
prefix (``1000PEPE``, ``1000000MOG``, ``1MBABYDOGE``) is split off into ``multiplier``.

**Exchange codes.** :func:`exchange_code` maps the names and codes sources use (``Binance``,
``binance``, ``BINANCE``, ``binc``; ``OKX``, ``okex``; ...) to the short codes Kaiko uses, which are
the codes of the store and of ``config/exchanges.toml``. A name it does not know comes back
lower-cased and verbatim, so a new venue is kept (and flagged later against the exchange table).

**Times.** :func:`to_utc` takes epoch numbers in seconds, milliseconds, microseconds or
nanoseconds (told apart by magnitude: 1e11 s, 1e14 ms and 1e17 us all lie in the year 5138, so the
ranges cannot overlap for any date this software will see), numeric strings (OKX sends
``"1703059200000"``), ISO 8601 text with a ``Z`` or an offset, and aware datetimes, and returns an
aware UTC datetime. A time without a zone is refused: guessing one is how an hour goes missing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

SymbolKind = Literal["asset", "pair", "perpetual", "future", "option"]

ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
"""Other spellings of an asset code, by the code liqrisk uses."""

WELL_KNOWN_ASSETS = frozenset(
    {"BTC", "XBT", "ETH", "SOL", "XRP", "DOGE", "XDG", "BNB", "ADA", "LTC", "BCH", "DOT", "LINK"}
)
"""Bases that settle an ambiguous concatenated pair (``XBTUSD`` is XBT/USD, not XB/TUSD)."""

# Quotes a concatenated pair may end with, longest first so FDUSD is not read as FD + USD.
CONCATENATED_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDE", "USD", "EUR", "GBP")
_MULTIPLIER = re.compile(r"^(1000000|100000|10000|1000|100|10|1M)([A-Z][A-Z0-9]*)$")
_CODE = re.compile(r"^[A-Z0-9]{1,20}$")
_EXPIRY_YYMMDD = re.compile(r"^\d{6}$")
_EXPIRY_DERIBIT = re.compile(r"^(\d{1,2})([A-Z]{3})(\d{2})$")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    )
}
_PERPETUAL_WORDS = frozenset({"SWAP", "PERP", "PERPETUAL"})
_KRAKEN_PREFIX = {"PF": "perpetual", "PI": "perpetual", "FF": "future", "FI": "future"}


@dataclass(frozen=True)
class Symbol:
    """An instrument name read into its parts; ``instrument`` is the name as the source sent it."""

    base: str  # "BTC": the asset code liqrisk uses
    quote: str | None  # "USDT", "USD"; None for a bare asset code
    instrument: str  # verbatim (stripped): "BTC-USDT-SWAP"
    kind: SymbolKind
    expiry: date | None = None
    multiplier: int = 1  # 1000 for "1000PEPEUSDT": one unit of the instrument is 1000 PEPE


def asset_code(code: str) -> str:
    """An asset code in liqrisk's spelling: upper case, aliases resolved (``xbt`` -> ``BTC``)."""
    text = code.strip().upper()
    if not _CODE.match(text):
        raise ValueError(f"{code!r} is not an asset code (letters and digits, at most 20)")
    return ASSET_ALIASES.get(text, text)


def _base(raw: str, instrument: str) -> tuple[str, int]:
    text = raw.upper()
    multiplier = 1
    match = _MULTIPLIER.match(text)
    if match:
        multiplier = 1_000_000 if match.group(1) == "1M" else int(match.group(1))
        text = match.group(2)
    try:
        return asset_code(text), multiplier
    except ValueError:
        raise ValueError(f"cannot read the base asset of symbol {instrument!r}") from None


def _quote(raw: str, instrument: str) -> str:
    try:
        return asset_code(raw)
    except ValueError:
        raise ValueError(f"cannot read the quote of symbol {instrument!r}") from None


def _expiry(text: str) -> date | None:
    if _EXPIRY_YYMMDD.match(text):
        try:
            return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
        except ValueError:
            return None
    match = _EXPIRY_DERIBIT.match(text)
    if match and match.group(2) in _MONTHS:
        try:
            return date(2000 + int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1)))
        except ValueError:
            return None
    return None


def _split_concatenated(text: str) -> tuple[str, str | None]:
    """Split ``BTCUSDT`` into ``("BTC", "USDT")``. Where two quotes fit (``XBTUSD``: XBT/USD or
    XB/TUSD), the split whose base is a well-known asset wins, then the longer quote."""
    splits = [
        (text[: -len(quote)], quote)
        for quote in CONCATENATED_QUOTES
        if text.endswith(quote) and len(text) > len(quote)
    ]
    for base, quote in splits:
        if base in WELL_KNOWN_ASSETS:
            return base, quote
    return splits[0] if splits else (text, None)


def parse_symbol(symbol: str) -> Symbol:
    """Read an instrument or asset name; ``ValueError`` names it when it cannot be read."""
    instrument = symbol.strip()
    text = instrument.upper()
    if not text:
        raise ValueError("empty symbol")
    kraken = re.match(r"^(PF|PI|FF|FI)_([A-Z0-9]+)(?:_(\d{6}))?$", text)
    if kraken:
        base_text, quote = _split_concatenated(kraken.group(2))
        base, mult = _base(base_text, instrument)
        kind: SymbolKind = (
            "perpetual" if _KRAKEN_PREFIX[kraken.group(1)] == "perpetual" else "future"
        )
        expiry = _expiry(kraken.group(3)) if kraken.group(3) else None
        return Symbol(base, quote, instrument, kind, expiry, mult)
    if ":" in text:  # ccxt: BASE/QUOTE:SETTLE[-EXPIRY[-STRIKE-C|P]]
        pair, _, settle = text.partition(":")
        base_text, slash, quote_text = pair.partition("/")
        if not slash:
            raise ValueError(f"cannot read symbol {instrument!r}")
        base, mult = _base(base_text, instrument)
        parts = settle.split("-")
        _quote(parts[0], instrument)
        if len(parts) == 1:
            return Symbol(base, _quote(quote_text, instrument), instrument, "perpetual", None, mult)
        expiry = _expiry(parts[1])
        kind = "option" if len(parts) >= 4 else "future"
        return Symbol(base, _quote(quote_text, instrument), instrument, kind, expiry, mult)
    parts = re.split(r"[-/_]", text)
    if len(parts) == 1:
        base_text, quote = _split_concatenated(text)
        base, mult = _base(base_text, instrument)
        return Symbol(base, quote, instrument, "pair" if quote else "asset", None, mult)
    head, *rest = parts
    if "_" in text and len(parts) == 2:  # Binance: BTCUSDT_251226, BTCUSD_PERP
        base_text, quote = _split_concatenated(head)
        if quote is None:
            raise ValueError(f"cannot read the quote of symbol {instrument!r}")
        base, mult = _base(base_text, instrument)
        if rest[0] == "PERP":
            return Symbol(base, quote, instrument, "perpetual", None, mult)
        expiry = _expiry(rest[0])
        if expiry is None:
            raise ValueError(f"cannot read symbol {instrument!r}")
        return Symbol(base, quote, instrument, "future", expiry, mult)
    base, mult = _base(head, instrument)
    second = rest[0]
    if second in _PERPETUAL_WORDS and len(rest) == 1:  # BTC-PERP, BTC-PERPETUAL (quoted in USD)
        return Symbol(base, "USD", instrument, "perpetual", None, mult)
    deribit_expiry = _expiry(second) if len(rest) in (1, 3) else None
    if deribit_expiry is not None and not second.isdigit():  # BTC-27DEC24[-60000-C]
        kind = "option" if len(rest) == 3 else "future"
        return Symbol(base, "USD", instrument, kind, deribit_expiry, mult)
    quote = _quote(second, instrument)
    if len(rest) == 1:
        return Symbol(base, quote, instrument, "pair", None, mult)
    third = rest[1]
    if third in _PERPETUAL_WORDS and len(rest) == 2:
        return Symbol(base, quote, instrument, "perpetual", None, mult)
    expiry = _expiry(third)
    if expiry is None:
        raise ValueError(f"cannot read symbol {instrument!r}")
    return Symbol(base, quote, instrument, "option" if len(rest) >= 4 else "future", expiry, mult)


# -- exchanges

EXCHANGE_ALIASES: dict[str, str] = {
    "binance": "binc",
    "binance futures": "binc",
    "binance usd-m": "binc",
    "binance usdm": "binc",
    "bybit": "bbit",
    "okx": "okex",
    "okex": "okex",
    "deribit": "drbt",
    "huobi": "hbdm",
    "huobi dm": "hbdm",
    "htx": "hbdm",
    "bitmex": "bmex",
    "kraken": "krkn",
    "kraken futures": "krkn",
    "coinbase": "cbse",
    "coinbase international": "cbse",
    "gate": "gtio",
    "gate.io": "gtio",
    "gateio": "gtio",
}
"""Exchange names as sources spell them (lower case), by liqrisk's (Kaiko's) exchange code."""


def exchange_code(name: str) -> str:
    """The exchange code for ``name`` (``"Binance"`` -> ``"binc"``); unknown names verbatim."""
    text = " ".join(name.strip().lower().split())
    if not text:
        raise ValueError("empty exchange name")
    return EXCHANGE_ALIASES.get(text, text)


# -- times

NS_FROM = 10**17
"""From this magnitude on, an epoch timestamp is in nanoseconds (see :func:`epoch_divisor`)."""
# 1e11 s is the year 5138, 1e14 ms the year 5138, 1e17 us likewise: magnitudes do not overlap.
_UNIT_BOUNDS: tuple[tuple[float, int], ...] = ((1e11, 1), (1e14, 1_000), (NS_FROM, 1_000_000))
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def epoch_divisor(value: float) -> int:
    """1 for seconds, 1e3 for ms, 1e6 for us, 1e9 for ns, told apart by magnitude."""
    for bound, divisor in _UNIT_BOUNDS:
        if abs(value) < bound:
            return divisor
    return 1_000_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_utc(ms: int) -> datetime:
    """Epoch milliseconds (already known to be milliseconds) as an aware UTC datetime, exact:
    :func:`epoch_to_utc`'s result for a millisecond value, at a third of its cost (a stream's
    every event has one)."""
    return _EPOCH + timedelta(milliseconds=ms)


def epoch_to_utc(value: int) -> datetime:
    """An integer epoch timestamp in s, ms, us or ns as an aware UTC datetime (exact)."""
    divisor = epoch_divisor(value)
    seconds, remainder = divmod(value, divisor)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(
        microsecond=(remainder * 1_000_000) // divisor
    )


def iso_to_utc(value: str) -> datetime:
    """ISO 8601 text with ``Z`` or an offset as an aware UTC datetime; no zone is an error."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return parsed.astimezone(UTC)


def to_utc(value: int | float | str | datetime) -> datetime:
    """Any timestamp a source sends as an aware UTC datetime (see the module's docstring)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime {value.isoformat()} has no time zone")
        return value.astimezone(UTC)
    if isinstance(value, int):
        return _checked(epoch_to_utc, value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a timestamp")
        if value.is_integer():
            return _checked(epoch_to_utc, int(value))
        divisor = epoch_divisor(value)
        return _checked(lambda v: datetime.fromtimestamp(v / divisor, tz=UTC), value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            return to_utc(int(text) if "." not in text else float(text))
        try:
            return iso_to_utc(text)
        except ValueError as exc:
            raise ValueError(f"timestamp {value!r}: {exc}") from None
    raise ValueError(f"{value!r} is not a timestamp")


def _checked(convert: Callable[[Any], datetime], value: int | float) -> datetime:
    try:
        return convert(value)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp {value!r} is out of range ({exc})") from None


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (what Binance and OKX take)."""
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)


def floor_time(moment: datetime, seconds: int) -> datetime:
    """The start of the ``seconds``-long interval (aligned to the epoch, so to UTC midnight for any
    divisor of a day) that holds ``moment``."""
    ms = to_epoch_ms(moment)
    step = seconds * 1000
    return epoch_to_utc((ms // step) * step)

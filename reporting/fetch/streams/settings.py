"""The live collectors' configuration, the ``[streams]`` table (read by :mod:`reporting.config`).

Kept beside the collectors so the config module stays small; it imports nothing of liqrisk's.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


StreamVenue = Literal["binance", "bybit", "okx"]


class Streams(_Strict):
    """The live collectors, ``liqrisk collect`` (:mod:`reporting.fetch.streams`). Base URLs as the
    venue documents them; ``$LIQRISK_BINANCE_WS_URL``, ``$LIQRISK_BYBIT_WS_URL`` and
    ``$LIQRISK_OKX_WS_URL`` override them (a loopback emulator can stand in), as
    ``$LIQRISK_BINANCE_COINM_WS_URL`` and ``$LIQRISK_BINANCE_COINM_BASE_URL`` do COIN-M's."""

    venues: tuple[StreamVenue, ...] = ("binance", "bybit", "okx")
    in_daemon: bool = False  # `liqrisk run` runs the collectors beside its jobs
    assets: tuple[str, ...] = ()  # Bybit topics and OKX contracts; empty: fetch.assets
    binance_url: str = "wss://fstream.binance.com"
    binance_markets: tuple[Literal["usdm", "coinm"], ...] = ("usdm",)  # coinm: COIN-M futures too
    binance_coinm_url: str = "wss://dstream.binance.com"
    binance_coinm_rest_url: str = "https://dapi.binance.com"  # contract sizes (exchangeInfo)
    bybit_url: str = "wss://stream.bybit.com"
    okx_url: str = "wss://ws.okx.com:8443"
    bybit_categories: tuple[Literal["linear", "inverse"], ...] = ("linear",)
    flush_seconds: float = Field(default=0.5, gt=0, le=2)  # a frame is committed this soon
    batch_frames: int = Field(default=500, ge=1, le=10_000)  # or when this many wait
    first_retry_seconds: float = Field(default=0.5, ge=0, le=1)  # a gap is lost data: retry fast
    max_retry_seconds: float = Field(default=30.0, gt=0)
    rollover_seconds: float = Field(default=23.5 * 3600, gt=0)  # Binance closes at 24 h
    overlap_seconds: float = Field(default=5.0, ge=0)  # both connections read this long
    idle_seconds: float = Field(default=60.0, gt=0)  # no frame (not even a pong): reconnect
    binance_idle_seconds: float = Field(default=600.0, gt=0)  # Binance sends no pongs
    silent_warn_seconds: float = Field(default=300.0, gt=0)  # status warns of a silent stream
    lease_seconds: float = Field(default=15.0, gt=0)  # a killed holder's stream is taken over
    writer: Literal["process", "thread"] = "process"  # where batches are read and committed
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)  # the library refuses larger

    @field_validator("assets")
    @classmethod
    def _lower_assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for asset in value:
            if not asset.isalnum():
                raise ValueError(f"asset code {asset!r} must be letters and digits only")
        return tuple(a.lower() for a in value)

    @field_validator("binance_coinm_rest_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("binance_url", "binance_coinm_url", "bybit_url", "okx_url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        if not re.match(r"^wss?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not a ws:// or wss:// URL")
        return value.rstrip("/")

"""Running the collectors against the loopback venues of :mod:`tests.ws_venues`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import text

from audit_store.db import Store
from reporting.config import Settings, load_settings
from reporting.fetch.streams.collector import StreamStats
from reporting.fetch.streams.runner import CollectResult, run_streams
from reporting.fetch.streams.venues import StreamSpec, stream_specs

FAST = {
    "flush_seconds": 0.1,
    "first_retry_seconds": 0.2,
    "max_retry_seconds": 0.5,
    "idle_seconds": 2.0,
    "binance_idle_seconds": 2.0,
}


def stream_settings(**streams: Any) -> Settings:
    settings = load_settings(env={})
    merged = {**FAST, **streams}
    return settings.model_copy(update={"streams": settings.streams.model_copy(update=merged)})


def new_store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'streams.db'}")
    store.create_schema()
    return store


def specs_for(
    settings: Settings, venue: str, contracts: Any = None, **changes: Any
) -> list[StreamSpec]:
    return [replace(s, **changes) for s in stream_specs(settings, (venue,), contracts=contracts)]


def collect(
    store: Store,
    settings: Settings,
    specs: list[StreamSpec],
    *,
    seconds: float = 10.0,
    until: Callable[[dict[str, StreamStats]], bool] | None = None,
) -> CollectResult:
    return asyncio.run(run_streams(store, settings, specs, seconds=seconds, until=until))


def frames_at_least(n: int) -> Callable[[dict[str, StreamStats]], bool]:
    return lambda stats: sum(s.frames for s in stats.values()) >= n


def rows(store: Store, sql: str) -> list[Any]:
    with store.read_session() as session:
        return list(session.execute(text(sql)).all())


def sessions(store: Store) -> list[tuple[str, str]]:
    return [
        (r[0], r[1]) for r in rows(store, "SELECT event, detail FROM stream_session ORDER BY id")
    ]

"""Checkpoints stamped by an outside Time-Stamping Authority (RFC 3161 over HTTP), never blocking.

After a checkpoint is signed (the daily run, the checkpoint job, ``liqrisk checkpoint``, an
export) :func:`stamp_latest` asks the TSA of ``[anchor]`` for a token on the latest one; the
evidence layer (:mod:`audit_store.timestamping`) checks the answer and keeps it. Only the latest
checkpoint is ever asked for: its token covers every earlier one, whose log it extends. A TSA that
is down, slow (``timeout_seconds``) or refuses costs one recorded attempt and a warning; the
checkpoint waits, ``liqrisk status`` shows it, and the drain job asks again after
``retry_seconds`` (``liqrisk anchor`` asks at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.errors import LiqriskError, TimestampError
from audit_store.tables_timestamps import STAMPED
from audit_store.timestamping import (
    Post,
    TokenProblem,
    TsaTrust,
    check_kept_tokens,
    load_trust,
    request_token,
    waiting,
)
from reporting.config import Anchor, Settings
from reporting.fetch.sources.http import USER_AGENT

log = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPES = ("application/timestamp-reply", "application/timestamp-response")


def http_post(timeout: float) -> Post:
    """``post(url, request)`` over HTTP(S) as RFC 3161 section 3.4 describes it."""

    def post(url: str, request: bytes) -> bytes:
        headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPES[0], "User-Agent": USER_AGENT}
        try:
            response = httpx.post(url, content=request, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise TimestampError(
                f"the TSA {url} could not be reached ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise TimestampError(f"the TSA {url} answered HTTP {response.status_code}")
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in REPLY_TYPES:
            raise TimestampError(
                f"the TSA {url} answered with {kind or 'no content type'}, not {REPLY_TYPES[0]}"
            )
        return response.content

    return post


@dataclass(frozen=True)
class AnchorOutcome:
    """What one call did: ``off`` (no TSA configured), ``current`` (the latest checkpoint has a
    token), ``stamped``, ``failed`` (recorded; asked again later) or ``later`` (a recent attempt
    failed and ``retry_seconds`` have not passed)."""

    status: str
    message: str
    tree_size: int | None = None
    waiting: int = 0

    @property
    def line(self) -> str:
        return f"time stamp: {self.message}"


def trust_of(anchor: Anchor) -> TsaTrust | None:
    if anchor.tsa_ca_file is None:
        return None
    return load_trust(anchor.tsa_ca_file, anchor.tsa_cert_file)


def stamp_latest(
    store: Store,
    settings: Settings,
    *,
    post: Post | None = None,
    clock: Callable[[], datetime] | None = None,
    force: bool = False,
) -> AnchorOutcome:
    """Ask for a token on the latest checkpoint, unless it has one or was refused too recently.
    Never raises for the TSA's sake: a failure is recorded and returned."""
    anchor = settings.anchor
    if anchor.tsa_url is None:
        return AnchorOutcome("off", "no [anchor] tsa_url configured")
    now = (clock or (lambda: datetime.now(UTC)))()
    try:
        trust = trust_of(anchor)
        assert trust is not None  # the config requires tsa_ca_file beside tsa_url
        with store.session() as session:
            open_ = waiting(session, anchor.tsa_url)
            latest = open_.latest
            if latest is None:
                return AnchorOutcome("current", "every checkpoint is covered by a token")
            retry_at = (
                None
                if open_.last_attempt_at is None or open_.last_error is None
                else as_utc(open_.last_attempt_at) + timedelta(seconds=anchor.retry_seconds)
            )
            if not force and retry_at is not None and now < retry_at:
                return AnchorOutcome(
                    "later",
                    f"{open_.count} checkpoint(s) wait for a token; asking {anchor.tsa_url} again "
                    f"after {retry_at.isoformat()} (last: {open_.last_error})",
                    latest.tree_size,
                    open_.count,
                )
            row = request_token(
                session,
                latest,
                tsa_url=anchor.tsa_url,
                trust=trust,
                post=post or http_post(anchor.timeout_seconds),
                now=now,
            )
            stamped, size, error, at = (
                row.outcome == STAMPED,
                row.tree_size,
                row.error,
                row.gen_time,
            )
    except LiqriskError as exc:  # an unreadable CA file, a store that cannot be written
        log.warning("time stamp not requested: %s", exc)
        return AnchorOutcome("failed", str(exc))
    if stamped:
        assert at is not None
        return AnchorOutcome(
            "stamped",
            f"checkpoint of {size} leaves stamped by {anchor.tsa_url} at {as_utc(at).isoformat()}",
            size,
        )
    log.warning("time stamp failed: %s", error)
    return AnchorOutcome(
        "failed",
        f"{error}; the checkpoint of {size} leaves waits and is asked for again after "
        f"{anchor.retry_seconds} s",
        size,
        open_.count,
    )


def kept_token_problems(store: Store, settings: Settings) -> list[TokenProblem]:
    """Every stored token checked again (for ``liqrisk verify``), against the configured CA; with
    none configured, each kept token is named as not checkable."""
    anchor = settings.anchor
    try:
        trust = trust_of(anchor)
    except TimestampError as exc:
        return [TokenProblem(None, str(exc))]
    skew = timedelta(seconds=anchor.max_skew_seconds)
    with store.read_session() as session:
        return list(check_kept_tokens(session, trust, skew))

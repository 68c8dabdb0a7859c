"""Kaiko REST client for token-level liquidation volumes (plain httpx).

``GET {base}/v2/data/liquidation.v1/token/{asset}?interval=&start_time=&end_time=&sort=&page_size=``
with the key in ``X-Api-Key``. Later pages are fetched by following ``next_url`` verbatim (it
carries only ``continuation_token``; Kaiko takes ``page_size`` on the first call only).

The region (``eu`` or ``us``) picks the host, ``https://<region>.market-api.kaiko.io``; a
configured ``base_url`` or ``$LIQRISK_KAIKO_BASE_URL`` overrides it (see
:class:`reporting.config.KaikoSource`).

The client yields every response it receives, good or bad, as a :class:`RawResponse` so the caller
can keep it byte for byte before anything else happens; it then decides from a light parse whether
another page follows. Failures after a response was yielded are raised as :class:`SourceError`.

Faults (see :mod:`reporting.fetch.sources.http`): 429, 5xx and network errors are retried with
exponential backoff and full jitter, honouring ``Retry-After``, bounded in attempts and in total
waiting time per request. A retried response is still yielded (marked ``extra["transient"]``) so it
is kept; the retry re-sends the same request, so paging resumes from the last good continuation
token. 401/403 fail at once, naming the key's variable, never the key. A body larger than
``max_response_bytes`` is refused without being read further. A continuation token seen twice is a
paging loop and an error.
"""

from __future__ import annotations

import ipaddress
import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from audit_store.snapshots import RawResponse, redact_url
from reporting.config import KaikoSource
from reporting.errors import AuthError, ConfigError, ResponseError
from reporting.fetch.sources.http import HttpFetcher, SourceClient
from reporting.fetch.sources.kaiko.format import KIND, SchemaViolation, interval_seconds, load_body

API_KEY_ENV = "KAIKO_API_KEY"
MAX_PAGES = 100_000  # a guard against a server that never stops handing out tokens


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as Kaiko's documentation writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"
    )


def _plain_http_off_host(url: str) -> bool:
    """``url`` is plain ``http://`` to a host that is not loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


class KaikoClient(SourceClient):
    def __init__(
        self,
        settings: KaikoSource,
        *,
        source_name: str = "kaiko",
        transport: httpx.BaseTransport | None = None,
        require_key: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.source_name = source_name
        self.base_url = settings.effective_base_url
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        if require_key and not key:
            raise AuthError(f"no Kaiko API key: set the environment variable {API_KEY_ENV}")
        if key and not settings.allow_plain_http and _plain_http_off_host(self.base_url):
            raise ConfigError(
                f"kaiko base URL {redact_url(self.base_url)} is plain http:// to a host other "
                f"than this machine: {API_KEY_ENV} would travel unencrypted; use https://, or "
                "set kaiko.allow_plain_http = true if that network is trusted"
            )
        self._http = HttpFetcher(
            settings,
            source_name=source_name,
            settings_key="kaiko",
            transport=transport,
            headers={"X-Api-Key": key} if key else {},
            secrets=[key],
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    def token_url(self, asset: str) -> str:
        return f"{self.base_url}/v2/data/liquidation.v1/token/{asset.lower()}"

    def iter_pages(
        self,
        asset: str,
        start: datetime,
        end: datetime,
        *,
        interval: str = "1h",
        sort: str = "asc",
    ) -> Iterator[RawResponse]:
        """Yield every page of ``asset`` in [start, end), first page to last.

        Everything is validated before the first request: the interval (1h to 1d), the sort and
        the range; the page size was validated with the configuration (1 to 1000, first call only).
        """
        try:
            interval_seconds(interval)
        except ValueError as exc:
            raise ResponseError(f"cannot ask Kaiko for {asset}: {exc}") from None
        if sort not in ("asc", "desc"):
            raise ResponseError(f"sort must be asc or desc, not {sort!r}")
        if end <= start:
            raise ResponseError(f"end {iso_z(end)} is not after start {iso_z(start)}")
        request = self._http.request(
            self.token_url(asset),
            params={
                "interval": interval,
                "start_time": iso_z(start),
                "end_time": iso_z(end),
                "sort": sort,
                "page_size": str(self.settings.page_size),
            },
        )
        seen_tokens: set[str] = set()
        pending: Callable[[], RawResponse] | None = None  # the next page, already asked for
        for page in range(1, MAX_PAGES + 1):
            raw = yield from self._http.send_with_retries(request, KIND, first_attempt=pending)
            where = f"{self.source_name} {asset} page {page} ({raw.url})"
            ok = 200 <= raw.http_status < 300
            following: httpx.Request | None = None
            problem: ResponseError | None = None
            if ok:  # where the next page is, found before this one is handed over ...
                try:
                    following = self._following(raw, where, asset, seen_tokens)
                except ResponseError as exc:
                    problem = exc
            # ... so that it is on its way while the caller stores this one.
            pending = None
            if following is not None and self.settings.prefetch:
                pending = self._http.prefetch(following, KIND)
            yield raw
            if raw.http_status in (401, 403):
                raise AuthError(
                    f"{where}: HTTP {raw.http_status}: Kaiko refused the API key; "
                    f"check the environment variable {API_KEY_ENV}"
                )
            if not ok:
                raise ResponseError(f"{where}: HTTP {raw.http_status}")
            if problem is not None:
                raise problem
            if following is None:
                return
            request = following
        raise ResponseError(f"{self.source_name} {asset}: more than {MAX_PAGES} pages")

    def _following(
        self, raw: RawResponse, where: str, asset: str, seen_tokens: set[str]
    ) -> httpx.Request | None:
        """The request for the page after ``raw``, or ``None`` when ``raw`` is the last."""
        next_url, token = _next_link(raw.body, where)
        if not next_url and not token:
            return None
        if token is not None:
            if token in seen_tokens:
                raise ResponseError(f"{where}: continuation token repeats; paging loop")
            seen_tokens.add(token)
        return self._next_request(next_url, token, asset, where)

    def _next_request(
        self, next_url: str | None, token: str | None, asset: str, where: str
    ) -> httpx.Request:
        if next_url:
            ours, theirs = urlsplit(self.base_url), urlsplit(next_url)
            if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
                # Never send the API key to a host other than the one configured.
                raise ResponseError(
                    f"{where}: next_url points to {theirs.scheme}://{theirs.netloc}, "
                    f"not the configured {ours.scheme}://{ours.netloc}"
                )
            return self._http.request(next_url)
        assert token is not None
        return self._http.request(self.token_url(asset), params={"continuation_token": token})


def _next_link(body: bytes, where: str) -> tuple[str | None, str | None]:
    try:
        try:
            doc = load_body(body)  # parsed once for the deriver too
        except SchemaViolation:
            doc = json.loads(body)  # NaN: the page is quarantined, its link may still be good
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResponseError(f"{where}: body is not JSON ({exc}); paging stopped") from None
    if not isinstance(doc, dict):
        raise ResponseError(f"{where}: body is not a JSON object; paging stopped")
    next_url, token = doc.get("next_url"), doc.get("continuation_token")
    return (
        next_url if isinstance(next_url, str) and next_url else None,
        token if isinstance(token, str) and token else None,
    )

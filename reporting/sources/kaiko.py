"""Kaiko REST client for token-level liquidation volumes (plain httpx).

``GET {base}/v2/data/liquidation.v1/token/{asset}?interval=&start_time=&end_time=&sort=&page_size=``
with the key in ``X-Api-Key``. Later pages are fetched by following ``next_url`` verbatim (it
carries only ``continuation_token``; Kaiko takes ``page_size`` on the first call only).

The client yields every response it receives, good or bad, as a :class:`RawResponse` so the caller
can keep it byte for byte before anything else happens; it then decides from a light parse whether
another page follows. Failures after a response was yielded are raised as :class:`SourceError`.

Faults: 429, 5xx and network errors are retried with exponential backoff and full jitter, honouring
``Retry-After``, bounded in attempts and in total waiting time per request. A retried response is
still yielded (marked ``extra["transient"]``) so it is kept; the retry re-sends the same request,
so paging resumes from the last good continuation token. 401/403 fail at once. A body larger than
``max_response_bytes`` is refused without being read further.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlsplit

import httpx

from audit_store.snapshots import RawResponse, redact_params, redact_url
from reporting.config import KaikoSource
from reporting.errors import AuthError, ResponseError, TransportError
from reporting.sources.kaiko_format import KIND, interval_seconds

API_KEY_ENV = "KAIKO_API_KEY"
MAX_PAGES = 100_000  # a guard against a server that never stops handing out tokens


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as Kaiko's documentation writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"
    )


class KaikoClient:
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
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not cryptography)
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        if require_key and not key:
            raise AuthError(f"no Kaiko API key: set the environment variable {API_KEY_ENV}")
        headers = {"Accept": "application/json"}
        if key:
            headers["X-Api-Key"] = key
        self._secrets = [key] if key else []
        self._http = httpx.Client(
            transport=transport,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KaikoClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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
        """Yield every page of ``asset`` in [start, end), first page to last."""
        try:
            interval_seconds(interval)
        except ValueError as exc:
            raise ResponseError(f"cannot ask Kaiko for {asset}: {exc}") from None
        if sort not in ("asc", "desc"):
            raise ResponseError(f"sort must be asc or desc, not {sort!r}")
        if end <= start:
            raise ResponseError(f"end {iso_z(end)} is not after start {iso_z(start)}")
        request = self._http.build_request(
            "GET",
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
        for page in range(1, MAX_PAGES + 1):
            raw = yield from self._send_with_retries(request)
            yield raw
            where = f"{self.source_name} {asset} page {page} ({raw.url})"
            if raw.http_status in (401, 403):
                raise AuthError(
                    f"{where}: HTTP {raw.http_status}: Kaiko refused the API key; "
                    f"check the environment variable {API_KEY_ENV}"
                )
            if not 200 <= raw.http_status < 300:
                raise ResponseError(f"{where}: HTTP {raw.http_status}")
            next_url, token = _next_link(raw.body, where)
            if not next_url and not token:
                return
            if token is not None:
                if token in seen_tokens:
                    raise ResponseError(f"{where}: continuation token repeats; paging loop")
                seen_tokens.add(token)
            request = self._next_request(next_url, token, asset, where)
        raise ResponseError(f"{self.source_name} {asset}: more than {MAX_PAGES} pages")

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
            return self._http.build_request("GET", next_url)
        assert token is not None
        return self._http.build_request(
            "GET", self.token_url(asset), params={"continuation_token": token}
        )

    def _send_with_retries(
        self, request: httpx.Request
    ) -> Generator[RawResponse, None, RawResponse]:
        """Send ``request`` until it succeeds or is final; yields the transient failures on the way
        and returns the final response (via ``yield from``)."""
        waited = 0.0
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                raw = self._send(request)
            except TransportError as exc:
                delay = self._backoff(attempt)
                if last or waited + delay > self.settings.retry_budget_seconds:
                    raise TransportError(f"{exc} (gave up after {attempt} attempt(s))") from exc
            else:
                if raw.http_status != 429 and raw.http_status < 500:
                    return raw
                hinted = _retry_after(raw.extra.get("retry_after"), self._clock())
                delay = hinted if hinted is not None else self._backoff(attempt)
                if last or waited + delay > self.settings.retry_budget_seconds:
                    return raw  # final: the caller keeps it and reports the status
                yield replace(raw, extra={**raw.extra, "transient": True, "attempt": attempt})
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.settings.backoff_max_seconds, self.settings.backoff_seconds * 2 ** (attempt - 1)
        )
        return self._rng.uniform(0, ceiling)

    def _send(self, request: httpx.Request) -> RawResponse:
        shown = self._redact(str(request.url))
        cap = self.settings.max_response_bytes
        try:
            response = self._http.send(request, stream=True)
            try:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise ResponseError(
                        f"GET {shown}: response of {declared} bytes exceeds the "
                        f"cap of {cap} bytes (kaiko.max_response_bytes)"
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():  # decoded content: what is kept and parsed
                    size += len(chunk)
                    if size > cap:
                        raise ResponseError(
                            f"GET {shown}: response exceeds the cap of {cap} "
                            "bytes (kaiko.max_response_bytes)"
                        )
                    chunks.append(chunk)
                body = b"".join(chunks)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransportError(f"GET {shown}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {shown}: {type(exc).__name__}: {exc}") from exc
        params = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
        return RawResponse(
            source=self.source_name,
            kind=KIND,
            url=shown,
            params=redact_params(params),
            fetched_at=self._clock(),
            http_status=response.status_code,
            body=body,
            extra={"retry_after": response.headers.get("Retry-After")},
        )

    def _redact(self, url: str) -> str:
        shown = redact_url(url)
        for secret in self._secrets:
            shown = shown.replace(secret, "REDACTED")
        return shown


def _retry_after(value: object, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _next_link(body: bytes, where: str) -> tuple[str | None, str | None]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResponseError(f"{where}: body is not JSON ({exc}); paging stopped") from None
    if not isinstance(doc, dict):
        raise ResponseError(f"{where}: body is not a JSON object; paging stopped")
    next_url, token = doc.get("next_url"), doc.get("continuation_token")
    return (
        next_url if isinstance(next_url, str) and next_url else None,
        token if isinstance(token, str) and token else None,
    )

"""One HTTP GET done carefully, for every source: timeouts, retries, a size cap, redaction.

:class:`HttpFetcher` sends a request until it succeeds or is final, and hands back every response
it received as a :class:`~audit_store.snapshots.RawResponse` so the caller keeps each one byte for
byte before anything else happens:

* 429, 5xx and network errors (and whatever the source's ``is_transient`` says, such as OKX's rate
  limit answered with HTTP 200 and code ``50011``) are retried with exponential backoff and full
  jitter, honouring ``Retry-After`` (delta-seconds or an HTTP date), bounded in attempts and in the
  total waiting time of one request. A retried response is still handed back, marked
  ``extra["transient"]``, so it is kept too. The retry re-sends the *same* request, so a paging
  walk resumes from the last good cursor.
* A body larger than ``max_response_bytes`` is refused without being read further (the declared
  ``Content-Length`` first, then the bytes as they stream in).
* Every request names the client: ``User-Agent: liqrisk/<version>`` (:data:`USER_AGENT`), as
  data vendors and exchanges ask; nothing else about the host or the firm goes out.
* URLs are redacted before they are kept or shown: secret-looking query parameters and any secret
  the source names (an API key) become ``REDACTED``.

* A host that could not be reached (a network error on every attempt until the fetcher gave up) is
  not waited for again in the same run: each later request gets one attempt, no retries, until a
  response arrives. A run against a host that is down (or with no network at all) ends in seconds
  per host instead of a full retry budget per request; nothing is lost, as the watermark of a
  failed fetch does not move and the next run asks again.
* :meth:`HttpFetcher.prefetch` starts the first attempt of a request on a background thread (a
  paging walk asks for the next page while the caller stores the current one); the retries, if any,
  happen in order on the caller's thread, so every response is still handed back as it comes.

Library errors are translated: ``httpx`` failures become :class:`TransportError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, Self
from urllib.parse import parse_qsl, urlsplit

import httpx

from audit_store import SOFTWARE_VERSION
from audit_store.snapshots import RawResponse, redact_params, redact_url
from reporting.errors import ResponseError, TransportError

USER_AGENT = f"liqrisk/{SOFTWARE_VERSION}"
"""How every request names its client (httpx would send ``python-httpx/<version>``)."""


class RetryPolicy(Protocol):
    """The settings a source gives its fetcher (``KaikoSource``, ``ExchangeApi``)."""

    @property
    def timeout_seconds(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def backoff_seconds(self) -> float: ...
    @property
    def backoff_max_seconds(self) -> float: ...
    @property
    def retry_budget_seconds(self) -> float: ...
    @property
    def max_response_bytes(self) -> int: ...


def _never(_raw: RawResponse) -> bool:
    return False


class HttpFetcher:
    def __init__(
        self,
        policy: RetryPolicy,
        *,
        source_name: str,
        settings_key: str,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        is_transient: Callable[[RawResponse], bool] = _never,
    ) -> None:
        self.policy = policy
        self.source_name = source_name
        self.settings_key = settings_key  # "kaiko", "binance": names the setting in messages
        self.clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not cryptography)
        self._secrets = [s for s in secrets if s]
        self._is_transient = is_transient
        self._prefetcher: ThreadPoolExecutor | None = None
        self.unreachable: str | None = None  # why the last request gave up on the network
        self.client = httpx.Client(
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
            timeout=httpx.Timeout(policy.timeout_seconds),
            follow_redirects=False,
        )

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.shutdown(wait=True)  # a request in flight ends before the client
            self._prefetcher = None
        self.client.close()

    def prefetch(self, request: httpx.Request, kind: str) -> Callable[[], RawResponse]:
        """Start the first attempt of ``request`` now, on the fetcher's one background thread;
        the returned callable waits for it (and raises what :meth:`send` raises). Pass it to
        :meth:`send_with_retries` as ``first_attempt``. One request in flight at a time."""
        if self._prefetcher is None:
            self._prefetcher = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"liqrisk-{self.source_name}-prefetch"
            )
        return self._prefetcher.submit(self.send, request, kind).result

    def request(self, url: str, params: Mapping[str, str] | None = None) -> httpx.Request:
        return self.client.build_request("GET", url, params=params)

    def send_with_retries(
        self,
        request: httpx.Request,
        kind: str,
        *,
        first_attempt: Callable[[], RawResponse] | None = None,
    ) -> Generator[RawResponse, None, RawResponse]:
        """Send ``request`` until it succeeds or is final: yields the transient failures on the way
        and returns the final response (use with ``yield from``). ``first_attempt``, from
        :meth:`prefetch`, is the first attempt already under way.

        After a request gave up on network errors, later ones get a single attempt until one
        receives a response (see :attr:`unreachable`)."""
        waited = 0.0
        down = self.unreachable
        attempts = 1 if down is not None else self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                if attempt == 1 and first_attempt is not None:
                    raw = first_attempt()
                else:
                    raw = self.send(request, kind)
            except TransportError as exc:
                delay = self._backoff(attempt)
                if last or waited + delay > self.policy.retry_budget_seconds:
                    self.unreachable = str(exc)
                    if down is not None:
                        raise TransportError(
                            f"{exc} (not retried: an earlier request of this run already gave "
                            "up on this host)"
                        ) from exc
                    raise TransportError(f"{exc} (gave up after {attempt} attempt(s))") from exc
            else:
                self.unreachable = None  # the host answers
                if not self.transient(raw):
                    return raw
                hinted = retry_after(raw.extra.get("retry_after"), self.clock())
                delay = hinted if hinted is not None else self._backoff(attempt)
                if last or waited + delay > self.policy.retry_budget_seconds:
                    return raw  # final: the caller keeps it and reports the status
                yield replace(raw, extra={**raw.extra, "transient": True, "attempt": attempt})
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable: the last attempt returns or raises")

    def transient(self, raw: RawResponse) -> bool:
        return raw.http_status == 429 or raw.http_status >= 500 or self._is_transient(raw)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.policy.backoff_max_seconds, self.policy.backoff_seconds * 2 ** (attempt - 1)
        )
        return self._rng.uniform(0, ceiling)

    def send(self, request: httpx.Request, kind: str) -> RawResponse:
        """One attempt: the response as a :class:`RawResponse`, or :class:`TransportError`."""
        shown = self.redact(str(request.url))
        cap = self.policy.max_response_bytes
        setting = f"{self.settings_key}.max_response_bytes"
        try:
            response = self.client.send(request, stream=True)
            try:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise ResponseError(
                        f"GET {shown}: response of {declared} bytes exceeds the "
                        f"cap of {cap} bytes ({setting})"
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():  # decoded content: what is kept and parsed
                    size += len(chunk)
                    if size > cap:
                        raise ResponseError(
                            f"GET {shown}: response exceeds the cap of {cap} bytes ({setting})"
                        )
                    chunks.append(chunk)
                body = b"".join(chunks)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransportError(f"GET {shown}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(
                f"GET {shown}: {type(exc).__name__}: {self.redact(str(exc))}"
            ) from exc
        params = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
        return RawResponse(
            source=self.source_name,
            kind=kind,
            url=shown,
            params={k: self.redact(v) for k, v in redact_params(params).items()},
            fetched_at=self.clock(),
            http_status=response.status_code,
            body=body,
            extra={"retry_after": response.headers.get("Retry-After")},
        )

    def redact(self, text: str) -> str:
        shown = redact_url(text) if "://" in text else text
        for secret in self._secrets:
            shown = shown.replace(secret, "REDACTED")
        return shown


def retry_after(value: object, now: datetime) -> float | None:
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


class SourceClient:
    """What every source client shares: one :class:`HttpFetcher`, closed with the client."""

    _http: HttpFetcher

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

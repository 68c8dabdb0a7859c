"""A real HTTP server on 127.0.0.1 with scriptable faults, for the exchange test servers.

Subclasses answer ``route(path, query)`` from the documented formats; tests script faults: a list
of canned responses consumed one per request before normal handling (``script``), or an answer for
the n-th request (``faults``). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Canned:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def answer(status: int, doc: Any) -> Canned:
    return Canned(status, json.dumps(doc).encode())


class LoopbackServer(ABC):
    def __init__(self) -> None:
        self.script: list[Canned] = []
        self.faults: dict[int, Canned] = {}
        self.requests: list[Seen] = []
        self.delay = 0.0  # added to every answer (to slow a walk down)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @abstractmethod
    def route(self, path: str, query: dict[str, str]) -> Canned:
        """The answer to a GET of ``path`` with ``query``, as the exchange documents it."""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                canned = server.handle(self.path, dict(self.headers))
                delay = canned.delay + server.delay
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(canned.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(canned.body)))
                    for k, v in canned.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(canned.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler

    def handle(self, raw_path: str, headers: dict[str, str]) -> Canned:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(Seen(parts.path, query, headers))
            fault = self.faults.get(len(self.requests))
            if fault is not None:
                return fault
            if self.script:
                return self.script.pop(0)
        refused = self.authorise(headers)
        return refused if refused is not None else self.route(parts.path, query)

    def authorise(self, headers: dict[str, str]) -> Canned | None:
        """The answer refusing a request with these headers, or ``None`` to route it (public
        endpoints: every request is routed)."""
        del headers
        return None

    @contextmanager
    def running(self) -> Iterator[LoopbackServer]:
        thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)

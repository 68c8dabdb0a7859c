"""Failed logins slow the next attempt, per account name and per address.

After :data:`FREE` failures in a row for a name (or from an address), each further attempt waits
for a delay that doubles with each failure (1 s, 2 s, 4 s, ... up to :data:`CAP` s); while it
lasts, a login is refused without checking the password. A success clears the name's count (not
the address's: one address trying many names stays slowed). Kept in memory: a restart forgets,
which only ever makes it more lenient. Failures are logged with the name and address, never the
password.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

log = logging.getLogger("liqrisk.web")

FREE = 5
CAP = 900.0


@dataclass
class _Count:
    failures: int = 0
    until: float = 0.0


class LoginThrottle:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], _Count] = {}
        self._lock = threading.Lock()

    def wait(self, name: str, address: str, now: float) -> float:
        """Seconds before ``name`` may try again from ``address`` (0: now)."""
        with self._lock:
            counts = [self._counts.get(("user", name)), self._counts.get(("addr", address))]
        return max([c.until - now for c in counts if c is not None] + [0.0])

    def failed(self, name: str, address: str, now: float) -> None:
        log.warning("console login failed for %r from %s", name, address)
        with self._lock:
            for key in (("user", name), ("addr", address)):
                count = self._counts.setdefault(key, _Count())
                count.failures += 1
                if count.failures >= FREE:
                    count.until = now + min(2.0 ** (count.failures - FREE), CAP)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._counts.pop(("user", name), None)

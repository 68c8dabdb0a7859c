"""``liqrisk collect`` as a real child process, for the intraday alert tests and the alert latency
bench: a complete config (SQLite store, a limits file of intraday tables only, SMTP on
127.0.0.1, one Binance stream pointed at a loopback server of :mod:`tests.ws_venues`), the
process in a session of its own so ``kill -9`` takes its writer process with it, and reads of
what the store holds.

The SMTP server is :class:`tests.notify_helpers.SmtpServer`; the command is
:func:`tests.schedule_helpers.liqrisk_command` (the console script of this environment).
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from audit_store.db import Store
from tests.schedule_helpers import liqrisk_command

RISK = "risk-desk@example.com"

STREAMS = {
    "venues": '["binance"]',
    "flush_seconds": "0.1",
    "lease_seconds": "1",  # a killed holder's stream is taken over at once
    "first_retry_seconds": "0.2",
    "max_retry_seconds": "0.5",
}
SMTP = {"host": '"127.0.0.1"', "security": '"none"', "timeout_seconds": "5"}
NOTIFY = {
    "retry_base_seconds": "1",  # the attempt refused while the SMTP server was down: due in 1 s
    "retry_max_seconds": "1",
    "lease_seconds": "3",  # a send cut off by kill -9 is due again after this
}


def _table(name: str, values: dict[str, str]) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"


@dataclass(frozen=True)
class CollectConfig:
    """A config directory: ``liqrisk.toml`` beside its ``limits.toml``."""

    directory: Path
    smtp_port: int
    limits_toml: str
    notify: dict[str, str] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)
    routes: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (("breach", (), (RISK,)),)
    # (severity, assets, to) per [[email.routes]]; assets empty: every asset
    assets: tuple[str, ...] = ("btc", "eth")
    extra_toml: str = ""  # more tables, appended (``[notify.webhooks.<name>]``)
    extra_env: dict[str, str] = field(default_factory=dict)  # the webhooks' HMAC keys
    fetch: dict[str, str] = field(default_factory=dict)  # more [fetch] keys (TOML values)

    @property
    def path(self) -> Path:
        return self.directory / "liqrisk.toml"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.directory / 'store.db'}"

    def write(self) -> CollectConfig:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "limits.toml").write_text(self.limits_toml, encoding="utf-8")
        routes = "".join(
            f'[[email.routes]]\nseverity = ["{severity}"]\n'
            + (f"assets = {list(assets)!r}\n" if assets else "")
            + f"to = {list(to)!r}\n\n"
            for severity, assets, to in self.routes
        ).replace("'", '"')
        self.path.write_text(
            'firm_name = "Intraday Test Ltd"\n'
            f'database_url = "{self.database_url}"\n'
            f'reports_dir = "{self.directory / "reports"}"\n'
            'limits_file = "limits.toml"\n\n'
            f'[audit]\nsigning_key_file = "{self.directory / "keys" / "signing.key"}"\n\n'
            + _table("fetch", {"assets": repr(list(self.assets)).replace("'", '"'), **self.fetch})
            + _table("streams", {**STREAMS, **self.streams})
            + '[email]\nsender = "liqrisk@example.com"\nallowed_domains = ["example.com"]\n\n'
            + routes
            + _table("smtp", SMTP | {"port": str(self.smtp_port)})
            + _table("notify", {**NOTIFY, **self.notify})
            + self.extra_toml,
            encoding="utf-8",
        )
        return self

    def env(self, ws_url: str) -> dict[str, str]:
        """The child's environment: this config, the loopback stream; nothing else overridden."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith("LIQRISK_")}
        return {
            **keep,
            **self.extra_env,
            "LIQRISK_CONFIG": str(self.path),
            "LIQRISK_BINANCE_WS_URL": ws_url,
        }

    def store(self) -> Store:
        return Store(self.database_url)


def liqrisk(config: CollectConfig, ws_url: str, *args: str, timeout: float = 120) -> str:
    """Run one ``liqrisk`` command to its end; its output (stdout and stderr). Raises on a non-zero
    exit, with the output."""
    done = subprocess.run(
        [*liqrisk_command(), *args],
        env=config.env(ws_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"liqrisk {' '.join(args)} exited {done.returncode}:\n{output}")
    return output


class Collect:
    """``liqrisk collect --source binance`` as a child process in a session of its own."""

    def __init__(self, config: CollectConfig, ws_url: str, log: Path, *args: str) -> None:
        self.config, self.ws_url, self.log, self.args = config, ws_url, log, args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Collect:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*liqrisk_command(), "collect", "--source", "binance", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.config.env(self.ws_url),
                start_new_session=True,  # its own process group: the writer process with it
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> int:
        """SIGKILL to the collector and its writer process at once; the exit status."""
        assert self.process is not None
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a clean stop), then SIGKILL to the group if it does not exit in time."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def scalar(store: Store, sql: str, **params: Any) -> Any:
    """One value of one SQL query on the store (its own read session)."""
    with store.read_session() as session:
        return session.execute(text(sql), params).scalar()

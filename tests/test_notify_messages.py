"""Messages, lifecycle and notify config, without a server: injection, escaping, validation."""

from __future__ import annotations

import email
import email.policy
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from audit_store.db import Store
from reporting.config import Route, Settings, load_settings
from reporting.errors import ConfigError, NotifyError
from reporting.notify import breach_events, drain, enqueue_breach_notices, enqueue_daily_report
from reporting.notify.messages import header_text
from reporting.notify.smtp import eml_filename
from reporting.resources import default_config_file
from tests.notify_helpers import DAY, DummyReport, FakeClock, dummy_report, store_results

EVIL_EXCHANGE = "binc\r\nBcc: victim@evil.example\r\n\r\n<script>alert(1)</script>"
EVIL_ASSET = "BTC\u2028X-Injected: yes"


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def outbox_files(settings: Settings) -> dict[str, EmailMessage]:
    folder = settings.reports_dir / "outbox"
    return {p.name: parse(p.read_bytes()) for p in sorted(folder.glob("*.eml"))}


def test_external_strings_cannot_inject_headers_or_markup(store: Store, settings: Settings) -> None:
    store_results(
        store,
        DAY,
        {
            ("daily_usd_exchange", f"BTC/{EVIL_EXCHANGE}"): "breach",
            ("daily_usd", EVIL_ASSET): "breach",
        },
    )
    evil_firm = settings.model_copy(update={"firm_name": "Firm\r\nBcc: x@evil.example"})
    with store.session() as session:
        enqueue_breach_notices(session, evil_firm, DAY)
    drain(store, evil_firm)
    ((name, msg),) = outbox_files(settings).items()
    assert name.startswith("2025-11-03_breach_email.")
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert set(msg.keys()) == {
        "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "X-Liqrisk-Version",
        "MIME-Version", "Content-Type",
    }  # fmt: skip
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["To"] == "compliance@example.com, risk-desk@example.com"
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "\nBcc:" not in plain.replace("\r\n", "\n")  # external strings are one line in bodies


def test_header_text_drops_every_line_break() -> None:
    for sep in ("\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x00"):
        assert header_text(f"a{sep}Bcc: x") == "a Bcc: x"
    assert header_text("x" * 500).endswith("…") and len(header_text("x" * 500)) == 200


def test_report_email_to_eml_file_with_its_pdf(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    store_results(store, DAY, {("daily_usd", "BTC"): "breach", ("coverage", "ETH"): "error"})
    report = dummy_report(tmp_path)
    with store.session() as session:
        enqueue_daily_report(session, settings, DAY, report)
    drain(store, settings)
    msg = outbox_files(settings)["2025-11-03_report_compliance.eml"]
    assert msg["Subject"] == (
        "[liqrisk] Example Derivatives Ltd: risk report 2025-11-03: 1 breach, 0 warnings"
    )
    assert msg.get_content_type() == "multipart/mixed"
    parts = [p.get_content_type() for p in msg.walk()]
    assert parts == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf",
    ]  # fmt: skip
    (pdf,) = msg.iter_attachments()
    assert pdf.get_content() == report.pdf_path.read_bytes()
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert report.pdf_sha256 in plain and "Could not be checked" in plain


def test_report_pdf_must_be_the_rendered_file(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    report = dummy_report(tmp_path)
    changed = DummyReport(report.pdf_path, "0" * 64)
    with pytest.raises(NotifyError, match="changed after it was rendered"), store.session() as s:
        enqueue_daily_report(s, settings, DAY, changed)
    missing = DummyReport(tmp_path / "none.pdf", report.pdf_sha256)
    with pytest.raises(NotifyError, match="cannot read the report"), store.session() as s:
        enqueue_daily_report(s, settings, DAY, missing)


def test_eml_names_are_deterministic() -> None:
    assert eml_filename("report:2025-11-03:compliance") == "2025-11-03_report_compliance.eml"
    assert eml_filename("breach:2025-11-03:webhook.ops.abc") == (
        "2025-11-03_breach_webhook.ops.abc.eml"
    )
    assert eml_filename("x:../../etc:pa/ss") == "_.._etc_x_pa_ss.eml"


# --- lifecycle -----------------------------------------------------------------------------------


def states(store: Store, day: date, *levels: str) -> dict[tuple[str, str], str]:
    with store.session() as session:
        events = breach_events(session, day, levels or ("breach",))  # type: ignore[arg-type]
    return {(e.scope, e.severity): e.state for e in events}


def test_lifecycle_from_consecutive_days(store: Store) -> None:
    d1, d2 = DAY, DAY + timedelta(days=1)
    first = {"BTC": "breach", "ETH": "breach", "SOL": "ok", "XRP": "error", "ADA": "warn"}
    second = {"BTC": "breach", "ETH": "warn", "SOL": "breach", "XRP": "breach", "ADA": "breach"}
    store_results(store, d1, {("daily_usd", a): s for a, s in first.items()})
    store_results(store, d2, {("daily_usd", a): s for a, s in second.items()})
    assert states(store, d2) == {
        ("BTC", "breach"): "ongoing",
        ("ETH", "breach"): "resolved",
        ("SOL", "breach"): "new",
        ("XRP", "breach"): "new",  # the day before was an error: not known to be in breach
        ("ADA", "breach"): "new",
    }
    both = states(store, d2, "breach", "warn")
    assert both[("ETH", "warn")] == "ongoing" and both[("ADA", "warn")] == "ongoing"
    assert both[("SOL", "warn")] == "new"


def test_lifecycle_reads_the_latest_run_of_each_day(store: Store) -> None:
    store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
    store_results(store, DAY, {("daily_usd", "BTC"): "ok"})  # the day checked again
    store_results(store, DAY + timedelta(days=1), {("daily_usd", "BTC"): "breach"})
    assert states(store, DAY + timedelta(days=1)) == {("BTC", "breach"): "new"}
    store_results(store, DAY + timedelta(days=2), {("daily_usd", "BTC"): "error"})
    assert states(store, DAY + timedelta(days=2)) == {}  # nothing known today: nothing said


def test_warnings_are_inhibited_by_the_breach_for_the_same_people(
    store: Store, settings: Settings
) -> None:
    routed = settings.model_copy(
        update={
            "email": settings.email.model_copy(
                update={
                    "routes": (
                        Route(severity=("breach", "warn"), to=("desk@example.com",)),
                        Route(severity=("warn",), to=("watch@example.com",)),
                    )
                }
            )
        }
    )
    store_results(store, DAY, {("daily_usd", "BTC"): "breach", ("daily_usd", "ETH"): "warn"})
    with store.session() as session:
        messages = enqueue_breach_notices(session, routed, DAY, clock=FakeClock())
    bodies = {
        m.recipients_json: parse(m.body).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in messages
    }
    desk = bodies['["desk@example.com"]']
    assert desk.count("[BREACH]") == 1 and desk.count("[WARN]") == 1  # BTC once, ETH once
    watch = bodies['["watch@example.com"]']  # warn level only: hears of both, BTC as a breach
    assert "[BREACH]" in watch and "[WARN]" in watch


# --- config --------------------------------------------------------------------------------------


def write_config(tmp_path: Path, old: str, new: str) -> Path:
    text = default_config_file().read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "liqrisk.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_packaged_notify_config() -> None:
    s = load_settings(env={})
    assert s.email.allowed_domains == ("example.com",)
    assert s.notify.repeat_interval == timedelta(hours=24)
    assert s.email.breach_routes()[0].to == ("risk-desk@example.com", "compliance@example.com")
    assert s.smtp.host is None and s.smtp.security == "starttls"


@pytest.mark.parametrize(
    ("old", "new", "key", "value"),
    [
        ('risk = ["risk-desk@example.com"]', 'risk = ["x@evil.example"]', "email.risk",
         "x@evil.example"),
        ('to = ["risk-desk@example.com", "compliance@example.com"]', 'to = ["a@example.org"]',
         "email.routes", "a@example.org"),
        ('allowed_domains = ["example.com"]', "allowed_domains = []", "email.compliance",
         "compliance@example.com"),
        ('repeat_interval = "24h"', 'repeat_interval = "12h"', "notify.repeat_interval", "12h"),
        ('repeat_interval = "24h"', 'repeat_interval = "soon"', "notify.repeat_interval", "soon"),
    ],
)  # fmt: skip
def test_notify_config_errors_name_file_key_and_value(
    tmp_path: Path, old: str, new: str, key: str, value: str
) -> None:
    path = write_config(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    message = str(err.value)
    assert str(path) in message and f"key {key}" in message and value in message


def test_repeat_interval_forms(tmp_path: Path) -> None:
    for form, days in (('"48h"', 2), ('"7d"', 7), ("24", 1)):
        path = write_config(tmp_path, 'repeat_interval = "24h"', f"repeat_interval = {form}")
        assert load_settings(path, env={}).notify.repeat_interval == timedelta(days=days)


def test_webhook_config(tmp_path: Path) -> None:
    hook = '[notify.webhooks.ops]\nurl = "https://hooks.example.com/x"\nsecret_env = "OPS_KEY"\n'
    path = write_config(tmp_path, "# [notify.webhooks.ops]", hook + "# [notify.webhooks.ops]")
    s = load_settings(path, env={})
    assert s.notify.webhooks["ops"].secret_env == "OPS_KEY"
    bad = write_config(
        tmp_path, "# [notify.webhooks.ops]", hook.replace("OPS_KEY", "ops key") + "#"
    )
    with pytest.raises(ConfigError, match=r"notify\.webhooks\.ops\.secret_env"):
        load_settings(bad, env={})
    badly_named = write_config(
        tmp_path, "# [notify.webhooks.ops]", hook.replace("webhooks.ops", 'webhooks."Ops Desk"')
    )
    with pytest.raises(ConfigError) as err:
        load_settings(badly_named, env={})
    assert "notify.webhooks.Ops Desk" in str(err.value) and "hooks.example.com" not in str(
        err.value
    )


def test_smtp_security_from_the_environment() -> None:
    s = load_settings(env={"LIQRISK_SMTP_SECURITY": "tls", "LIQRISK_SMTP_PORT": "465"})
    assert (s.smtp.security, s.smtp.port) == ("tls", 465)
    with pytest.raises(ConfigError, match=r"\$LIQRISK_SMTP_SECURITY"):
        load_settings(env={"LIQRISK_SMTP_SECURITY": "ssl3"})

"""RFC 3161 time stamps on checkpoints, against a real TSA on 127.0.0.1 (``openssl ts -reply``).

What a token must be is checked when it arrives (and again by ``liqrisk verify``): a wrong imprint,
a token from another CA, a replayed token (another request's nonce), a reply OpenSSL wrote with an
unsorted chain, a refusal and a TSA that is down each leave the checkpoint waiting, with the reason
recorded, and never stop the caller; a kept token whose time does not fit between its checkpoint's
signing and the next one's is named by the re-check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store.checkpoint import load_signer, sign_checkpoint
from audit_store.errors import TimestampError
from audit_store.models import Checkpoint
from audit_store.tables_timestamps import FAILED, STAMPED, TimestampRequest
from audit_store.timestamping import check_kept_tokens, load_trust, time_problem, waiting
from reporting.config import Anchor, Settings
from reporting.notify.anchor import stamp_latest
from tests.export_helpers import DAY, Built, add_later_snapshot, build_store
from tests.tsa_server import Pki, TsaServer, make_pki, needs_openssl, running_tsa

pytestmark = needs_openssl
SKEW = timedelta(seconds=120)


@dataclass
class Firm:
    built: Built
    pki: Pki
    tsa: TsaServer
    settings: Settings

    def sign(self, now: datetime | None = None) -> Checkpoint:
        origin = self.settings.audit.origin
        signer = load_signer(origin, self.built.key_file, environ={})
        return sign_checkpoint(self.built.store, signer, origin, now=now)

    def grow(self, base: float) -> None:
        add_later_snapshot(self.built.store, DAY + timedelta(days=20), base)

    def rows(self) -> list[TimestampRequest]:
        with self.built.store.read_session() as session:
            query = select(TimestampRequest).order_by(col(TimestampRequest.id))
            rows = list(session.scalars(query))
            session.expunge_all()  # read after the session, as loaded
            return rows

    def problems(self, trust_pki: Pki | None = None) -> list[str]:
        trust = load_trust((trust_pki or self.pki).ca)
        with self.built.store.read_session() as session:
            return [p.message for p in check_kept_tokens(session, trust, SKEW)]


def anchored(settings: Settings, url: str, ca: Path, **extra: object) -> Settings:
    return settings.model_copy(update={"anchor": Anchor(tsa_url=url, tsa_ca_file=ca, **extra)})


@pytest.fixture
def firm(tmp_path: Path) -> Iterator[Firm]:
    (tmp_path / "firm").mkdir()
    built = build_store(tmp_path / "firm")
    pki = make_pki(tmp_path / "pki")
    with running_tsa(pki) as tsa:
        yield Firm(built, pki, tsa, anchored(built.settings, tsa.url, pki.ca))
    built.store.dispose()


def test_a_signed_checkpoint_gets_a_verified_token(firm: Firm) -> None:
    checkpoint = firm.sign()
    outcome = stamp_latest(firm.built.store, firm.settings)
    assert outcome.status == "stamped", outcome.message
    (row,) = firm.rows()
    assert (row.outcome, row.checkpoint_id, row.tree_size) == (
        STAMPED,
        checkpoint.id,
        checkpoint.tree_size,
    )
    assert row.response is not None and row.gen_time is not None
    assert abs(row.gen_time.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)
    assert firm.problems() == []
    # Covered: asking again sends nothing.
    again = stamp_latest(firm.built.store, firm.settings)
    assert again.status == "current" and firm.tsa.queries == 1


def test_no_tsa_configured_is_off(firm: Firm) -> None:
    firm.sign()
    outcome = stamp_latest(firm.built.store, firm.built.settings)
    assert outcome.status == "off" and firm.tsa.queries == 0 and firm.rows() == []


def test_a_tsa_that_is_down_leaves_the_checkpoint_waiting_and_is_asked_again(firm: Firm) -> None:
    firm.sign()
    firm.tsa.mode = "down"
    t0 = datetime.now(UTC)
    failed = stamp_latest(firm.built.store, firm.settings, clock=lambda: t0)
    assert failed.status == "failed" and "answered HTTP 503" in failed.message
    later = stamp_latest(firm.built.store, firm.settings, clock=lambda: t0 + timedelta(seconds=60))
    assert later.status == "later" and firm.tsa.queries == 1
    with firm.built.store.read_session() as session:
        assert waiting(session, firm.tsa.url).count == 1
    firm.tsa.mode = "ok"
    retried = stamp_latest(firm.built.store, firm.settings, clock=lambda: t0 + timedelta(hours=1))
    assert retried.status == "stamped"
    assert [r.outcome for r in firm.rows()] == [FAILED, STAMPED]
    with firm.built.store.read_session() as session:
        assert waiting(session, firm.tsa.url).count == 0


def test_a_tsa_that_cannot_be_reached_is_a_recorded_failure(firm: Firm, tmp_path: Path) -> None:
    firm.sign()
    settings = anchored(firm.settings, "http://127.0.0.1:9/tsr", firm.pki.ca)
    outcome = stamp_latest(firm.built.store, settings)
    assert outcome.status == "failed" and "could not be reached" in outcome.message
    assert firm.rows()[0].error is not None


def test_a_later_token_covers_the_checkpoints_waiting_before_it(firm: Firm) -> None:
    firm.tsa.mode = "down"
    firm.sign()
    stamp_latest(firm.built.store, firm.settings)
    firm.grow(11.0)
    firm.sign()
    with firm.built.store.read_session() as session:
        assert waiting(session, firm.tsa.url).count == 2
    firm.tsa.mode = "ok"
    assert stamp_latest(firm.built.store, firm.settings, force=True).status == "stamped"
    with firm.built.store.read_session() as session:
        assert waiting(session, firm.tsa.url).count == 0
    assert [r.outcome for r in firm.rows()] == [FAILED, STAMPED]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("refuse", "refused the request: REJECTION"),
        ("wrong_imprint", "not the checkpoint's SHA-256"),
        ("chain", "no valid RFC 3161 time-stamp response"),
    ],
)
def test_a_bad_answer_is_refused_with_a_clear_reason(firm: Firm, mode: str, expected: str) -> None:
    firm.sign()
    firm.tsa.mode = mode
    outcome = stamp_latest(firm.built.store, firm.settings)
    assert outcome.status == "failed"
    assert expected in outcome.message and firm.tsa.url in outcome.message
    (row,) = firm.rows()
    assert row.outcome == FAILED and row.response is None


def test_a_replayed_token_is_refused_by_its_nonce(firm: Firm) -> None:
    firm.sign()
    assert stamp_latest(firm.built.store, firm.settings).status == "stamped"
    # The same checkpoint asked for again (as after a lost answer): the TSA replays its old token.
    settings = anchored(firm.settings, firm.tsa.url + "?again", firm.pki.ca)
    firm.tsa.mode = "replay"
    outcome = stamp_latest(firm.built.store, settings)
    assert outcome.status == "failed"
    assert "not the request's" in outcome.message and "replayed" in outcome.message


def test_a_token_from_another_ca_is_refused(firm: Firm, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", name="Other")
    firm.sign()
    settings = anchored(firm.settings, firm.tsa.url, other.ca)
    outcome = stamp_latest(firm.built.store, settings)
    assert outcome.status == "failed"
    assert "does not verify against [anchor] tsa_ca_file" in outcome.message


def test_the_pinned_tsa_certificate_must_be_the_signer(firm: Firm, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", name="Other")
    firm.sign()
    settings = anchored(firm.settings, firm.tsa.url, firm.pki.ca, tsa_cert_file=other.tsa_cert)
    assert stamp_latest(firm.built.store, settings).status == "failed"
    pinned = anchored(firm.settings, firm.tsa.url, firm.pki.ca, tsa_cert_file=firm.pki.tsa_cert)
    assert stamp_latest(firm.built.store, pinned, force=True).status == "stamped"


def test_kept_tokens_are_checked_against_the_ca_again(firm: Firm, tmp_path: Path) -> None:
    firm.sign()
    stamp_latest(firm.built.store, firm.settings)
    other = make_pki(tmp_path / "other", name="Other")
    (problem,) = firm.problems(trust_pki=other)
    assert "does not verify against [anchor] tsa_ca_file" in problem


def test_a_token_time_after_the_next_checkpoint_is_named(firm: Firm) -> None:
    # The log claims its checkpoints were signed in 2025; the TSA says the first was stamped now.
    firm.sign(now=datetime(2025, 11, 4, 2, tzinfo=UTC))
    assert stamp_latest(firm.built.store, firm.settings).status == "stamped"
    firm.grow(12.0)
    firm.sign(now=datetime(2025, 11, 5, 2, tzinfo=UTC))
    (problem,) = firm.problems()
    assert "is after the next checkpoint was signed at 2025-11-05T02:00:00+00:00" in problem


def test_a_token_time_before_the_checkpoint_was_signed_is_named(firm: Firm) -> None:
    firm.sign(now=datetime.now(UTC) + timedelta(days=3))  # a checkpoint dated in the future
    assert stamp_latest(firm.built.store, firm.settings).status == "stamped"
    (problem,) = firm.problems()
    assert "is before the checkpoint was signed" in problem


def test_time_problem_bounds() -> None:
    signed = datetime(2026, 1, 1, tzinfo=UTC)
    following = signed + timedelta(hours=1)
    assert time_problem(signed + timedelta(minutes=1), signed, following, SKEW) is None
    assert time_problem(signed - timedelta(seconds=60), signed, following, SKEW) is None  # skew
    assert time_problem(signed - timedelta(seconds=600), signed, following, SKEW) is not None
    assert time_problem(following + timedelta(seconds=600), signed, following, SKEW) is not None
    assert time_problem(following + timedelta(days=9), signed, None, SKEW) is None  # the latest


def test_an_unreadable_ca_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(TimestampError, match=r"\[anchor\] tsa_ca_file .*cannot be read"):
        load_trust(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TimestampError, match="holds no PEM certificate"):
        load_trust(junk)

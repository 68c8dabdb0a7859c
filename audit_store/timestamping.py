"""RFC 3161 time on signed checkpoints: ask a Time-Stamping Authority, check what it answers, keep
the token (:mod:`audit_store.tables_timestamps`), and check every kept token again later.

What is stamped is the checkpoint's note, exactly as published (its UTF-8 bytes), hashed with
SHA-256. Requests carry a random 64-bit nonce and ask for the TSA's certificate. A response is kept
only once it checks out, in this order, each failure one clear :class:`TimestampError`:

1. it parses as a TimeStampResp (``rfc3161-client`` >= 1.0.6 refuses, as invalid DER, a reply
   whose certificate set is not in DER order, as OpenSSL writes a chain it was given unsorted);
2. its status is *granted*;
3. its message imprint is SHA-256 of this note, and its nonce is this request's (an old token
   replayed for the same checkpoint has another nonce);
4. its CMS signature is by a certificate with the critical timeStamping extended key usage that
   chains to the configured CA (and is the configured TSA certificate, when one is given).

The HTTP exchange is the caller's (``post``): the evidence layer decides what a token must be, the
application how to reach the TSA. :func:`check_kept_tokens` re-checks every stored token for
``liqrisk verify``, and also that the TSA's time lies between the checkpoint's signing and the next
checkpoint's (within ``skew``): a token the firm got for a backdated or reordered log fails there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from rfc3161_client._rust import parse_timestamp_request
from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.errors import TimestampError
from audit_store.models import Checkpoint
from audit_store.tables_timestamps import FAILED, STAMPED, TimestampRequest

_SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
Post = Callable[[str, bytes], bytes]
"""``post(url, request DER) -> response DER``; raises :class:`TimestampError` on any failure."""


@dataclass(frozen=True)
class TsaTrust:
    """Whom a token must chain to: the TSA's CA certificates, and optionally its own certificate."""

    roots: tuple[x509.Certificate, ...]
    tsa_certificate: x509.Certificate | None = None


def load_trust(ca_file: Path, cert_file: Path | None = None) -> TsaTrust:
    """The CA certificates (PEM, one or more) in ``ca_file`` and the TSA's own in ``cert_file``."""
    roots = _certificates(ca_file, "tsa_ca_file")
    tsa = _certificates(cert_file, "tsa_cert_file")[0] if cert_file is not None else None
    return TsaTrust(tuple(roots), tsa)


def _certificates(path: Path, key: str) -> list[x509.Certificate]:
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise TimestampError(f"[anchor] {key} {path}: cannot be read ({exc.strerror})") from exc
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TimestampError(f"[anchor] {key} {path}: holds no PEM certificate") from exc
    return found


def message_sha256(note: str) -> str:
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Token:
    """What a checked response says."""

    gen_time: datetime
    serial_number: int
    nonce: int


def check_response(
    data: bytes, *, note: str, nonce: int, trust: TsaTrust, tsa: str
) -> tuple[TimeStampResponse, Token]:
    """The response ``data`` checked against the request for ``note`` (steps 1-4 above)."""
    try:
        response = decode_timestamp_response(data)
    except ValueError as exc:
        raise TimestampError(
            f"the TSA {tsa} answered with no valid RFC 3161 time-stamp response ({exc}); a reply "
            "whose certificates are not in DER order (as OpenSSL writes an unsorted chain) is "
            "refused so: have the TSA send the signer's certificate only"
        ) from exc
    status = PKIStatus(response.status)
    if status != PKIStatus.GRANTED:
        detail = "; ".join(response.status_string) if response.status_string else "no reason"
        raise TimestampError(f"the TSA {tsa} refused the request: {status.name} ({detail})")
    info = response.tst_info
    expected = hashlib.sha256(note.encode("utf-8")).digest()
    if info.message_imprint.hash_algorithm != _SHA256_OID or info.message_imprint.message != (
        expected
    ):
        raise TimestampError(
            f"the token from {tsa} stamps {info.message_imprint.message.hex()}, not the "
            f"checkpoint's SHA-256 {expected.hex()}"
        )
    if info.nonce != nonce:
        raise TimestampError(
            f"the token from {tsa} carries nonce {info.nonce}, not the request's {nonce}: a "
            "replayed or misdirected token"
        )
    builder = VerifierBuilder(
        roots=list(trust.roots), tsa_certificate=trust.tsa_certificate, nonce=nonce
    )
    try:
        builder.build().verify_message(response, note.encode("utf-8"))
    except VerificationError as exc:
        raise TimestampError(
            f"the token from {tsa} does not verify against [anchor] tsa_ca_file: {_reason(exc)}"
        ) from exc
    gen_time = info.gen_time if info.gen_time.tzinfo else info.gen_time.replace(tzinfo=UTC)
    return response, Token(gen_time.astimezone(UTC), info.serial_number, nonce)


def _reason(exc: Exception) -> str:
    """The library's reason in a line: OpenSSL's own words when it gave them."""
    text = str(exc)
    said = re.findall(r'data: "([^"]+)"', text)
    return "; ".join(said) if said else " ".join(text.split())[:300]


def request_token(
    session: Session,
    checkpoint: Checkpoint,
    *,
    tsa_url: str,
    trust: TsaTrust,
    post: Post,
    now: datetime,
) -> TimestampRequest:
    """Ask the TSA for a token on ``checkpoint`` and record the attempt (stamped or failed); the
    caller commits. Never raises for the TSA's sake: a failure is the row's ``error``."""
    assert checkpoint.id is not None
    request = TimestampRequestBuilder(
        data=checkpoint.note.encode("utf-8"), hash_algorithm=HashAlgorithm.SHA256
    ).build()
    nonce = int(request.nonce) if request.nonce is not None else 0
    row = TimestampRequest(
        checkpoint_id=checkpoint.id,
        tree_size=checkpoint.tree_size,
        tsa_url=tsa_url,
        requested_at=now,
        message_sha256=message_sha256(checkpoint.note),
        nonce=str(nonce),
        outcome=FAILED,
        request=request.as_bytes(),
    )
    try:
        data = post(tsa_url, request.as_bytes())
        _, token = check_response(data, note=checkpoint.note, nonce=nonce, trust=trust, tsa=tsa_url)
    except TimestampError as exc:
        row.error = str(exc)
    else:
        row.outcome, row.response, row.gen_time = STAMPED, data, token.gen_time
    session.add(row)
    session.flush()
    return row


# -- what waits, and what was kept


@dataclass(frozen=True)
class Waiting:
    """Checkpoints with no token of their own nor of a later checkpoint."""

    count: int
    oldest_signed_at: datetime | None
    latest: Checkpoint | None  # the one to stamp: its token covers all the others
    last_error: str | None
    last_attempt_at: datetime | None


def waiting(session: Session, tsa_url: str) -> Waiting:
    stamped = session.scalars(
        select(col(TimestampRequest.tree_size))
        .where(col(TimestampRequest.outcome) == STAMPED, col(TimestampRequest.tsa_url) == tsa_url)
        .order_by(col(TimestampRequest.tree_size).desc())
        .limit(1)
    ).first()
    query = select(Checkpoint).order_by(col(Checkpoint.id))
    if stamped is not None:
        query = query.where(col(Checkpoint.tree_size) > stamped)
    open_ = list(session.scalars(query))
    if not open_:
        return Waiting(0, None, None, None, None)
    latest = open_[-1]
    attempt = session.scalars(
        select(TimestampRequest)
        .where(
            col(TimestampRequest.tsa_url) == tsa_url,
            col(TimestampRequest.checkpoint_id).in_([c.id for c in open_]),
        )
        .order_by(col(TimestampRequest.id).desc())
        .limit(1)
    ).first()
    return Waiting(
        len(open_),
        open_[0].created_at,
        latest,
        None if attempt is None else attempt.error,
        None if attempt is None else attempt.requested_at,
    )


@dataclass(frozen=True)
class TokenProblem:
    record_id: int | None
    message: str


def check_kept_tokens(
    session: Session, trust: TsaTrust | None, skew: timedelta
) -> Iterator[TokenProblem]:
    """Every stored token, checked as when it arrived, and its time against the checkpoints'."""
    checkpoints = list(session.scalars(select(Checkpoint).order_by(col(Checkpoint.id))))
    position = {c.id: i for i, c in enumerate(checkpoints)}
    rows = session.scalars(
        select(TimestampRequest)
        .where(col(TimestampRequest.outcome) == STAMPED)
        .order_by(col(TimestampRequest.id))
    )
    for row in rows:
        label = f"token {row.id} on checkpoint {row.checkpoint_id} ({row.tsa_url})"
        index = position.get(row.checkpoint_id)
        if index is None or row.response is None:
            yield TokenProblem(row.id, f"{label}: its checkpoint or response is missing")
            continue
        checkpoint = checkpoints[index]
        if message_sha256(checkpoint.note) != row.message_sha256:
            yield TokenProblem(row.id, f"{label}: was asked for another note than the checkpoint's")
            continue
        try:
            asked = parse_timestamp_request(row.request).nonce
        except ValueError:
            asked = None
        if asked is None or str(asked) != row.nonce:
            yield TokenProblem(row.id, f"{label}: the stored request does not carry its nonce")
            continue
        if trust is None:
            yield TokenProblem(row.id, f"{label}: cannot be checked, no [anchor] tsa_ca_file")
            continue
        try:
            _, token = check_response(
                row.response,
                note=checkpoint.note,
                nonce=int(row.nonce),
                trust=trust,
                tsa=row.tsa_url,
            )
        except TimestampError as exc:
            yield TokenProblem(row.id, f"{label}: {exc}")
            continue
        following = checkpoints[index + 1].created_at if index + 1 < len(checkpoints) else None
        problem = time_problem(token.gen_time, checkpoint.created_at, following, skew)
        if problem is not None:
            yield TokenProblem(row.id, f"{label}: {problem}")
        elif row.gen_time is not None and as_utc(row.gen_time) != token.gen_time:
            yield TokenProblem(row.id, f"{label}: the recorded time differs from the token's")


def time_problem(
    gen_time: datetime, signed_at: datetime, next_signed_at: datetime | None, skew: timedelta
) -> str | None:
    """Why the TSA's time cannot be this checkpoint's, or None: it must come after the checkpoint
    was signed and before the next one was (each within ``skew`` of clock difference)."""
    signed, stamped = as_utc(signed_at), as_utc(gen_time)
    if stamped < signed - skew:
        return (
            f"the TSA's time {stamped.isoformat()} is before the checkpoint was signed at "
            f"{signed.isoformat()}"
        )
    if next_signed_at is not None and stamped > as_utc(next_signed_at) + skew:
        return (
            f"the TSA's time {stamped.isoformat()} is after the next checkpoint was signed at "
            f"{as_utc(next_signed_at).isoformat()}"
        )
    return None

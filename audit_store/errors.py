"""The one exception hierarchy of liqrisk.

Every error a user can meet is a ``LiqriskError``; the CLI prints its message as one line and exits
non-zero. Library errors (SQLAlchemy, httpx, WeasyPrint, ...) are translated at the boundary with
``raise ... from exc`` so the cause stays in the chain for debugging but never in the user's face.
Messages never contain secrets (API keys, passwords, signing keys).

The root lives here, in the evidence layer, because ``audit_store`` must not import ``reporting``;
the application's errors extend it in ``reporting.errors``::

    LiqriskError
    ├── StoreError                  audit_store: the database could not be opened, read or written
    │   ├── SchemaError             the schema is missing or another version; run `liqrisk init`
    │   └── AppendOnlyViolation     an UPDATE or DELETE on an audit table was attempted
    ├── IntegrityError              audit_store: the store was found altered (see verify.py)
    │   ├── ProofError              a Merkle proof or a signed note does not verify
    │   └── UnsafeArchiveError      an audit package is unsafe to unpack (absolute path, '..',
    │                               link, oversize or too many members, zip bomb)
    ├── ExportError                 audit_store: an audit package could not be written or read
    ├── SigningKeyError             audit_store: the checkpoint signing key is missing, malformed,
    │                               or would be overwritten
    ├── TimestampError              audit_store: a Time-Stamping Authority could not be reached,
    │                               refused, or answered with a token that does not check out
    ├── ConfigError                 reporting: a config file or variable is missing or invalid
    ├── SourceError                 reporting: a data source could not deliver
    │   ├── AuthError               401/403: the API key is missing or refused
    │   ├── TransportError          network failure, timeout, too many retries
    │   └── ResponseError           the server answered, but not with what the format documents
    ├── CheckError                  reporting: a check run could not be started (a single check
    │                               failing becomes an ``error`` result, not an exception)
    ├── RenderError                 reporting: the report could not be rendered (Jinja2, WeasyPrint)
    ├── NotifyError                 reporting: a message could not be queued or sent
    ├── NotFound                    reporting: a record the user named does not exist
    └── Interrupted                 reporting: the daemon is stopping; the job resumes next start
"""

from __future__ import annotations


class LiqriskError(Exception):
    """Root of every error liqrisk reports to a user."""


class StoreError(LiqriskError):
    """The audit store could not be opened, read or written."""


class SchemaError(StoreError):
    """The store's schema is missing or does not match this software."""


class AppendOnlyViolation(StoreError):
    """An UPDATE or DELETE was attempted on an append-only audit table."""


class IntegrityError(LiqriskError):
    """Verification found that stored evidence was altered, removed or inserted."""


class ProofError(IntegrityError):
    """A Merkle inclusion or consistency proof, or a signed note, failed to verify."""


class SigningKeyError(LiqriskError):
    """The checkpoint signing key is missing, malformed, or would be overwritten.

    Messages name the key's file or variable, never its content.
    """


class UnsafeArchiveError(IntegrityError):
    """An audit package's zip would write outside its folder, or is too big to unpack safely.

    Raised before anything is extracted; the message names the offending member.
    """


class TimestampError(LiqriskError):
    """An RFC 3161 time-stamp token could not be had, or does not check out; the message names the
    TSA and what is wrong. Never fatal to a report: the checkpoint waits for its token."""


class ExportError(LiqriskError):
    """An audit package could not be written or read: an empty range, a file system error."""

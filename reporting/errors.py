"""Application errors; the whole tree is drawn in :mod:`audit_store.errors`."""

from __future__ import annotations

from audit_store.errors import LiqriskError


class ConfigError(LiqriskError):
    """A config file, key or environment variable is missing or invalid.

    The message names the file, the key and the offending value (never a secret's value).
    """


class SourceError(LiqriskError):
    """A data source could not deliver what was asked of it."""


class AuthError(SourceError):
    """The API answered 401/403: the key is missing or refused."""


class TransportError(SourceError):
    """The request failed on the network: connection, timeout, retries exhausted."""


class ResponseError(SourceError):
    """The server answered with something the documented format does not allow."""


class CheckError(LiqriskError):
    """A check run could not be started at all."""


class RenderError(LiqriskError):
    """The report could not be rendered."""


class NotifyError(LiqriskError):
    """A message could not be queued or sent."""


class NotFound(LiqriskError):
    """A record the user named (an outbox message, a check result) does not exist: an input
    error (exit 2), not a fault of the store."""


class Interrupted(LiqriskError):
    """The daemon is stopping: the job stops between two pages and is resumed at the next start."""

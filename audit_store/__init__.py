"""liqrisk's evidence layer: raw snapshots, their Merkle log, derived rows and check results.

Nothing in this package imports :mod:`reporting`; a regulator's trust rests on it alone.

Where to read, in order: ``canonical`` (the byte form that is hashed), ``snapshots`` (a leaf is
the canonical provenance record of one raw response), ``merkle`` (RFC 6962 hashing, RFC 9162
proofs), ``note`` and ``checkpoint`` (C2SP signed tree heads), ``verify`` (recompute everything),
``migrations`` (the schema, with triggers that refuse UPDATE and DELETE), ``retention``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    SOFTWARE_VERSION = version("liqrisk")
except PackageNotFoundError:  # running from a source tree that was never installed
    SOFTWARE_VERSION = "0+unknown"

__all__ = ["SOFTWARE_VERSION"]

"""liqrisk's evidence layer: raw snapshots, their Merkle log, derived rows and check results.

Nothing in this package imports :mod:`reporting`; a regulator's trust rests on it alone.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    SOFTWARE_VERSION = version("liqrisk")
except PackageNotFoundError:  # running from a source tree that was never installed
    SOFTWARE_VERSION = "0+unknown"

__all__ = ["SOFTWARE_VERSION"]

"""The registry of derivers: for each snapshot ``kind``, how its raw body becomes records.

``liqrisk verify`` hands this registry to :func:`audit_store.verify.verify_store`, which re-derives
every stored row from its snapshot; the evidence layer itself knows no format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from audit_store.models import Snapshot
from reporting.records import Derivation
from reporting.sources import kaiko_format


def _kaiko(snapshot: Snapshot) -> Derivation:
    if not 200 <= snapshot.http_status < 300:
        return Derivation((), quarantine_reason=f"HTTP {snapshot.http_status}")
    params = json.loads(snapshot.params_json)
    return kaiko_format.derive(snapshot.body, snapshot.url, params, snapshot.source)


DERIVERS: Mapping[str, Callable[[Snapshot], Derivation]] = {kaiko_format.KIND: _kaiko}


def derive_snapshot(snapshot: Snapshot) -> Derivation:
    try:
        deriver = DERIVERS[snapshot.kind]
    except KeyError:
        return Derivation((), quarantine_reason=f"no deriver for snapshot kind {snapshot.kind!r}")
    return deriver(snapshot)


def derived_rows(snapshot: Snapshot) -> tuple[list[dict[str, Any]], str | None]:
    """Rows as the store keeps them, and the quarantine reason: the form verify compares."""
    derivation = derive_snapshot(snapshot)
    return [r.as_row() for r in derivation.records], derivation.quarantine_reason

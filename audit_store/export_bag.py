"""The audit package as a BagIt bag (RFC 8493), the form archives' and regulators' tools take.

The evidence is the bag's *payload*, every file under ``data/``; beside it are the *tag files*:
``bagit.txt`` (the declaration), ``bag-info.txt`` (who made the bag, when, and ``Payload-Oxum``),
``manifest-sha256.txt`` (a SHA-256 per payload file), liqrisk's own signed ``manifest.json`` and
``manifest.sig``, ``verify.py``, ``README.txt``, and last ``tagmanifest-sha256.txt`` (a SHA-256 per
tag file, itself excepted). A bag validator checks the hashes; ``verify.py`` checks them too, and
everything a bag cannot say (signatures, proofs, cross-references).

Every line is fixed by the package's contents, so the bag keeps the package deterministic:
``Bagging-Date`` is the day the package's checkpoint was signed, not the day of the export.
"""

from __future__ import annotations

from datetime import datetime

from audit_store import standalone_verify as sv
from audit_store.export_parts import Staging


def add_bag_declarations(
    staging: Staging,
    *,
    origin: str,
    software_version: str,
    signed_at: datetime,
    description: str,
) -> None:
    """Stage ``bagit.txt``, ``bag-info.txt`` and ``manifest-sha256.txt`` over the staged payload."""
    payload = sorted(p for p in staging.files if p.startswith(sv.PAYLOAD_DIR))
    octets = sum(staging.files[p][0] for p in payload)
    staging.add(sv.BAG_DECLARATION, sv.BAG_DECLARATION_TEXT.encode("utf-8"))
    info = [
        f"Source-Organization: {_one_line(origin)}",
        f"External-Description: {_one_line(description)}",
        f"Bagging-Date: {signed_at.date().isoformat()}",
        f"Bag-Software-Agent: liqrisk {software_version}",
        f"Payload-Oxum: {octets}.{len(payload)}",
    ]
    staging.add(sv.BAG_INFO, ("\n".join(info) + "\n").encode("utf-8"))
    manifest = "".join(sv.bag_line(staging.files[p][1], p) for p in payload)
    staging.add(sv.BAG_MANIFEST, manifest.encode("utf-8"))


def add_tag_manifest(staging: Staging) -> None:
    """Stage ``tagmanifest-sha256.txt`` over every tag file staged so far; call it last."""
    tags = sorted(p for p in staging.files if not p.startswith(sv.PAYLOAD_DIR))
    manifest = "".join(sv.bag_line(staging.files[p][1], p) for p in tags)
    staging.add(sv.BAG_TAG_MANIFEST, manifest.encode("utf-8"))


def _one_line(text: str) -> str:
    """A bag-info value on one line (RFC 8493 allows folding; every tool reads a plain line)."""
    return " ".join(text.split())

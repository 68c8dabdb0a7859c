"""The plain-language README.txt of an audit package, for a reviewer who is not a programmer.

A template, filled by :mod:`audit_store.export` with the range, the key's fingerprint and the
counts; kept apart so the wording can be reviewed (and changed) without touching the code.
"""

from __future__ import annotations

README_TEMPLATE = """\
LIQRISK AUDIT PACKAGE
=====================

What this is
------------
The evidence behind liqrisk's liquidation risk reports for the UTC days

    {start} up to {end} (the end day not included)

from the audit log "{origin}". It holds every raw response the figures were computed from, byte
for byte, and the proof that the firm committed to each of them in a signed, append-only log
before handing this package over.

How to check it (about a minute, no installation)
-------------------------------------------------
1. Unzip the package into an empty folder.
2. In that folder run:    python3 -I verify.py
   (Python 3.9 or later; "-I" makes Python ignore anything installed on your computer, so only
   its standard library runs.) verify.py is short, plain Python: you can read all of it.
3. It prints the fingerprint of the key that signed the package:

       {fingerprint}

   Compare it with the fingerprint the firm published (or gave you separately). To let
   verify.py compare it for you:  python3 -I verify.py --expect-key "<the published fingerprint>"
4. If you kept a checkpoint from the firm before (a report email's checkpoint.txt, an earlier
   package's data/checkpoint/checkpoint.txt), check that nothing before it was changed since:
       python3 -I verify.py --since <the checkpoint you kept>
   A log the firm rebuilt or cut short, even re-signed with its own key, fails here.
5. If you trust outside witnesses of the firm's log, require their cosignatures:
       python3 -I verify.py --witness "<witness key>" --witness-threshold 1
6. "RESULT: OK" means every check passed. Otherwise it prints "RESULT: FAILED" and one line per
   problem, naming the file and what is wrong, and exits with status 1.

What verify.py checks
---------------------
- manifest.json lists every file with its size and SHA-256; manifest.sig is the firm's Ed25519
  signature over it. Any changed, missing or added file is reported. The bag's own manifests
  (manifest-sha256.txt, tagmanifest-sha256.txt) and its Payload-Oxum are checked as well.
- data/checkpoint/checkpoint.txt is the signed head of the firm's audit log ({tree_size} entries).
  Every one of the {leaves} raw responses here has a proof that it is in that log, and matches the
  SHA-256 the log recorded for it when it was fetched.
- {link}
- The tables point only at responses and files that are in the package.
- Each RFC 3161 time-stamp token in data/timestamps/ (when the firm has a Time-Stamping
  Authority): it stamps the SHA-256 of the checkpoint note beside it, with the nonce the firm
  asked with, at a time after that checkpoint was signed and before the next one was. The TSA's
  signature needs X.509, which Python's standard library lacks: verify.py prints, per token, the
  command that checks it with OpenSSL (openssl ts -verify -in ... -data ... -CAfile ...). Use
  the TSA's own published CA certificate; data/timestamps/tsa_ca.pem is the firm's copy.

What is in the package
----------------------
The package is also a BagIt bag (RFC 8493), the format archives' intake tools validate: the
evidence is its payload, under data/; the files beside data/ describe and check it.

bagit.txt, bag-info.txt       the bag's declaration, and who made it, when, and its size
manifest-sha256.txt           the SHA-256 of every file under data/ (the bag's payload manifest)
tagmanifest-sha256.txt        the SHA-256 of every file beside data/, itself excepted
manifest.json, manifest.sig   liqrisk's list of files and hashes, and the firm's signature over it
verify.py                     the checker described above
data/key/verifier_key.txt     the firm's public key (signed-note format)
data/checkpoint/              the signed checkpoint; when present, the previous export's checkpoint
                              and the consistency proof from it to this one; and the consistency
                              proofs from every earlier checkpoint of the log (for --since);
                              cosigned/: checkpoints with the cosignatures of outside witnesses
data/leaves/leaves.jsonl      one line per raw response: where and when it was fetched and its
                              SHA-256 (exactly the bytes that were entered into the log)
data/leaves/inclusion_proofs.jsonl  the proof that each of those lines is in the signed log
data/leaves/snapshots.csv     the same responses as a table, with their file names
data/snapshots/<sha256>.bin   the raw responses, each named by its own SHA-256; those of kind
                              liqrisk.activity.v1 record who did what (console logins and failed
                              logins, logouts, acknowledgements, account changes, exports) as JSON
data/rows/*.csv               the figures derived from the responses (liquidation volumes, funding
                              rates, open interest, ...), each row naming the response it came from
data/checks/*.csv             the limit checks of each day: runs, results, details, acknowledgements
data/limits/                  the limit sets those checks used, named by their SHA-256
data/reports/artifacts.csv    the reports produced for the period, with their SHA-256
data/reports/files/           the report files themselves (those still available)
data/outbox/                  the emails and notifications sent, with every delivery attempt
data/timestamps/              RFC 3161 time-stamp tokens on the log's checkpoints, the notes they
                              stamp, and timestamps.json listing them

Which responses are included
----------------------------
{definition}

Notes
-----
The manifest has {notes} note(s) ("notes" in manifest.json; verify.py prints them). They say what
could not be included and why, for example a report file that is no longer available.
"""

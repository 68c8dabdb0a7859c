"""``liqrisk init``, ``checkpoint``, ``verify``, ``retention``, ``export``, ``verify-export``: the
evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit_store.errors import LiqriskError
from reporting.cli.common import (
    JsonOption,
    app_settings,
    fail,
    open_store,
    parse_day_range,
    print_json,
    show_verdict,
)

if TYPE_CHECKING:
    from audit_store.db import Store
    from audit_store.since import SinceResult
    from reporting.config import Settings


def init(as_json: JsonOption = False) -> None:
    """Create or upgrade the audit store, and make the signing key if there is none.

    The key goes to the configured file (mode 0600) unless $LIQRISK_SIGNING_KEY holds one; it is
    never stored in the database. The verifier key printed is public: publish it. A log already
    signed by a key whose file is missing is refused (restore it, or `liqrisk keys rotate`).
    """
    from reporting.evidence import key_path, prepare_key

    settings = app_settings()
    store = open_store(settings, create=True)
    vkey, created = prepare_key(store, settings)
    if as_json:
        print_json(
            {
                "store": store.description,
                "key_file": str(key_path(settings)),
                "key_created": created,
                "verifier_key": vkey,
            }
        )
        return
    typer.echo(f"store ready: {store.description}")
    if created:
        typer.echo(f"signing key created: {key_path(settings)} (keep it secret, keep it safe)")
    typer.echo(f"verifier key (public): {vkey}")


keys_app = typer.Typer(help="The checkpoint signing key.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOption = False) -> None:
    """Retire the signing key and sign the log with a new one.

    The old key file is kept beside the new one as <name>.retired-<key id>; the first checkpoint
    the new key signs records the change, with a statement signed by the old key naming both
    (verify follows it without the new key pinned). Publish the new verifier key printed here,
    and keep the old one published: its checkpoints stay valid.
    """
    from reporting.evidence import rotate_key

    settings = app_settings()
    done = rotate_key(open_store(settings), settings)
    if as_json:
        print_json(
            {
                "old_verifier_key": done.old_verifier_key,
                "new_verifier_key": done.new_verifier_key,
                "retired_file": None if done.retired_file is None else str(done.retired_file),
                "vouched_by_old_key": done.vouched,
                "checkpoint": {
                    "id": done.checkpoint.id,
                    "tree_size": done.checkpoint.tree_size,
                    "root_hash": done.checkpoint.root_hash,
                },
            }
        )
        return
    typer.echo(f"old verifier key: {done.old_verifier_key or '(none: the log had no checkpoint)'}")
    if done.retired_file is not None:
        typer.echo(f"old key file kept as: {done.retired_file}")
    typer.echo(f"new verifier key (public, publish it): {done.new_verifier_key}")
    cp = done.checkpoint
    typer.echo(
        f"checkpoint {cp.id} signed by the new key: {cp.tree_size} leaves, root {cp.root_hash}"
    )
    if done.vouched:
        typer.echo(
            "the old key signed a statement vouching for the new one, kept with that checkpoint: "
            "verify follows the change from the first key on"
        )
    elif done.old_verifier_key is not None:
        typer.echo(
            "the old key file was not found, so nothing vouches for the new key: pin both "
            "verifier keys in audit.trusted_keys (or pass --trusted-key to verify)"
        )


def retention(as_json: JsonOption = False) -> None:
    """What has passed the retention period (audit.retention_days); nothing is ever deleted."""
    from audit_store.retention import retention_report

    settings = app_settings()
    found = retention_report(open_store(settings), settings.audit.retention_days)
    if as_json:
        print_json(
            {
                "retention_days": found.retention_days,
                "cutoff": found.cutoff.isoformat(),
                "snapshots": found.snapshots,
                "rows": found.rows,
                "check_runs": found.check_runs,
                "artifacts": found.artifacts,
                "pruned": found.pruned,
            }
        )
        return
    for line in found.summary_lines():
        typer.echo(line)


def checkpoint(
    publish: Annotated[
        Path | None,
        typer.Option("--publish", help="Also write the checkpoint and verifier key to DIR."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sign a checkpoint of the audit log (C2SP tlog-checkpoint, Ed25519) and print it."""
    from audit_store.checkpoint import publish_checkpoint
    from reporting.evidence import sign_latest
    from reporting.notify.anchor import stamp_latest

    settings = app_settings()
    store = open_store(settings)
    signed = sign_latest(store, settings)
    written = publish_checkpoint(store, publish) if publish else None
    anchor = stamp_latest(store, settings)
    if as_json:
        print_json(
            {
                "tree_size": signed.tree_size,
                "root_hash": signed.root_hash,
                "note": signed.note,
                "verifier_key": signed.verifier_key,
                "published": str(written) if written else None,
                "time_stamp": vars(anchor),
            }
        )
        return
    typer.echo(signed.note, nl=False)
    if written:
        typer.echo(f"published: {written}")
    if anchor.status != "off":
        typer.echo(anchor.line)


def anchor(as_json: JsonOption = False) -> None:
    """Ask the [anchor] Time-Stamping Authority (RFC 3161) now for a token on the latest checkpoint.

    A token on the latest checkpoint covers every earlier one. Exits 1 when the TSA could not give
    one (the reason is recorded; the drain job asks again after [anchor] retry_seconds).
    """
    from reporting.notify.anchor import stamp_latest

    settings = app_settings()
    if settings.anchor.tsa_url is None:
        fail("no Time-Stamping Authority is configured: set [anchor] tsa_url and tsa_ca_file")
    outcome = stamp_latest(open_store(settings), settings, force=True)
    if as_json:
        print_json(vars(outcome))
    else:
        typer.echo(outcome.line)
    if outcome.status == "failed":
        raise typer.Exit(1)


def witness(
    cosigned: Annotated[
        Path, typer.Argument(help="A checkpoint note as a witness returned it, cosigned.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Record the cosignatures a witness (c2sp.org/tlog-cosignature) put on one of our checkpoints.

    Only lines by the keys in [anchor] witnesses count, each verified; a cosigned checkpoint this
    log never signed (a fork) is refused.
    """
    from audit_store.cosigning import accept_cosigned, parse_witness_keys

    settings = app_settings()
    if not settings.anchor.witnesses:
        fail("no witness is configured: set [anchor] witnesses to their keys")
    try:
        note = cosigned.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{cosigned}: cannot read it: {exc}")
    keys = parse_witness_keys(settings.anchor.witnesses)
    with open_store(settings).session() as session:
        done = accept_cosigned(session, note, keys, datetime.now(UTC))
    if as_json:
        print_json(vars(done))
        return
    typer.echo(
        f"checkpoint {done.checkpoint_id} ({done.tree_size} leaves): recorded the cosignature(s) "
        f"of {', '.join(done.new) or 'no new witness'}"
        + (f"; already kept: {', '.join(done.known)}" if done.known else "")
    )


def verify(
    as_json: JsonOption = False,
    trusted_key: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-key",
            help="A verifier key to pin (repeatable; adds to audit.trusted_keys). Checkpoints "
            "signed by any other key fail.",
        ),
    ] = None,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            help="A signed checkpoint someone kept (a report email's checkpoint.txt, an export's): "
            "prove the log is an append-only extension of it, or name the fork or truncation.",
            show_default=False,
        ),
    ] = None,
    witness_threshold: Annotated[
        int | None,
        typer.Option(
            "--witness-threshold",
            min=0,
            help="Fail unless a checkpoint is cosigned by N of the [anchor] witnesses "
            "(default: [anchor] witness_threshold).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Recompute every stored hash, the Merkle log and every derived row; exit 1 on a difference.

    With --since FILE, also prove the log extends the checkpoint in FILE (RFC 6962 consistency)."""
    from reporting.evidence import verify_everything

    settings = app_settings()
    store = open_store(settings)
    result = verify_everything(store, settings, trusted_key)
    from audit_store.verify import record_verify

    try:
        record_verify(store, result, datetime.now(UTC))  # what `liqrisk status` shows
    except LiqriskError as exc:  # the verdict stands even when it cannot be recorded
        typer.echo(f"liqrisk: warning: the outcome was not recorded: {exc}", err=True)
    document, lines, ok = result.to_json(), result.summary_lines(), result.ok
    threshold = (
        settings.anchor.witness_threshold if witness_threshold is None else witness_threshold
    )
    if threshold or settings.anchor.witnesses:
        seen = _witnessed(store, settings, threshold)
        document["witnesses"] = seen
        lines.append(f"witnesses: {seen['message']}")
        ok = ok and seen["ok"] is True
    if since is not None:
        kept = _since(store, settings, since, trusted_key)
        document["since"] = kept.to_json()
        lines.append(f"since {since}: {kept.message}")
        ok = ok and kept.ok
    show_verdict(as_json, document, lines, ok=ok)


def _witnessed(store: Store, settings: Settings, threshold: int) -> dict[str, object]:
    from audit_store.cosigning import parse_witness_keys, witnessed

    keys = parse_witness_keys(settings.anchor.witnesses)
    if threshold > len(keys):
        fail(f"--witness-threshold {threshold}: only {len(keys)} witness(es) are configured")
    with store.read_session() as session:
        seen = witnessed(session, keys, max(threshold, 1))
    if seen.tree_size is not None:
        message = (
            f"the checkpoint of {seen.tree_size} leaves is cosigned by {', '.join(seen.witnesses)}"
        )
    else:
        message = f"no checkpoint is cosigned by {max(threshold, 1)} of {len(keys)} witness(es)"
    message += "".join(f"; {p}" for p in seen.problems)
    ok = not seen.problems and (threshold == 0 or seen.tree_size is not None)
    return {
        "ok": ok,
        "threshold": threshold,
        "tree_size": seen.tree_size,
        "witnesses": list(seen.witnesses),
        "problems": list(seen.problems),
        "message": message,
    }


def _since(store: Store, settings: Settings, path: Path, pinned: list[str] | None) -> SinceResult:
    from audit_store.since import check_since, stored_verifier_keys
    from reporting.evidence import trusted_keys

    try:
        note = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--since {path}: cannot read the checkpoint: {exc}")
    keys = trusted_keys(settings, pinned) or stored_verifier_keys(store)
    return check_since(store, note, keys, origin=settings.audit.origin)


def export_cmd(
    start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[
        str, typer.Option("--end", help="UTC day the range stops before (excluded), YYYY-MM-DD.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The zip to write (replaced if it exists).")],
    as_json: JsonOption = False,
) -> None:
    """Write the audit package of [start, end) that a regulator checks with python3 alone.

    Signs a checkpoint of the log first (or reuses the latest); report files come from reports_dir.
    The same store and range give the same bytes. The export is recorded as a leaf naming the OS
    user who made it, so the next export's checkpoint covers one leaf more.
    """
    from reporting.web.accounts import cli_actor
    from reporting.web.exports import make_export

    days = parse_day_range(start, end, end_included=False)
    settings = app_settings()
    store = open_store(settings)
    made = make_export(
        store, settings, start=days[0], end=days[1], out=out, by=cli_actor(), via="cli"
    )
    result, anchor = made.result, made.anchor
    if as_json:
        print_json({**vars(result), "path": str(result.path), "notes": list(result.notes)})
        return
    typer.echo(f"audit package: {result.path} ({result.files} files, {result.size} bytes)")
    typer.echo(f"  sha256 {result.sha256}")
    typer.echo(f"  {result.leaves} raw snapshots of {days[0]} up to {days[1]} (end excluded)")
    link = result.previous_tree_size
    typer.echo(
        f"  checkpoint: {result.tree_size} leaves, root {result.root_hash}; "
        + ("the first export" if link is None else f"extends the previous export's ({link})")
    )
    typer.echo(f"  signing key fingerprint (SHA-256): {result.fingerprint}")
    if anchor is not None:
        typer.echo(f"  {anchor.line}")
    for note in result.notes:
        typer.echo(f"  note: {note}")


def verify_export_cmd(
    package: Annotated[Path, typer.Argument(help="The audit package (zip) to check.")],
    expect_key: Annotated[
        str | None,
        typer.Option(
            "--expect-key",
            metavar="FINGERPRINT",
            help="Fail unless the signing key has this SHA-256 fingerprint (as published).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check an audit package as its verify.py does; exit 1 on a failure or an unsafe zip.

    An unsafe zip (a member climbing out, a link, a duplicate, a zip bomb) is refused unopened
    and exits 1 like any other failure; a missing file exits 2.
    """
    from audit_store.export_verify import verify_export

    if not package.is_file():  # a path typed wrong is an input error, not an unreadable package
        fail(f"{package}: no such file")
    result = verify_export(package, expect_key=expect_key)
    show_verdict(as_json, result.to_dict(), result.lines(), ok=result.ok)

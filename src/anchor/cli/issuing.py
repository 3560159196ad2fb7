"""The issuer's daily work: ``anchor issue``, ``anchor anchor``, ``anchor export``,
``anchor revoke`` and ``anchor status``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from anchor.cli.app import App, format_time, pass_app, progress, read_text, say
from anchor.core.errors import ConfigError, InputError


@click.command()
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--achievement", "achievement_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Achievement definition (YAML or JSON).")
@click.option("--skip-invalid", is_flag=True, help="Issue the good rows of a roster that has bad ones (default: issue none).")
@click.option("--valid-from", help="Default validFrom (ISO 8601; default now).")
@click.option("--valid-until", help="Default validUntil (ISO 8601 date or date-time).")
@click.option("--valid-for-days", type=click.IntRange(min=1), help="Default validUntil as days after validFrom.")
@click.option("--reissue", is_flag=True,
              help="Renew or replace the credential of recipients whose credential of this achievement is revoked or "
                   "expired: they get a new one that names the one it supersedes (default: skip them).")
@pass_app
def issue(app: App, roster: Path, achievement_file: Path, skip_invalid: bool, valid_from: str | None,
          valid_until: str | None, valid_for_days: int | None, reissue: bool) -> None:
    """Turn ROSTER (CSV: name,email[,evidence_url,valid_from,valid_until,awarded_date,narrative]) into pending credentials.

    The database keeps each holder's name and email (for `anchor export`'s manifest and
    `anchor notify`); the credential itself carries only a salted hash of the email."""
    from anchor.app.issuing import issue_credentials
    from anchor.core.achievement import build_achievement, parse_achievement_text
    from anchor.core.roster import parse_roster
    from anchor.core.timefmt import days, parse_ts, utcnow

    if valid_until and valid_for_days:
        raise InputError("give --valid-until or --valid-for-days, not both")
    achievement = build_achievement(parse_achievement_text(read_text(achievement_file), source=str(achievement_file)))
    start = parse_ts(valid_from, what="--valid-from") if valid_from else utcnow()
    until = parse_ts(valid_until, what="--valid-until", end_of_day=True) if valid_until else None
    if valid_for_days:
        until = start + days(valid_for_days)
    parsed = parse_roster(read_text(roster))
    issuer_row = app.issuer_row()
    signer = app.badge_signer()  # each credential is signed as it is built (eddsa-rdfc-2022)
    with progress(len(parsed.rows), "issuing") as bar:
        report = issue_credentials(app.store, issuer_row, achievement, parsed, skip_invalid=skip_invalid,
                                   valid_from=start, valid_until=until, sign=signer, progress=bar.update, reissue=reissue)
    say(f"issued {report.created} pending credential(s) of '{achievement['name']}' ({achievement['id']})")
    if report.reissued:
        kinds = {why: sum(1 for _, _, w in report.reissued if w == why) for why in ("revoked", "expired")}
        say(f"of which {len(report.reissued)} renew or replace a credential ({kinds['revoked']} revoked, "
            f"{kinds['expired']} expired); each names the one it supersedes")
        for line, old, why in report.reissued[:10]:
            say(f"  row {line}: supersedes {old} ({why})")
    if report.already_issued:
        lines = ", ".join(str(n) for n in report.already_issued[:20]) + (" ..." if len(report.already_issued) > 20 else "")
        say(f"skipped {len(report.already_issued)} recipient(s) who already hold it (rows {lines})")
    if report.renewable:
        lines = ", ".join(str(n) for n in report.renewable[:20]) + (" ..." if len(report.renewable) > 20 else "")
        say(f"skipped {len(report.renewable)} recipient(s) whose credential is revoked or expired (rows {lines}); "
            "run again with --reissue to renew or replace it", fg="yellow")
    if report.skipped_rows:
        say(f"skipped {len(report.skipped_rows)} bad row(s):", fg="yellow")
        for err in report.skipped_rows[:50]:
            say(f"  {err}", fg="yellow")
    say("next: `anchor anchor` puts them on chain")


@click.command("anchor")
@click.option("--max-batch", type=click.IntRange(min=1), default=1_000_000, show_default=True, help="Credentials per batch (one transaction each).")
@pass_app
def anchor_cmd(app: App, max_batch: int) -> None:
    """Batch the pending credentials, anchor each batch's root, wait for confirmations."""
    from anchor.app.anchoring import Anchorer
    from anchor.core.errors import ChainError

    signer, _ = app.signer("issuer")
    issuer_row = app.issuer_row()
    pending = app.store.counts(issuer_row.id)
    with progress(pending.pending + pending.batched, "anchoring") as bar:
        anchorer = Anchorer(app.store, app.registry, signer, issuer_row, confirmations=app.settings.confirmations,
                            timeout=app.settings.receipt_timeout, on_batch=lambda o: bar.update(o.leaf_count),
                            stuck_after=app.settings.reprice_after or None, on_wait=waiting_note(app))
        report = anchorer.run(max_batch=max_batch)
    if not report.outcomes and not report.failures:
        say("nothing to anchor: no pending credentials")
        return
    for o in report.outcomes:
        say(f"batch {o.batch_id}: {o.leaf_count} credential(s), root 0x{o.root.hex()}, block {o.block_number}, "
            f"tx 0x{o.tx_hash.hex()} ({o.how})")
    if report.outcomes:
        settled = (f"{app.settings.confirmations} confirmation(s)" if app.settings.finality == "latest"
                   else f"the block {app.settings.finality}")
        say(f"anchored {report.credentials} credential(s) in {len(report.outcomes)} batch(es) with "
            f"{settled}; next: `anchor export DIR`")
        publish_lists(app, after="anchoring")  # the lists the new credentials name exist from now on
    for f in report.failures:
        say(f"batch {f.batch_id}: NOT anchored ({f.reason}): {f.message}", fg="red", err=True)
    if report.failures:
        raise ChainError(f"{len(report.failures)} batch(es) could not be anchored (the others were); "
                         "see above, then run `anchor anchor` again", reason="batches_failed")


def waiting_note(app: App) -> Callable[[int, int], None]:
    """Tell a person what a wait for confirmations is waiting for ("waiting for confirmations
    1/3"), once per change, and why it may never end on a local chain that mines only on demand."""
    told = {"hint": False, "tag": False}
    finality = app.settings.finality

    def note(have: int, want: int) -> None:
        if finality != "latest":  # the depth says little: the node's safe/finalized block decides
            if not told["tag"]:
                told["tag"] = True
                click.echo(f"waiting until the node reports the anchoring block {finality} "
                           "(minutes on a public chain; a rerun resumes the wait)", err=True)
            return
        if want <= 1 and have >= want:
            return
        click.echo(f"waiting for confirmations {have}/{want}", err=True)
        if have >= 1 and want > have and app.settings.is_local_chain() and not told["hint"]:
            told["hint"] = True
            click.echo("note: a local Anvil chain mines a block only when a transaction arrives, so further "
                       "confirmations come only with more transactions; use --confirmations 1 locally", err=True)

    return note


def publish_lists(app: App, *, after: str | None = None) -> None:
    """Re-generate the issuer's signed status lists from the chain's revocations and store them
    for the service (the lists the credentials name). ``after``: what just succeeded; then a
    missing signing key is a warning (what succeeded stays done), not an error."""
    from anchor.app.status_lists import publish_status_lists, read_chain_revocations

    row = app.issuer_row()
    if not row.public_url:
        return
    try:
        sign = app.badge_signer().sign_document
    except ConfigError as e:
        if after is None:
            raise
        say(f"status lists not published after {after}: {e.message}; then run `anchor status-lists`", fg="yellow", err=True)
        return
    revoked = read_chain_revocations(app.registry, row.address)
    report = publish_status_lists(app.store, row, revoked, sign, head=app.registry.chain.block_number)
    changed = f", {len(report.changed)} changed" if report.changed else ""
    say(f"status lists: {len(report.lists)} published from block {report.at_block} ({report.revoked} revoked bit(s){changed}), "
        f"served at {row.public_url}/status/{row.address}/<n>")
    if report.kept:
        say(f"status lists {', '.join(map(str, report.kept))} kept: another run stored them from a later block", fg="yellow")


@click.command("status-lists")
@pass_app
def status_lists(app: App) -> None:
    """Publish the issuer's Bitstring Status Lists again from the chain (export and revoke do it too)."""
    publish_lists(app)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "formats", default="json", show_default=True, metavar="FORMS",
              help="Comma-separated forms to write per badge: json (<uuid>.json), jwt (VC-JWT, <uuid>.jwt), "
                   "png and svg (baked images, <uuid>.png / <uuid>.svg).")
@click.option("--batch", "batch_root", metavar="ROOT", help="Export only the batch with this Merkle root (0x...).")
@click.option("--new", "only_new", is_flag=True, help="Export only credentials no earlier export has written.")
@click.option("--clr", "clr_email", metavar="EMAIL",
              help="Instead, write this holder's learner record (CLR 2.0 ClrCredential, signed): DIRECTORY/clr-<EMAIL>.json.")
@pass_app
def export(app: App, directory: Path, formats: str, batch_root: str | None, only_new: bool, clr_email: str | None) -> None:
    """Write every anchored credential, signed and with its anchor receipt, to DIRECTORY.

    Each badge carries a proof set: an eddsa-rdfc-2022 signature (checked by any Open Badges 3.0
    verifier) and the anchor receipt (checked by anchor against the chain). DIRECTORY/manifest.csv
    lists the badges this run wrote: id, holder name and email, file, page URL and LinkedIn
    add-to-profile link.
    """
    if clr_email is not None:
        export_learner_record(app, directory, clr_email)
        return
    from anchor.app.badge_forms import FormRenderer, parse_formats
    from anchor.app.exporting import export_credentials

    forms = parse_formats(formats)
    root = None
    if batch_root:
        from anchor.core.proof import parse_root

        root = parse_root(batch_root)
    issuer_row = app.issuer_row()
    try:
        signer = app.badge_signer()  # for the JWT form, and for credentials stored unsigned
    except ConfigError as e:
        if "jwt" in forms:
            raise
        signer = None
        say(f"note: {e.message}; badges keep the signature made at issuance", fg="yellow", err=True)
    total = app.store.counts(issuer_row.id).anchored
    renderer = FormRenderer(forms, signer) if forms != ("json",) else None
    with progress(total, "exporting", unit="badge") as bar:
        report = export_credentials(app.store, issuer_row.id, issuer_row.address, directory, sign=signer, forms=renderer,
                                    progress=bar.update, batch_root=root, only_new=only_new, issuer=issuer_row,
                                    file_suffix="." + ("json" if "json" in forms else forms[0]))
    say(f"wrote {report.files} badge(s) ({', '.join(forms)}) from {report.batches} batch(es) to {directory}"
        + (f", signed by {signer.verification_method}" if signer else ""))
    if report.batches:
        say(f"manifest: {directory / 'manifest.csv'} ({report.manifest_rows} row(s): id, name, email, file, page URL, "
            "LinkedIn link)")
    elif only_new:
        say("nothing new to export: every anchored credential was exported before")
    publish_lists(app)
    if report.unconfirmed_batches or report.pending_credentials:
        say(f"not exported yet: {report.pending_credentials} pending credential(s), {report.unconfirmed_batches} "
            "unconfirmed batch(es); run `anchor anchor` first", fg="yellow")


def export_learner_record(app: App, directory: Path, email: str) -> None:
    """``anchor export DIRECTORY --clr EMAIL``: every anchored, valid badge of the holder in one
    signed CLR 2.0 record."""
    from anchor.app.clr import export_clr
    from anchor.core.timefmt import utcnow

    report = export_clr(app.store, app.issuer_row(), email, directory, app.badge_signer(), at=int(utcnow().timestamp()))
    say(f"wrote {report.path}: a learner record of {report.credentials} badge(s)"
        + (f", {report.associations} association(s)" if report.associations else ""))
    if report.left_out:
        say("not included: " + ", ".join(f"{n} {state}" for state, n in sorted(report.left_out.items())), fg="yellow")


@click.command()
@click.argument("credential_ids", nargs=-1, metavar="[CREDENTIAL]...")
@click.option("--file", "id_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File of credentials, one per line (ids or badge files).")
@click.option("--batch", "batch_root", help="Revoke a whole batch by its Merkle root (e.g. after a key compromise).")
@click.option("--reason", default="unspecified", show_default=True, help="unspecified, issued_in_error, key_compromise, superseded, misconduct, withdrawn, expired_requirement")
@click.option("--note", help="Free-text note kept in the database (not on chain).")
@pass_app
def revoke(app: App, credential_ids: tuple[str, ...], id_file: Path | None, batch_root: str | None, reason: str, note: str | None) -> None:
    """Revoke credentials or a whole batch; permanent.

    A CREDENTIAL is its id (urn:uuid:<uuid> or the bare <uuid>), a badge file in any form (JSON,
    VC-JWT, baked PNG or SVG), or an exported badge's file name (<uuid>.json)."""
    from anchor.app.finding import credential_id_of
    from anchor.app.revoking import reason_code, request_batch_revocation, request_revocation, submit_revocations

    code = reason_code(reason)
    named = list(credential_ids)
    if id_file:
        named += [line.strip() for line in read_text(id_file).splitlines() if line.strip() and not line.startswith("#")]
    ids = [credential_id_of(text) for text in named]
    if not ids and not batch_root:
        raise InputError("nothing to revoke: give credential ids, --file or --batch")
    signer, _ = app.signer("issuer")
    issuer_row = app.issuer_row()
    if batch_root:
        from anchor.core.proof import parse_root

        root = parse_root(batch_root)
        new = request_batch_revocation(app.store, issuer_row.id, root, code, note)
        say(f"batch 0x{root.hex()}: {'revocation recorded' if new else 'already recorded'}")
    if ids:
        req = request_revocation(app.store, issuer_row.id, list(dict.fromkeys(ids)), code, note)
        say(f"recorded {req.recorded} revocation(s)" + (f"; {len(req.already)} already revoked" if req.already else ""))
        if req.withdrawn:
            say(f"withdrew {len(req.withdrawn)} never-anchored credential(s) (deleted; no proof was ever released)")
    report = submit_revocations(app.store, app.registry, signer, issuer_row.id, confirmations=app.settings.confirmations,
                                timeout=app.settings.receipt_timeout, stuck_after=app.settings.reprice_after or None,
                                on_wait=waiting_note(app))
    say(f"on chain: {report.indices} index(es) and {report.batches_revoked} whole batch(es) revoked in "
        f"{report.transactions} transaction(s)")
    publish_lists(app, after="the revocation")


@click.command()
@click.option("--batches", "n_batches", type=click.IntRange(min=0), default=5, show_default=True, help="How many recent batches to list.")
@pass_app
def status(app: App, n_batches: int) -> None:
    """Pending / anchored / revoked counts, badges expiring within 30 and 90 days, and the latest batches."""
    issuer_row = app.issuer_row()
    c = app.store.counts(issuer_row.id)
    say(f"issuer {issuer_row.address} ({issuer_row.profile_uri})")
    say(f"pending {c.pending}   being anchored {c.batched}   anchored {c.anchored}   revoked {c.revoked}"
        + (f"   revocations in flight {c.revoking}" if c.revoking else ""))
    show_expiring(app, issuer_row.id)
    batches = app.store.batches(issuer_row.id, newest_first=True, limit=n_batches)
    if batches:
        say(f"{'batch':>6}  {'status':<10} {'size':>9}  {'block':>8}  {'anchored at':<20}  root")
        for b in batches:
            when = format_time(b.block_time) if b.block_time else "-"
            say(f"{b.id:>6}  {b.status:<10} {b.leaf_count:>9}  {b.block_number if b.block_number is not None else '-':>8}  {when:<20}  0x{b.root.hex()}")


def show_expiring(app: App, issuer_id: int) -> None:
    """Badges whose validity ends within 30 and 90 days (not revoked, not renewed yet): a nudge
    to renew them (`anchor issue --reissue` once they have expired)."""
    import time

    now = int(time.time())
    for window in (30, 90):
        soon = app.store.expiring(issuer_id, now, window)
        line = f"expiring within {window} days: {soon.count}"
        if soon.first:
            shown = ", ".join(f"{cid} ({format_time(until)[:10]})" for cid, until in soon.first[:3])
            line += f" (first: {shown}{', ...' if soon.count > 3 else ''})"
        say(line)

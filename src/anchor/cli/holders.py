"""The issuer and its holders: ``anchor find``, ``anchor notify``, ``anchor hide`` / ``unhide``
and ``anchor pages`` (public credential pages on or off)."""

from __future__ import annotations

import click

from anchor.cli.app import App, format_time, pass_app, say
from anchor.core.errors import ConfigError


@click.command()
@click.option("--email", help="The holder's email address (exact, case-insensitive).")
@click.option("--name", help="Part of the holder's name (case-insensitive).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="At most this many credentials.")
@pass_app
def find(app: App, email: str | None, name: str | None, limit: int) -> None:
    """List the issuer's credentials of a holder: id, name, achievement, status, page URL, file.

    Status is pending (not anchored yet), anchored, revoking, revoked or expired."""
    import time

    from anchor.app.finding import find_holders

    issuer_row = app.issuer_row()
    found = find_holders(app.store, issuer_row, email=email, name=name, at=int(time.time()), limit=limit)
    if not found:
        say("no credential found")
        return
    for f in found:
        c = f.credential
        until = f"  until {format_time(c.valid_until)[:10]}" if c.valid_until else ""
        renews = f"  (supersedes {c.supersedes})" if c.supersedes else ""
        say(f"{c.credential_id}  {c.holder_name or '-'} <{c.holder_email or '-'}>  {c.achievement_name}  {c.status}{until}{renews}")
        say(f"    page {f.page_url or '-'}  file {f.file_name}")
    say(f"{len(found)} credential(s)" + (" (limit reached: narrow the search or raise --limit)" if len(found) == limit else ""))


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and record nothing.")
@click.option("--batch", "batch_root", metavar="ROOT", help="Only the credentials of the batch with this Merkle root.")
@click.option("--new", "only_new", is_flag=True, help="Only credentials never tried before (do not retry failed ones).")
@click.option("--resend-interrupted", is_flag=True,
              help="Also send the messages a stopped run left unconfirmed (the holder may get them twice).")
@pass_app
def notify(app: App, dry_run: bool, batch_root: str | None, only_new: bool, resend_interrupted: bool) -> None:
    """Email each holder their badge (JSON and baked PNG attached) and their page link.

    Sends every anchored, unrevoked, unexpired credential with a holder email that was not sent
    before, through the SMTP server in the settings (smtp_host, smtp_port, smtp_user,
    smtp_from, smtp_starttls; the password only from $ANCHOR_SMTP_PASSWORD). Temporary failures
    are retried with backoff; every outcome is recorded, so running it again sends nothing
    twice and retries what failed. A run that stopped mid-send leaves messages whose fate is
    unknown: they are listed, not resent (see --resend-interrupted)."""
    import time

    from anchor.app.delivery import SmtpMailer, SmtpSettings, notify_holders
    from anchor.app.manifest import issuer_name

    settings = app.settings
    smtp = None
    if not dry_run:
        if not settings.smtp_host or not settings.smtp_from:
            raise ConfigError("anchor notify needs an SMTP server: set smtp_host and smtp_from (anchor.toml, or "
                              "$ANCHOR_SMTP_HOST / $ANCHOR_SMTP_FROM), and smtp_user with $ANCHOR_SMTP_PASSWORD if it "
                              "asks for a login; or use --dry-run")
        smtp = SmtpSettings(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                            user=settings.smtp_user, password=settings.smtp_password, starttls=settings.smtp_starttls,
                            timeout=settings.smtp_timeout, attempts=settings.smtp_attempts, backoff=settings.smtp_backoff)
    root = None
    if batch_root:
        from anchor.core.proof import parse_root

        root = parse_root(batch_root)
    issuer_row = app.issuer_row()
    try:
        sign = app.badge_signer()  # only for credentials stored unsigned
    except ConfigError:
        sign = None

    def show(outcome: str, letter: object, error: str | None) -> None:
        to = getattr(letter, "to", "")
        cid = getattr(letter, "credential_id", "")
        if outcome == "planned":
            files = ", ".join(name for name, _, _ in getattr(letter, "attachments", ()))
            say(f"would send to {to}: {getattr(letter, 'subject', '')!r} [{files}] page {getattr(letter, 'page_url', None) or '-'}")
        elif outcome == "sent":
            say(f"sent {cid} to {to}")
        else:
            say(f"FAILED {cid} to {to}: {error}", fg="red", err=True)

    report = notify_holders(app.store, issuer_row, issuer_name(issuer_row), mailer=SmtpMailer(smtp) if smtp else None,
                            settings=smtp, at=int(time.time()), batch_root=root, only_new=only_new,
                            resend_interrupted=resend_interrupted, dry_run=dry_run, sign=sign, on_result=show)
    if dry_run:
        say(f"dry run: {len(report.planned)} message(s) would be sent; nothing was sent or recorded")
    else:
        retried = f" ({report.retried} after a retry)" if report.retried else ""
        say(f"sent {report.sent} message(s){retried}; {len(report.failed)} failed"
            + (f"; {report.taken} taken by another run" if report.taken else ""))
        if report.failed:
            say("failed deliveries are retried by the next `anchor notify` (fix the address first if it was refused)",
                fg="yellow", err=True)
    if report.interrupted:
        say(f"{len(report.interrupted)} message(s) were being sent when an earlier run stopped; they may or may not have "
            "arrived (look the Message-ID up in the mail server's log), and are not resent unless you pass "
            "--resend-interrupted:", fg="yellow", err=True)
        for cid, email, message_id in report.interrupted:
            say(f"  {cid} to {email} Message-ID {message_id or '-'}", fg="yellow", err=True)
    if report.stopped:
        from anchor.core.errors import AnchorError

        raise AnchorError(f"stopped: {report.stopped}; what was not tried is left for the next run", reason="smtp_unusable")
    if report.failed and not dry_run:
        from anchor.core.errors import AnchorError

        raise AnchorError(f"{len(report.failed)} message(s) could not be delivered (see above)", reason="delivery_failed")


def _set_hidden(app: App, credentials: tuple[str, ...], hidden: bool) -> None:
    from anchor.app.finding import credential_id_of
    from anchor.core.errors import InputError, NotFound

    if not credentials:
        raise InputError("give at least one credential (id, badge file or <uuid>.json)")
    issuer_row = app.issuer_row()
    ids = [credential_id_of(text) for text in credentials]
    for cid in ids:
        found = app.store.credential(cid)
        if found is None or found.issuer_id != issuer_row.id:
            raise NotFound(f"no credential {cid} of this issuer in the database")
    for cid in ids:
        app.store.set_hidden(cid, hidden)
        say(f"{cid}: page {'hidden' if hidden else 'shown'}")


@click.command()
@click.argument("credentials", nargs=-1, metavar="CREDENTIAL...")
@pass_app
def hide(app: App, credentials: tuple[str, ...]) -> None:
    """Hide the public page of credentials (the badge stays valid; its page answers 404).

    A CREDENTIAL is its id, a badge file in any form, or an exported badge's file name."""
    _set_hidden(app, credentials, True)


@click.command()
@click.argument("credentials", nargs=-1, metavar="CREDENTIAL...")
@pass_app
def unhide(app: App, credentials: tuple[str, ...]) -> None:
    """Show the public page of credentials again (undoes `anchor hide`)."""
    _set_hidden(app, credentials, False)


@click.command()
@click.argument("state", type=click.Choice(["on", "off", "show"]), default="show")
@pass_app
def pages(app: App, state: str) -> None:
    """Turn the issuer's public credential pages (/credentials/<id>) on or off, or show the setting."""
    issuer_row = app.issuer_row()
    if state != "show":
        app.store.set_public_pages(issuer_row.id, state == "on")
        issuer_row = app.issuer_row()
    where = f" at {issuer_row.public_url}/credentials/<id>" if issuer_row.public_url else ""
    say(f"public credential pages: {'on' + where if issuer_row.public_pages else 'off'}")

"""``anchor doctor``: check a configuration end to end and say what to fix (see :mod:`anchor.app.doctor`)."""

from __future__ import annotations

import sys

import click

from anchor.cli.app import App, chain_options, pass_app, say


@click.command()
@click.option("--anchors", type=click.IntRange(min=1), default=10, show_default=True,
              help="Anchoring transactions the issuer's balance must cover at current fees.")
@chain_options
@pass_app
def doctor(app: App, anchors: int) -> None:
    """Check the settings, each RPC URL and its chain id, finality, fees, the registry's code, the
    issuer's key, authorisation and balance, the database and its schema, and the signing key's
    binding: one line per check. Exits 0 when all pass, 1 when any fails. No secret is printed."""
    from anchor.app.doctor import Doctor

    failed = 0
    doc = Doctor(app.settings, issuer_signer=lambda: app.signer("issuer")[0], signing_key=lambda: app.signing_key()[0],
                 anchors=anchors)
    for finding in doc.run():
        say(finding.line(), fg=None if finding.ok else "red")
        failed += not finding.ok
    if failed:
        say(f"{failed} check(s) failed", fg="red")
        sys.exit(1)
    say("all checks passed")

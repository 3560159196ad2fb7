"""``anchor verify``: check a badge against the chain alone (no service, no database)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from anchor.cli.app import App, chain_options, pass_app, say
from anchor.core.errors import InputError

VERDICT_EXIT = {"valid": 0, "invalid": 1, "unknown": 4, "revoked": 10, "expired": 11, "not_yet_valid": 12, "pending": 13,
                "untrusted_registry": 14}


_FORMS = {"json": "credential JSON", "jwt": "VC-JWT", "png": "baked PNG", "svg": "baked SVG"}


@click.command()
@click.argument("badge", type=click.Path(dir_okay=False, path_type=Path))
@chain_options
@click.option("--email", help="Also check that the badge was issued to this email address.")
@click.option("--at", "at_time", help="Judge the validity window at this time (ISO 8601; default now).")
@click.option("--chain-id", type=int, help="Refuse proofs for any other chain id.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--components", type=click.Path(exists=True, path_type=Path),
              help="BADGE is a stacked badge: verify it with these components (a directory of badge files, a JSON array "
                   "bundle, or a VerifiablePresentation), each on chain and against the digest the stack pins.")
@pass_app
def verify(app: App, badge: Path, email: str | None, at_time: str | None, chain_id: int | None, as_json: bool,
           components: Path | None) -> None:
    """Verify BADGE against the chain alone: no service, no database.

    BADGE is a badge in any form anchor exports: the credential JSON, a VC-JWT, or a baked PNG or
    SVG. Its eddsa-rdfc-2022 signature (and a JWT's own) is checked, its key must be bound to the
    issuer in the registry, and the anchor, issuer, revocation and validity come from the chain.

    The registries trusted are --registry / $ANCHOR_REGISTRY / the recorded deployment, plus
    `trusted_registries`; with none of these, every check still runs against the registry the proof
    names, but the verdict is at best untrusted_registry (exit 14): never valid on first sight.
    Exit code: 0 valid, 1 invalid, 10 revoked, 11 expired, 12 not yet valid, 13 pending (below
    the confirmation depth), 14 untrusted registry, 4 unknown (chain unreachable), 2 unreadable input.
    """
    from anchor.app.verifying import Verifier, VerifyOptions
    from anchor.chain.reader import RegistryReader
    from anchor.config import read_deployment
    from anchor.core.forms import read_badge
    from anchor.core.timefmt import parse_ts
    from anchor.core.verdict import prepare_presented

    try:
        raw = badge.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {badge}: {e.strerror}") from None
    presented = read_badge(raw, what=str(badge))
    registry = app.settings.registry
    if registry is None:
        record = read_deployment(app.settings.deployment_file)
        registry = str(record["registry"]) if record else None
    options = VerifyOptions(registry=registry, trusted_registries=app.settings.trusted_registries, chain_id=chain_id, confirmations=app.settings.confirmations,
                            at=parse_ts(at_time, what="--at") if at_time else None, email=email)
    verifier = Verifier(lambda address: RegistryReader(app.chain, address), options)
    if components is not None:
        from anchor.cli.stacking import verify_stack_command

        sys.exit(VERDICT_EXIT[verify_stack_command(verifier, presented, components, badge.name, as_json=as_json)])
    report = verifier.check(prepare_presented(presented))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        colour = {"valid": "green", "unknown": "yellow", "pending": "yellow", "untrusted_registry": "yellow"}.get(report.verdict.value, "red")
        say(f"{report.verdict.value.upper()}: {badge.name} (read as {_FORMS[presented.format]})", fg=colour, bold=True)
        from anchor.core.summary import headline

        say(f"  {headline(report, presented.credential)}")
        for c in report.checks:
            mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[c.status]
            say(f"  {mark} {c.name:<10} {c.message}" + (f" [{c.reason}]" if c.reason and c.status != "passed" else ""))
        for note in report.notes:
            say(f"  note: {note}", fg="yellow")
    sys.exit(VERDICT_EXIT[report.verdict.value])

"""``anchor audit history|issuer`` and ``anchor repair`` (formerly ``reanchor``): the registry's
history rebuilt from its events, an issuer's database checked against it, and what the chain lost
(batches, revocations) written again."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from anchor.cli.app import App, chain_options, pass_app, say
from anchor.core.errors import ChainError, InputError


@click.group()
def audit() -> None:
    """Rebuild the registry's history from the chain; cross-check an issuer's database."""


def _duration(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not m:
        raise InputError(f"a duration is a number with an optional unit s, m, h or d (e.g. 36h), got {text!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _view(app: App) -> Any:
    from anchor.chain.node import Chain
    from anchor.chain.reader import RegistryReader

    # the settings' chain (fallback URLs, chain id) as every command reads it; event pages may be slow
    chain = Chain.from_settings(app.settings, timeout=max(30.0, app.settings.rpc_timeout))
    return RegistryReader(chain, app.registry_choice.address, head_ttl=0)


@audit.command("history")
@chain_options
@click.option("--from-block", type=click.IntRange(min=0), default=0, show_default=True, help="First block to read events from.")
@click.option("--page-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Blocks per eth_getLogs call (halved when the node refuses).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per issuer, batch and revocation.")
@pass_app
def audit_history(app: App, from_block: int, page_size: int, as_json: bool, as_csv: bool) -> None:
    """Rebuild the whole registry state from its events alone, then check it against the contract's views."""
    from anchor.app.auditing import history_audit
    from anchor.cli import audit_output

    view = _view(app)
    if not view.code_matches():
        raise ChainError(f"no CredentialRegistry at {view.address} on {view.chain.rpc.shown_url}", reason="no_registry")
    report = history_audit(view, from_block=from_block, page=page_size)
    if as_json:
        click.echo(json.dumps(audit_output.history_json(report, view), indent=2))
    elif as_csv:
        click.echo(audit_output.history_csv(report), nl=False)
    else:
        for line in audit_output.history_table(report, view):
            say(line)
    if report.findings:
        sys.exit(1)


@audit.command("issuer")
@chain_options
@click.option("--address", help="Issuer account to audit (default: this machine's issuer key).")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error", "critical"]), default="error", show_default=True,
              help="Exit non-zero when a finding has at least this severity.")
@click.option("--backdate-threshold", default="1d", show_default=True, help="Flag credentials dated more than this before their anchoring (e.g. 36h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def audit_issuer(app: App, address: str | None, fail_on: str, backdate_threshold: str, as_json: bool) -> None:
    """Compare the issuer's database with the chain and list findings by severity."""
    from anchor.app.auditing import issuer_audit, read_history, severity_rank
    from anchor.cli import audit_output
    from anchor.core.addresses import checksum as to_checksum_address
    from anchor.core.addresses import is_address

    threshold = _duration(backdate_threshold)
    who = address or app.signer("issuer")[0].address
    if not is_address(who):
        raise InputError(f"not an address: {who!r}")
    view = _view(app)
    state = read_history(view)
    from anchor.app.signing import signed_by_any

    who = to_checksum_address(who)
    keys = [k.public_key for k in state.signing_keys.get(who, [])]
    report = issuer_audit(app.store, state, who, backdate_threshold=threshold, verify_status_list=signed_by_any(keys))
    if as_json:
        click.echo(json.dumps(audit_output.issuer_json(report), indent=2))
    else:
        for line in audit_output.issuer_table(report):
            say(line)
    worst = report.worst()
    if worst is not None and severity_rank(worst) >= severity_rank(fail_on):
        sys.exit(1)


@click.command("repair")
@click.option("--dry-run", is_flag=True, help="Only list what would be written again.")
@pass_app
def repair(app: App, dry_run: bool) -> None:
    """Write again what the chain lost: batches the audit finds missing (same root, new transaction),
    then confirmed revocations the chain does not hold."""
    from anchor.app.auditing import read_history
    from anchor.app.repair import repair as repair_chain

    def show(batches: tuple[Any, ...], revocations: tuple[Any, ...]) -> None:
        for b in batches:
            say(f"batch {b.batch_id}: root 0x{b.root.hex()} ({b.leaf_count} credentials) is missing on chain")
        for r in revocations:
            what = "whole-batch revocation" if r.leaf_index is None else f"revocation of index {r.leaf_index}"
            say(f"batch {r.batch_id}: {what} is recorded as confirmed but missing on chain")

    signer, _ = app.signer("issuer")
    issuer_row = app.issuer_row()
    view = _view(app)
    report = repair_chain(app.store, lambda: app.registry, signer, issuer_row, lambda: read_history(view),
                    confirmations=app.settings.confirmations, timeout=app.settings.receipt_timeout,
                    dry_run=dry_run, on_missing=show)
    if report.clean:
        say("every anchored batch and confirmed revocation of this database is on chain; nothing to do")
        return
    if dry_run:
        return
    for o in report.outcomes:
        say(f"batch {o.batch_id}: anchored again in block {o.block_number}, tx 0x{o.tx_hash.hex()}")
    if report.missing_revocations:
        say(f"{len(report.missing_revocations)} revocation(s) written again in {report.revocation_transactions} transaction(s)")
    if report.outcomes:
        say("re-export the badges (`anchor export DIR`) so their proofs name the new transaction")


reanchor = click.Command("reanchor", callback=repair.callback, params=repair.params,
                         help="The former name of `anchor repair` (kept working).")

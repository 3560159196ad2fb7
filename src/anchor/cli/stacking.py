"""``anchor stack PATHWAY``: issue a pathway's stacked badge to the holders who qualify; and
reading presented components (a directory, a bundle, a VerifiablePresentation) for ``anchor
verify --components``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from anchor.cli.app import App, pass_app, read_text, say
from anchor.core.errors import InputError
from anchor.core.forms import Presented, read_badge


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None


def _item(value: Any, what: str) -> Presented:
    if isinstance(value, str):  # a VC-JWT inside a presentation
        return read_badge(value.encode("utf-8"), what=what)
    if isinstance(value, dict):
        return Presented("json", value, None, json.dumps(value, ensure_ascii=False))
    raise InputError(f"{what} is neither a credential nor a VC-JWT", reason="not_a_credential")


def read_presented(path: Path) -> list[tuple[str, Presented]]:
    """The badges at ``path``: every file of a directory (any form anchor reads), or one file
    holding a JSON array of credentials, a VerifiablePresentation, or a single badge."""
    from anchor.core.safe_input import load_json
    from anchor.core.stack import presented_credentials

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return [(p.name, read_badge(_read_bytes(p), what=str(p))) for p in files if p.name != "manifest.csv"]
    raw = _read_bytes(path)
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"[", b"{")):
        document = load_json(raw, what=str(path))
        many = presented_credentials(document)
        if many is not None:
            return [(f"{path.name}[{n}]", _item(v, f"{path.name}[{n}]")) for n, v in enumerate(many)]
    return [(path.name, read_badge(raw, what=str(path)))]


@click.command()
@click.argument("pathway_file", metavar="PATHWAY", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--evidence", "evidence_path", type=click.Path(exists=True, path_type=Path),
              help="Badges from other issuers presented by holders: a directory of badge files (any form), a JSON "
                   "array, or a VerifiablePresentation. Each is verified on chain before it counts.")
@pass_app
def stack(app: App, pathway_file: Path, evidence_path: Path | None) -> None:
    """Issue PATHWAY's stacked badge to every holder whose components are anchored, valid, not
    revoked and not expired on chain. A rerun issues nothing twice; `anchor anchor` anchors them.
    A pathway naming an achievement of this issuer that it never awarded is refused."""
    from anchor.app.stacking import stack_pathway
    from anchor.app.verifying import Verifier, VerifyOptions
    from anchor.chain.reader import RegistryReader
    from anchor.core.achievement import parse_achievement_text
    from anchor.core.pathway import parse_pathway

    def load_achievement(name: str) -> dict[str, Any]:
        target = pathway_file.parent / name
        return parse_achievement_text(read_text(target), source=str(target))

    issuer = app.issuer_row()
    # Components of this issuer must be achievements it has awarded (a typo would otherwise just
    # leave everyone short); components of other issuers are checked against the evidence.
    own_did = str(json.loads(issuer.profile_json)["id"])
    pathway = parse_pathway(read_text(pathway_file), source=str(pathway_file), load_achievement=load_achievement,
                            known=app.store.issued_achievement_uris(issuer.id), issuer=own_did)
    registry = app.registry_choice.address
    options = VerifyOptions(registry=registry, trusted_registries=app.settings.trusted_registries,
                            confirmations=app.settings.confirmations)
    # One reader per registry for the whole run; the head is re-read at most every 0.5 s, as the
    # service does (a revocation of the last half second is still caught: by the audit's
    # stack_component_revoked, and by every verification of the stack with its components).
    readers: dict[str, RegistryReader] = {}

    def reader_for(address: str) -> RegistryReader:
        if address not in readers:
            readers[address] = RegistryReader(app.chain, address, head_ttl=0.5)  # the settings' RPC URLs, failover, finality
        return readers[address]

    verifier = Verifier(reader_for, options)
    evidence = read_presented(evidence_path) if evidence_path is not None else []
    run = stack_pathway(app.store, issuer, pathway, verifier, sign=app.badge_signer(), evidence=evidence)
    say(f"issued {run.created} pending stacked credential(s) of '{pathway.achievement['name']}' ({pathway.achievement_id})")
    if run.already:
        say(f"{run.already} holder(s) hold it already")
    if run.evidence_used:
        say(f"{run.evidence_used} component(s) from other issuers, verified on chain")
    for what, why in run.evidence_refused:
        say(f"  evidence {what}: not used ({why})", fg="yellow")
    if run.short:
        say(f"{len(run.short)} holder(s) do not qualify:")
        for email, why in run.short[:20]:
            say(f"  {email}: {why}")
    if run.created:
        say("next: `anchor anchor`")


def verify_stack_command(verifier: Any, presented: Presented, components: Path, name: str, *, as_json: bool) -> str:
    """``anchor verify STACK --components ...``: print the stack's verdict and each component's;
    returns the verdict (the caller turns it into the exit code)."""
    from anchor.app.stacking import verify_stack

    report = verify_stack(verifier, presented, [p for _, p in read_presented(components)])
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return report.verdict.value
    colour = {"valid": "green", "unknown": "yellow", "pending": "yellow", "untrusted_registry": "yellow"}.get(report.verdict.value, "red")
    say(f"{report.verdict.value.upper()}: {name} (stacked badge, {len(report.components)} component(s) presented)",
        fg=colour, bold=True)
    say(f"  {report.summary}")
    say(f"  stack itself: {report.stack.verdict.value}")
    for c in report.components:
        verdict = c.report.verdict.value if c.report is not None else "-"
        say(f"  {'ok  ' if c.status == 'ok' else 'FAIL'} {c.ref.name} ({c.ref.id}): {verdict}"
            + (f" [{c.status}]" if c.status != "ok" else ""))
    for note in report.notes:
        say(f"  note: {note}", fg="yellow")
    return report.verdict.value

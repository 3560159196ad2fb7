"""``anchor demo``: the README's main job on the embedded defaults (local Anvil + SQLite), step
by step: chain up, registry, issuer, issue the sample roster, anchor, export, serve, and verify one
badge three ways (the service, offline, a tampered copy).

Where it works comes from the settings like every command: ``--home`` / ``$ANCHOR_HOME`` (default
``./var``), ``--rpc`` / ``$ANCHOR_RPC_URL`` (the local chain's port), and ``--bind`` /
``$ANCHOR_SERVICE_BIND`` for the service, so a second demo (or a test) can run beside the first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from anchor.cli.app import App, pass_app, say
from anchor.cli.serve import DEFAULT_BIND, bind_option
from anchor.config import Settings

SERVICE_BIND = DEFAULT_BIND
Say = Callable[..., None]


@click.command()
@bind_option
@pass_app
def demo(app: App, bind: str) -> None:
    """Run the main job on the embedded defaults (local Anvil + SQLite), explaining each step."""
    run_demo(app.settings, say, bind=bind)


def _flags(settings: Settings) -> str:
    """The global options that repeat the demo's commands on a moved home or chain."""
    default = Settings()
    home = f" --home {settings.home}" if settings.home != default.home else ""
    rpc = f" --rpc {settings.rpc_url}" if settings.rpc_url != default.rpc_url else ""
    return home + rpc


def examples_dir() -> Path:
    from anchor.chain.artifact import project_root

    return project_root() / "examples"


def run_demo(settings: Settings, say: Say, *, bind: str = SERVICE_BIND) -> dict[str, Any]:
    """Run every step, telling ``say`` what happens; returns what a caller may check."""
    import requests

    from anchor.app import localchain
    from anchor.app.anchoring import Anchorer
    from anchor.app.deployment import ensure_registry
    from anchor.app.exporting import export_credentials
    from anchor.app.issuing import issue_credentials
    from anchor.app.registration import register_issuer
    from anchor.app.signing import signer_for
    from anchor.app.signing_keys import dev_signing_key_for
    from anchor.app.verifying import Verifier, VerifyOptions
    from anchor.chain.node import Chain
    from anchor.chain.reader import RegistryReader
    from anchor.chain.signer import dev_signer
    from anchor.cli import serving
    from anchor.core.achievement import build_achievement, parse_achievement_text
    from anchor.core.credential import leaf_of
    from anchor.core.proof import find_anchor_proof
    from anchor.core.roster import parse_roster
    from anchor.store import Store

    say("1. local chain", bold=True)
    st, started = localchain.up(settings)
    say(f"   Anvil {'started' if started else 'already running'} at {st.rpc_url}; state persisted in {st.state_file}")
    chain = Chain(settings.rpc_url)

    say("2. registry", bold=True)
    admin, issuer = dev_signer(0), dev_signer(1)
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.db_url)
    d = ensure_registry(settings, chain, admin, db=store)  # recorded in the database too, as `anchor deploy` does
    say(f"   CredentialRegistry {'deployed' if d.created else 'found'} at {d.registry.address} (chain id {chain.chain_id})")

    say("3. issuer", bold=True)
    signing_key = dev_signing_key_for(issuer.address)
    reg = register_issuer(store, d.registry, issuer, admin, name="Demo University", signing_key=signing_key,
                          public_url=settings.public_url, url="https://demo-university.example",
                          description="A university that exists only in demos.")
    say(f"   {issuer.address} (Anvil dev account 1) is issuer #{reg.on_chain.id if reg.on_chain else '?'} "
        f"named {reg.profile_uri}; its Ed25519 signing key is bound in the registry")

    say("4. issue", bold=True)
    ach_file, roster_file = examples_dir() / "achievement.yaml", examples_dir() / "roster.csv"
    achievement = build_achievement(parse_achievement_text(ach_file.read_text(), source=str(ach_file)))
    issuer_row = store.issuer(issuer.address)
    assert issuer_row is not None
    report = issue_credentials(store, issuer_row, achievement, parse_roster(roster_file.read_text()),
                               sign=signer_for(issuer_row.did, signing_key, issuer_row.signing_key))
    say(f"   {roster_file.name}: {report.created} new credential(s) of '{achievement['name']}'"
        + (f", {len(report.already_issued)} recipient(s) already held it" if report.already_issued else ""))

    say("5. anchor", bold=True)
    anchored = Anchorer(store, d.registry, issuer, issuer_row, confirmations=settings.confirmations).run()
    for o in anchored.outcomes:
        say(f"   batch {o.batch_id}: {o.leaf_count} credential(s) → root 0x{o.root.hex()[:16]}… in block "
            f"{o.block_number} (one transaction, {o.how})")
    if not anchored.outcomes:
        say("   nothing pending: every credential was already anchored")

    say("6. export", bold=True)
    out = settings.home / "badges"
    issuer_row = store.issuer(issuer.address)
    assert issuer_row is not None
    exported = export_credentials(store, issuer_row.id, issuer.address, out,
                                  sign=signer_for(issuer_row.did, signing_key, issuer_row.signing_key))
    say(f"   {exported.files} badge file(s), each signed (eddsa-rdfc-2022) and with its anchor receipt, in {out.resolve()}/")

    say("7. check one badge against the chain", bold=True)
    sample = sorted(out.glob("*.json"))[0]
    badge = json.loads(sample.read_text())
    proof = find_anchor_proof(badge)
    ok = d.registry.verify(proof.issuer_address, proof.root, leaf_of(badge), proof.index, list(proof.path))
    holder = badge["credentialSubject"]["identifier"][1]["identityHash"]
    say(f"   {sample.name} ({holder}): registry.verify(root, leaf, index {proof.index}, proof) = {ok}")
    store.close()

    say("8. serve the verification API (gunicorn)", bold=True)
    url = serving.start_detached(settings, d.registry.address, bind=bind, workers=2, threads=1)
    say(f"   {url}/ (a page to check a badge), {url}/openapi.json, logs in {serving.log_file(settings)}")

    say("9. verify the sample badge three ways", bold=True)
    tampered = settings.home / "tampered-badge.json"
    forged = json.loads(sample.read_text())
    forged["credentialSubject"]["identifier"][1]["identityHash"] = "Mallory Forger"
    tampered.write_text(json.dumps(forged, indent=2))
    answer = requests.post(f"{url}/api/v1/verify", data=sample.read_bytes(), headers={"Content-Type": "application/json"}, timeout=10).json()
    say(f"   a) the service:  curl -s -X POST -H 'Content-Type: application/json' --data-binary @{sample} {url}/api/v1/verify")
    say(f"      → {answer['summary']}")
    offline = Verifier(lambda a: RegistryReader.connect(settings.rpc_url, a), VerifyOptions(registry=d.registry.address)).verify(badge)
    anchor = ".venv/bin/anchor" + _flags(settings)
    say(f"   b) offline, chain only:  {anchor} verify {sample}")
    say(f"      → {offline.summary}")
    bad = Verifier(lambda a: RegistryReader.connect(settings.rpc_url, a), VerifyOptions(registry=d.registry.address)).verify(forged)
    say(f"   c) a tampered copy (holder renamed):  {anchor} verify {tampered}")
    say(f"      → {bad.summary}" + (f" [{bad.failed.reason}]" if bad.failed and bad.failed.reason else ""))
    say("")
    say("Done. The chain and the service keep running in the background; `scripts/demo stop` stops both.", bold=True)
    return {"registry": d.registry.address, "badges": out, "sample": sample, "url": url, "tampered": tampered,
            "verdicts": (answer["verdict"], offline.verdict.value, bad.verdict.value)}

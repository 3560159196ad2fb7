"""The ``anchor`` command line: one module, errors turned into one line and an exit code.

Exit codes: 0 success; 1 a check failed (e.g. a badge is invalid or revoked); 2 bad input;
3 configuration; 4 chain unreachable (verdict unknown); 5 chain or contract error; 6 not found;
7 store error.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from anchor.app import localchain
from anchor.chain.client import Chain, Registry
from anchor.config import Settings, load_settings
from anchor.core.errors import (
    AnchorError,
    ChainError,
    ChainUnavailable,
    ConfigError,
    InputError,
    NotFound,
    StoreError,
    VerificationError,
)
from anchor.chain.signer import DEV_CHAIN_ID, Signer, resolve_signer
from anchor.store import Store
from anchor.store.schema import IssuerRow

EXIT_CODES: list[tuple[type[AnchorError], int]] = [
    (InputError, 2),
    (ConfigError, 3),
    (ChainUnavailable, 4),
    (ChainError, 5),
    (NotFound, 6),
    (StoreError, 7),
    (VerificationError, 1),
    (AnchorError, 1),
]


class App:
    """Lazily built collaborators for one command invocation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._signers: dict[str, tuple[Signer, str]] = {}

    @cached_property
    def chain(self) -> Chain:
        return Chain(self.settings.rpc_url)

    @cached_property
    def registry(self) -> Registry:
        registry = Registry(self.chain, self.settings.registry_address())
        registry.check_deployed()
        return registry

    @cached_property
    def store(self) -> Store:
        if self.settings.database_url is None:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        return Store.open(self.settings.db_url)

    def issuer_row(self) -> IssuerRow:
        from anchor.app.issuing import issuer_row_for

        return issuer_row_for(self.store, self.signer("issuer")[0].address)

    def local_dev_chain(self) -> bool:
        return self.settings.is_local_chain() and self.chain.chain_id == DEV_CHAIN_ID

    def signer(self, role: str) -> tuple[Signer, str]:
        if role not in self._signers:
            self._signers[role] = resolve_signer(
                role,
                key_env=f"ANCHOR_{role.upper()}_KEY",
                keystore=self.settings.issuer_keystore if role == "issuer" else self.settings.admin_keystore,
                dev_index=1 if role == "issuer" else 0,
                local_dev_chain=self.local_dev_chain(),
            )
        return self._signers[role]


pass_app = click.make_pass_decorator(App)


def chain_options(fn: Any) -> Any:
    """``--rpc`` and ``--registry`` on a subcommand too (``anchor verify badge.json --rpc URL``),
    overriding the group-level settings."""

    def apply(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            app = ctx.ensure_object(App)
            app.settings = app.settings.with_overrides(**{param.name: value})  # type: ignore[misc]

    fn = click.option("--registry", "registry", expose_value=False, callback=apply, is_eager=True,
                      help="Registry contract address (overrides the global option).")(fn)
    return click.option("--rpc", "rpc_url", expose_value=False, callback=apply, is_eager=True,
                        help="Chain JSON-RPC URL (overrides the global option).")(fn)


def say(message: str = "", **style: Any) -> None:
    click.secho(message, **style)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file (default ./anchor.toml).")
@click.option("--home", type=click.Path(path_type=Path), help="Directory for local state (default ./var).")
@click.option("--rpc", "rpc_url", help="Chain JSON-RPC URL (default http://127.0.0.1:8545).")
@click.option("--registry", help="Registry contract address (default: the one `anchor deploy` recorded).")
@click.option("--db", "database_url", help="Database URL (default sqlite:///<home>/anchor.db).")
@click.option("--confirmations", type=click.IntRange(min=1), help="Blocks before a proof is released (default 1).")
@click.version_option(package_name="anchor-credentials")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, **overrides: Any) -> None:
    """anchor: issue, anchor, verify and audit Open Badges 3.0 micro-credentials."""
    settings = load_settings(config_file).with_overrides(**overrides)
    ctx.obj = App(settings)


# ------------------------------------------------------------------------------ chain


@cli.group()
def chain() -> None:
    """The local development chain (Anvil, state persisted under <home>/chain)."""


@chain.command("up")
@pass_app
def chain_up(app: App) -> None:
    """Start the local Anvil in the background (no-op if one answers already)."""
    st, started = localchain.up(app.settings)
    verb = "started" if started else "already running"
    say(f"chain {verb} at {st.rpc_url} (state file {st.state_file})")


@chain.command("down")
@pass_app
def chain_down(app: App) -> None:
    """Stop the local Anvil `chain up` started (its state is saved)."""
    say("chain stopped" if localchain.down(app.settings) else "no chain started by anchor is running")


@chain.command("status")
@pass_app
def chain_status(app: App) -> None:
    """Whether the chain answers, and where its state lives."""
    st = localchain.status(app.settings)
    say(f"{st.rpc_url}: {'up' if st.running else 'down'}" + (f" (pid {st.pid})" if st.pid else ""))
    if not st.running:
        sys.exit(4)


# ------------------------------------------------------------------------------ admin


@cli.command()
@click.option("--force", is_flag=True, help="Deploy a new registry even if one is recorded.")
@pass_app
def deploy(app: App, force: bool) -> None:
    """Deploy the CredentialRegistry (admin key) and record its address."""
    from anchor.app.deployment import ensure_registry

    admin, source = app.signer("admin")
    d = ensure_registry(app.settings, app.chain, admin, force=force)
    verb = "deployed" if d.created else "found"
    say(f"registry {verb} at {d.registry.address} on chain {app.chain.chain_id} (block {d.block}); admin {admin.address} from {source}")


@cli.group()
def issuer() -> None:
    """Issuer accounts on the registry."""


@issuer.command("add")
@click.argument("address")
@click.argument("profile_uri")
@pass_app
def issuer_add(app: App, address: str, profile_uri: str) -> None:
    """Authorize ADDRESS to anchor, with its Open Badges issuer PROFILE_URI (admin key)."""
    from anchor.app.deployment import ensure_issuer

    admin, _ = app.signer("admin")
    info, changed = ensure_issuer(app.registry, admin, address, profile_uri)
    say(f"issuer {info.address} (id {info.id}) {'added' if changed else 'was already active'}: {info.profile_uri}")


@issuer.command("remove")
@click.argument("address")
@pass_app
def issuer_remove(app: App, address: str) -> None:
    """Stop ADDRESS from anchoring new batches (its history stays valid)."""
    admin, _ = app.signer("admin")
    app.registry.remove_issuer(admin, address)
    say(f"issuer {address} removed; its existing batches stay valid")


@issuer.command("register")
@click.option("--name", required=True, help="Issuer name shown on badges, e.g. 'Demo University'.")
@click.option("--profile-id", required=True, help="Issuer Profile URI (its id in every badge), e.g. https://uni.example/issuer.")
@click.option("--url", help="Issuer home page.")
@click.option("--email", help="Contact email shown in the profile.")
@click.option("--description", help="One-line description.")
@click.option("--image", help="Logo URL.")
@click.option("--no-chain", is_flag=True, help="Only store the profile; the registry admin adds the on-chain role separately.")
@pass_app
def issuer_register(app: App, name: str, profile_id: str, url: str | None, email: str | None, description: str | None,
                    image: str | None, no_chain: bool) -> None:
    """Register this machine's issuer key: its Open Badges profile (database) and its role (chain, admin key)."""
    from anchor.app.registration import register_issuer

    signer, source = app.signer("issuer")
    result = register_issuer(
        app.store, app.registry, signer,
        None if no_chain else app.signer("admin")[0],
        name=name, profile_id=profile_id, url=url, email=email, description=description, image=image,
    )
    say(f"issuer {signer.address} (key from {source}) registered with profile {result.profile_uri}")
    if result.on_chain is None:
        say(f"on chain: not yet authorized; ask the registry admin to run: anchor issuer add {signer.address} {result.profile_uri}")
    else:
        say(f"on chain: issuer #{result.on_chain.id}, {'added now' if result.added else 'already authorized'}")


@issuer.command("show")
@click.argument("address", required=False)
@pass_app
def issuer_show(app: App, address: str | None) -> None:
    """Show the profile and on-chain record of ADDRESS (default: this machine's issuer key)."""
    if address is None:
        address = app.signer("issuer")[0].address
    info = app.registry.issuer_info(address)
    row = app.store.issuer(info.address)
    if info.id == 0 and row is None:
        raise NotFound(f"{address} was never an issuer on registry {app.registry.address} nor in this database")
    say(f"issuer      {info.address}" + (f" (id {info.id} on chain)" if info.id else " (not on chain)"))
    if row is not None:
        profile = json.loads(row.profile_json)
        say(f"name        {profile.get('name')}")
        say(f"profile     {row.profile_uri}")
    elif info.profile_uri:
        say(f"profile     {info.profile_uri} (not in this database)")
    if info.id:
        say(f"active      {'yes' if info.active else 'no'}")
        say(f"added at    {_time(info.added_at)}")
    if info.removed_at:
        say(f"removed at  {_time(info.removed_at)}")
    if row is not None and info.id and row.profile_uri != info.profile_uri:
        say(f"WARNING: on-chain profile {info.profile_uri} differs from the database's", fg="red")


@cli.command("keystore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--import-env", metavar="VAR", help="Encrypt the hex key held in $VAR instead of generating a new one.")
@click.option("--password-env", metavar="VAR", help="Take the password from $VAR instead of prompting.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def keystore(path: Path, import_env: str | None, password_env: str | None, force: bool) -> None:
    """Create an encrypted keystore (eth-account JSON v3) at PATH; prints the address only.

    Point `issuer_keystore` / `admin_keystore` in anchor.toml at it and put the password in
    $ANCHOR_KEYSTORE_PASSWORD when running anchor.
    """
    import secrets

    from anchor.chain.signer import write_keystore

    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    if import_env:
        key = os.environ.get(import_env, "").strip()
        if not key:
            raise ConfigError(f"${import_env} is empty")
        Signer.from_key(key)  # validates without echoing it
    else:
        key = "0x" + secrets.token_hex(32)
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise ConfigError(f"${password_env} is empty")
    else:
        password = click.prompt("keystore password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise InputError("use a password of at least 8 characters")
    address = write_keystore(key, path, password)
    say(f"wrote {path} (mode 600) for {address}")


# ------------------------------------------------------------------------------ issuing


def _progress(total: int, desc: str, unit: str = "credential") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty() or total < 2000)


@cli.command()
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--achievement", "achievement_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Achievement definition (YAML or JSON).")
@click.option("--skip-invalid", is_flag=True, help="Issue the good rows of a roster that has bad ones (default: issue none).")
@click.option("--valid-from", help="Default validFrom (ISO 8601; default now).")
@click.option("--valid-until", help="Default validUntil (ISO 8601 date or date-time).")
@click.option("--valid-for-days", type=click.IntRange(min=1), help="Default validUntil as days after validFrom.")
@pass_app
def issue(app: App, roster: Path, achievement_file: Path, skip_invalid: bool, valid_from: str | None,
          valid_until: str | None, valid_for_days: int | None) -> None:
    """Turn ROSTER (CSV: name,email[,evidence_url,valid_from,valid_until,awarded_date,narrative]) into pending credentials."""
    from anchor.core.achievement import build_achievement, parse_achievement_text
    from anchor.app.issuing import issue_credentials
    from anchor.core.roster import parse_roster
    from anchor.core.timefmt import days, parse_ts, utcnow

    if valid_until and valid_for_days:
        raise InputError("give --valid-until or --valid-for-days, not both")
    achievement = build_achievement(parse_achievement_text(_read_text(achievement_file), source=str(achievement_file)))
    start = parse_ts(valid_from, what="--valid-from") if valid_from else utcnow()
    until = parse_ts(valid_until, what="--valid-until", end_of_day=True) if valid_until else None
    if valid_for_days:
        until = start + days(valid_for_days)
    parsed = parse_roster(_read_text(roster))
    issuer_row = app.issuer_row()
    with _progress(len(parsed.rows), "issuing") as bar:
        report = issue_credentials(app.store, issuer_row, achievement, parsed, skip_invalid=skip_invalid,
                                   valid_from=start, valid_until=until, progress=bar.update)
    say(f"issued {report.created} pending credential(s) of '{achievement['name']}' ({achievement['id']})")
    if report.already_issued:
        lines = ", ".join(str(n) for n in report.already_issued[:20]) + (" ..." if len(report.already_issued) > 20 else "")
        say(f"skipped {len(report.already_issued)} recipient(s) who already hold it (rows {lines})")
    if report.skipped_rows:
        say(f"skipped {len(report.skipped_rows)} bad row(s):", fg="yellow")
        for err in report.skipped_rows[:50]:
            say(f"  {err}", fg="yellow")
    say("next: `anchor anchor` puts them on chain")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None


@cli.command("anchor")
@click.option("--max-batch", type=click.IntRange(min=1), default=1_000_000, show_default=True, help="Credentials per batch (one transaction each).")
@pass_app
def anchor_cmd(app: App, max_batch: int) -> None:
    """Batch the pending credentials, anchor each batch's root, wait for confirmations."""
    from anchor.app.anchoring import Anchorer

    signer, _ = app.signer("issuer")
    issuer_row = app.issuer_row()
    pending = app.store.counts(issuer_row.id)
    with _progress(pending.pending + pending.batched, "anchoring") as bar:
        anchorer = Anchorer(app.store, app.registry, signer, issuer_row, confirmations=app.settings.confirmations,
                            timeout=app.settings.receipt_timeout, on_batch=lambda o: bar.update(o.leaf_count))
        report = anchorer.run(max_batch=max_batch)
    if not report.outcomes:
        say("nothing to anchor: no pending credentials")
        return
    for o in report.outcomes:
        say(f"batch {o.batch_id}: {o.leaf_count} credential(s), root 0x{o.root.hex()}, block {o.block_number}, "
            f"tx 0x{o.tx_hash.hex()} ({o.how})")
    say(f"anchored {report.credentials} credential(s) in {len(report.outcomes)} batch(es) with "
        f"{app.settings.confirmations} confirmation(s); next: `anchor export DIR`")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@pass_app
def export(app: App, directory: Path) -> None:
    """Write every anchored credential with its proof to DIRECTORY/<uuid>.json."""
    from anchor.app.exporting import export_credentials

    issuer_row = app.issuer_row()
    total = app.store.counts(issuer_row.id).anchored
    with _progress(total, "exporting", unit="file") as bar:
        report = export_credentials(app.store, issuer_row.id, issuer_row.address, directory, progress=bar.update)
    say(f"wrote {report.files} badge file(s) from {report.batches} batch(es) to {directory}")
    if report.unconfirmed_batches or report.pending_credentials:
        say(f"not exported yet: {report.pending_credentials} pending credential(s), {report.unconfirmed_batches} "
            "unconfirmed batch(es); run `anchor anchor` first", fg="yellow")


@cli.command()
@click.argument("credential_ids", nargs=-1)
@click.option("--file", "id_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="File of credential ids, one per line.")
@click.option("--batch", "batch_root", help="Revoke a whole batch by its Merkle root (e.g. after a key compromise).")
@click.option("--reason", default="unspecified", show_default=True, help="unspecified, issued_in_error, key_compromise, superseded, misconduct, withdrawn, expired_requirement")
@click.option("--note", help="Free-text note kept in the database (not on chain).")
@pass_app
def revoke(app: App, credential_ids: tuple[str, ...], id_file: Path | None, batch_root: str | None, reason: str, note: str | None) -> None:
    """Revoke credentials (by id, or a file of ids) or a whole batch; permanent."""
    from anchor.app.revoking import reason_code, request_batch_revocation, request_revocation, submit_revocations

    code = reason_code(reason)
    ids = list(credential_ids)
    if id_file:
        ids += [line.strip() for line in _read_text(id_file).splitlines() if line.strip() and not line.startswith("#")]
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
                                timeout=app.settings.receipt_timeout)
    say(f"on chain: {report.indices} index(es) and {report.batches_revoked} whole batch(es) revoked in "
        f"{report.transactions} transaction(s)")


@cli.command()
@click.option("--batches", "n_batches", type=click.IntRange(min=0), default=5, show_default=True, help="How many recent batches to list.")
@pass_app
def status(app: App, n_batches: int) -> None:
    """Pending / anchored / revoked counts and the latest batches."""
    issuer_row = app.issuer_row()
    c = app.store.counts(issuer_row.id)
    say(f"issuer {issuer_row.address} ({issuer_row.profile_uri})")
    say(f"pending {c.pending}   being anchored {c.batched}   anchored {c.anchored}   revoked {c.revoked}"
        + (f"   revocations in flight {c.revoking}" if c.revoking else ""))
    batches = app.store.batches(issuer_row.id, newest_first=True, limit=n_batches)
    if batches:
        say(f"{'batch':>6}  {'status':<10} {'size':>9}  {'block':>8}  {'anchored at':<20}  root")
        for b in batches:
            when = _time(b.block_time) if b.block_time else "-"
            say(f"{b.id:>6}  {b.status:<10} {b.leaf_count:>9}  {b.block_number if b.block_number is not None else '-':>8}  {when:<20}  0x{b.root.hex()}")


def _time(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------ verifying

VERDICT_EXIT = {"valid": 0, "invalid": 1, "unknown": 4, "revoked": 10, "expired": 11, "not_yet_valid": 12}


@cli.command()
@click.argument("badge", type=click.Path(dir_okay=False, path_type=Path))
@chain_options
@click.option("--email", help="Also check that the badge was issued to this email address.")
@click.option("--at", "at_time", help="Judge the validity window at this time (ISO 8601; default now).")
@click.option("--chain-id", type=int, help="Refuse proofs for any other chain id.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@pass_app
def verify(app: App, badge: Path, email: str | None, at_time: str | None, chain_id: int | None, as_json: bool) -> None:
    """Verify BADGE (a credential JSON with its proof) against the chain alone: no service, no database.

    The registry is --registry / $ANCHOR_REGISTRY / the recorded deployment; with none of these,
    the one the proof names is used (and the report says so). Exit code: 0 valid, 1 invalid,
    10 revoked, 11 expired, 12 not yet valid, 4 unknown (chain unreachable), 2 unreadable input.
    """
    from anchor.chain.reader import RegistryView
    from anchor.config import read_deployment
    from anchor.core.credential import parse_credential_json
    from anchor.core.timefmt import parse_ts
    from anchor.app.verifying import Verifier, VerifyOptions

    try:
        raw = badge.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {badge}: {e.strerror}") from None
    credential = parse_credential_json(raw)
    registry = app.settings.registry
    if registry is None:
        record = read_deployment(app.settings.deployment_file)
        registry = str(record["registry"]) if record else None
    options = VerifyOptions(registry=registry, chain_id=chain_id, confirmations=app.settings.confirmations,
                            at=parse_ts(at_time, what="--at") if at_time else None, email=email)
    report = Verifier(lambda address: RegistryView(app.settings.rpc_url, address, head_ttl=0), options).verify(credential)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        colour = {"valid": "green", "unknown": "yellow"}.get(report.verdict.value, "red")
        say(f"{report.verdict.value.upper()}: {badge.name}", fg=colour, bold=True)
        for c in report.checks:
            mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[c.status]
            say(f"  {mark} {c.name:<10} {c.message}" + (f" [{c.reason}]" if c.reason and c.status != "passed" else ""))
        for note in report.notes:
            say(f"  note: {note}", fg="yellow")
    sys.exit(VERDICT_EXIT[report.verdict.value])


# ------------------------------------------------------------------------------ auditing


@cli.group()
def audit() -> None:
    """Rebuild the registry's history from the chain; cross-check an issuer's database."""


def _duration(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not m:
        raise InputError(f"a duration is a number with an optional unit s, m, h or d (e.g. 36h), got {text!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _view(app: App) -> Any:
    from anchor.chain.reader import RegistryView

    return RegistryView(app.settings.rpc_url, app.settings.registry_address(), head_ttl=0, timeout=30)


@audit.command("history")
@chain_options
@click.option("--from-block", type=click.IntRange(min=0), default=0, show_default=True, help="First block to read events from.")
@click.option("--page-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Blocks per eth_getLogs call (halved when the node refuses).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per issuer, batch and revocation.")
@pass_app
def audit_history(app: App, from_block: int, page_size: int, as_json: bool, as_csv: bool) -> None:
    """Rebuild the whole registry state from its events alone, then check it against the contract's views."""
    from anchor.cli import audit_output
    from anchor.app.auditing import history_audit

    view = _view(app)
    if not view.code_matches():
        raise ChainError(f"no CredentialRegistry at {view.address} on {app.settings.rpc_url}", reason="no_registry")
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
    from anchor.cli import audit_output
    from anchor.app.auditing import issuer_audit, read_history, severity_rank

    threshold = _duration(backdate_threshold)
    who = address or app.signer("issuer")[0].address
    from anchor.core.addresses import checksum as to_checksum_address
    from anchor.core.addresses import is_address

    if not is_address(who):
        raise InputError(f"not an address: {who!r}")
    view = _view(app)
    state = read_history(view)
    report = issuer_audit(app.store, state, to_checksum_address(who), backdate_threshold=threshold)
    if as_json:
        click.echo(json.dumps(audit_output.issuer_json(report), indent=2))
    else:
        for line in audit_output.issuer_table(report):
            say(line)
    worst = report.worst()
    if worst is not None and severity_rank(worst) >= severity_rank(fail_on):
        sys.exit(1)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list the batches that would be anchored again.")
@pass_app
def reanchor(app: App, dry_run: bool) -> None:
    """Anchor again (new transaction, same root) every batch the audit finds missing on chain."""
    from anchor.app.anchoring import Anchorer
    from anchor.app.auditing import read_history

    signer, _ = app.signer("issuer")
    issuer_row = app.issuer_row()
    state = read_history(_view(app))
    missing = [b for b in app.store.batches(issuer_row.id, statuses=("confirmed",)) if b.root not in state.batches]
    if not missing:
        say("every anchored batch of this database is on chain; nothing to do")
        return
    for b in missing:
        say(f"batch {b.id}: root 0x{b.root.hex()} ({b.leaf_count} credentials) is missing on chain")
    if dry_run:
        return
    for b in missing:
        app.store.reset_batch(b.id)
    report = Anchorer(app.store, app.registry, signer, issuer_row, confirmations=app.settings.confirmations,
                      timeout=app.settings.receipt_timeout).run()
    for o in report.outcomes:
        say(f"batch {o.batch_id}: anchored again in block {o.block_number}, tx 0x{o.tx_hash.hex()}")
    say("re-export the badges (`anchor export DIR`) so their proofs name the new transaction")


# ------------------------------------------------------------------------------ service


@cli.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address for gunicorn to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Threads per worker.")
@click.option("--detach", is_flag=True, help="Run in the background (pid and log under <home>/service).")
@click.option("--stop", is_flag=True, help="Stop a service started with --detach.")
@pass_app
def serve(app: App, bind: str, workers: int, threads: int, detach: bool, stop: bool) -> None:
    """Serve the public verification API and page with gunicorn."""
    from anchor.cli import serving

    if stop:
        say("service stopped" if serving.stop(app.settings) else "no detached service is running")
        return
    registry = app.settings.registry_address()
    if detach:
        url = serving.start_detached(app.settings, registry, bind=bind, workers=workers, threads=threads)
        say(f"serving {url} (registry {registry}); log {serving.log_file(app.settings)}; stop with `anchor serve --stop`")
        return
    serving.run_foreground(app.settings, registry, bind=bind, workers=workers, threads=threads)


# ------------------------------------------------------------------------------ demo


@cli.command()
@pass_app
def demo(app: App) -> None:
    """Run the main job on the embedded defaults (local Anvil + SQLite), explaining each step."""
    from anchor.cli.demo import run_demo

    run_demo(app.settings, say)


# ------------------------------------------------------------------------------ entry


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (tests call it directly)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="anchor")
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return 2
    except AnchorError as e:
        click.echo(f"error: {e.message}", err=True)
        return next(code for kind, code in EXIT_CODES if isinstance(e, kind))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

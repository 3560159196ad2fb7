"""The ``anchor`` command line: one module, errors turned into one line and an exit code.

Exit codes: 0 success; 1 a check failed (e.g. a badge is invalid or revoked); 2 bad input;
3 configuration; 4 chain unreachable (verdict unknown); 5 chain or contract error; 6 not found;
7 store error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from anchor import localchain
from anchor.chain import Chain, Registry
from anchor.config import Settings, load_settings
from anchor.errors import (
    AnchorError,
    ChainError,
    ChainUnavailable,
    ConfigError,
    InputError,
    NotFound,
    StoreError,
    VerificationError,
)
from anchor.signer import DEV_CHAIN_ID, Signer, resolve_signer

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
    from anchor.deployment import ensure_registry

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
    from anchor.deployment import ensure_issuer

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


@issuer.command("show")
@click.argument("address", required=False)
@pass_app
def issuer_show(app: App, address: str | None) -> None:
    """Show the on-chain record of ADDRESS (default: this machine's issuer key)."""
    if address is None:
        address = app.signer("issuer")[0].address
    info = app.registry.issuer_info(address)
    if info.id == 0:
        raise NotFound(f"{address} was never an issuer on registry {app.registry.address}")
    say(f"issuer      {info.address} (id {info.id})")
    say(f"profile     {info.profile_uri}")
    say(f"active      {'yes' if info.active else 'no'}")
    say(f"added at    {_time(info.added_at)}")
    if info.removed_at:
        say(f"removed at  {_time(info.removed_at)}")


def _time(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------ demo


@cli.command()
@pass_app
def demo(app: App) -> None:
    """Run the main job on the embedded defaults (local Anvil + SQLite), explaining each step."""
    from anchor.demo import run_demo

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

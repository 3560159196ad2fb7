"""``anchor chain up|down|status``: the local development chain."""

from __future__ import annotations

import sys

import click

from anchor.cli.app import App, pass_app, say


@click.group()
def chain() -> None:
    """The local development chain (Anvil, state persisted under <home>/chain)."""


@chain.command("up")
@pass_app
def chain_up(app: App) -> None:
    """Start the local Anvil in the background (no-op if one answers already)."""
    from anchor.app import localchain

    st, started = localchain.up(app.settings)
    verb = "started" if started else "already running"
    say(f"chain {verb} at {st.rpc_url} (state file {st.state_file})")


@chain.command("down")
@pass_app
def chain_down(app: App) -> None:
    """Stop the local Anvil `chain up` started (its state is saved)."""
    from anchor.app import localchain

    say("chain stopped" if localchain.down(app.settings) else "no chain started by anchor is running")


@chain.command("status")
@pass_app
def chain_status(app: App) -> None:
    """Whether the chain answers, and where its state lives."""
    from anchor.app import localchain

    st = localchain.status(app.settings)
    say(f"{st.rpc_url}: {'up' if st.running else 'down'}" + (f" (pid {st.pid})" if st.pid else ""))
    if not st.running:
        sys.exit(4)

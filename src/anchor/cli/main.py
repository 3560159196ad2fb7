"""The ``anchor`` command line: the root group, its global options, and the entry point.

Each command group lives in its own module (``chain``, ``db``, ``admin``, ``issuing``, ``holders``, ``verify``,
``audit``, ``serve``, ``demo``); :mod:`anchor.cli.app` holds what they share and turns errors
into one line and an exit code (see :data:`anchor.cli.app.EXIT_CODES`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from anchor.cli import admin, audit, chain, db, demo, doctor, holders, issuing, serve, stacking, verify
from anchor.cli.app import EXIT_CODES, App, run
from anchor.config import load_settings

__all__ = ["EXIT_CODES", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file (default ./anchor.toml).")
@click.option("--home", type=click.Path(path_type=Path), help="Directory for local state (default ./var).")
@click.option("--rpc", "rpc_url", help="Chain JSON-RPC URL (default http://127.0.0.1:8545).")
@click.option("--registry", help="Registry contract address (default: the one `anchor deploy` recorded).")
@click.option("--db", "database_url", help="Database URL (default sqlite:///<home>/anchor.db).")
@click.option("--confirmations", type=click.IntRange(min=1), help="Blocks before a proof is released (default 1).")
@click.version_option(package_name="anchor-credentials")
@click.pass_context
def cli(ctx: click.Context, /, config_file: Path | None, **overrides: Any) -> None:
    """anchor: issue, anchor, verify and audit Open Badges 3.0 micro-credentials."""
    settings = load_settings(config_file).with_overrides(**overrides)
    ctx.obj = App(settings)


for command in (
    chain.chain, db.db,
    admin.deploy, admin.issuer, admin.keystore,
    issuing.issue, stacking.stack, issuing.anchor_cmd, issuing.export, issuing.revoke, issuing.status, issuing.status_lists,
    holders.find, holders.notify, holders.hide, holders.unhide, holders.pages,
    verify.verify,
    audit.audit, audit.repair, audit.reanchor,
    serve.serve,
    demo.demo,
    doctor.doctor,
):  # fmt: skip
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (tests call it directly)."""
    return run(cli, argv)


if __name__ == "__main__":
    sys.exit(main())

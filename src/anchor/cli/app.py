"""What every command group shares: the lazily built collaborators (:class:`App`), the options
and output helpers, and the translation of anchor's errors into one line and an exit code.

Exit codes: 0 success; 1 a check failed (e.g. a badge is invalid or revoked); 2 bad input;
3 configuration; 4 chain unreachable (verdict unknown); 5 chain or contract error; 6 not found;
7 store error.

Nothing here (nor anywhere under ``anchor.cli``) imports web3, eth-account, SQLAlchemy, Flask,
requests or tqdm at module level: ``anchor --help`` must not pay for them. Commands import what
they use inside their function bodies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anchor.config import Settings
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

if TYPE_CHECKING:
    from anchor.app.deployment import RegistryChoice
    from anchor.app.signing import BadgeSigner
    from anchor.chain.node import Chain
    from anchor.chain.signer import Signer
    from anchor.chain.writer import Registry
    from anchor.core.ed25519 import SigningKey
    from anchor.store import Issuer, Store

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


def exit_code(error: AnchorError) -> int:
    """The exit code for an anchor error (the first family in :data:`EXIT_CODES` it belongs to)."""
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


class App:
    """Lazily built collaborators for one command invocation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._signers: dict[str, tuple[Signer, str]] = {}

    @cached_property
    def chain(self) -> Chain:
        from anchor.chain.node import Chain

        return Chain.from_settings(self.settings)

    @cached_property
    def registry(self) -> Registry:
        from anchor.chain.writer import Registry

        registry = Registry(self.chain, self.registry_choice.address)
        registry.check_deployed()
        return registry

    @cached_property
    def registry_choice(self) -> RegistryChoice:
        """The registry address: explicit, else the database's record, else the home's
        deployment.json (:func:`anchor.app.deployment.resolve_registry`)."""
        from anchor.app.deployment import resolve_registry

        return resolve_registry(self.settings, db=self.existing_store, chain=self.chain)

    def existing_store(self) -> Store | None:
        """The issuer database, or None where there is none yet (the default SQLite file is not
        created just to look inside it)."""
        if self.settings.database_url is None and not (self.settings.home / "anchor.db").exists():
            return None
        return self.store

    @cached_property
    def store(self) -> Store:
        from anchor.store import Store

        if self.settings.database_url is None:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        return Store.open(self.settings.db_url)

    def issuer_row(self) -> Issuer:
        from anchor.app.issuing import issuer_row_for

        return issuer_row_for(self.store, self.signer("issuer")[0].address)

    def local_dev_chain(self) -> bool:
        from anchor.chain.signer import DEV_CHAIN_ID

        return self.settings.is_local_chain() and self.chain.chain_id == DEV_CHAIN_ID

    def signer(self, role: str) -> tuple[Signer, str]:
        from anchor.chain.signer import resolve_signer

        if role not in self._signers:
            self._signers[role] = resolve_signer(
                role,
                key_env=f"ANCHOR_{role.upper()}_KEY",
                keystore=self.settings.issuer_keystore if role == "issuer" else self.settings.admin_keystore,
                dev_index=1 if role == "issuer" else 0,
                local_dev_chain=self.local_dev_chain(),
            )
        return self._signers[role]


    def signing_key(self) -> tuple[SigningKey, str]:
        """The issuer's credential-signing key and where it came from."""
        from anchor.app.signing_keys import resolve_signing_key

        return resolve_signing_key(keystore=self.settings.signing_keystore, issuer_address=self.signer("issuer")[0].address,
                                   local_dev_chain=self.local_dev_chain())

    def badge_signer(self) -> BadgeSigner:
        """What signs this issuer's badges at export (its DID and current key)."""
        from anchor.app.signing import signer_for

        row = self.issuer_row()
        return signer_for(row.did, self.signing_key()[0], row.signing_key)


pass_app = click.make_pass_decorator(App)


def chain_options(fn: Any) -> Any:
    """``--rpc`` and ``--registry`` on a subcommand too (``anchor verify badge.json --rpc URL``),
    overriding the group-level settings."""

    def apply(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            app = ctx.ensure_object(App)
            app.settings = app.settings.with_overrides(**{param.name: value})

    fn = click.option("--registry", "registry", expose_value=False, callback=apply, is_eager=True,
                      help="Registry contract address (overrides the global option).")(fn)
    return click.option("--rpc", "rpc_url", expose_value=False, callback=apply, is_eager=True,
                        help="Chain JSON-RPC URL (overrides the global option).")(fn)


def say(message: str = "", **style: Any) -> None:
    click.secho(message, **style)


def read_text(path: Path) -> str:
    """A UTF-8 input file, or :class:`InputError` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None


def format_time(ts: int) -> str:
    """A Unix time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def progress(total: int, desc: str, unit: str = "credential") -> Any:
    """A tqdm bar on stderr, shown only on a terminal and for long runs."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty() or total < 2000)


def run(group: click.Group, argv: Sequence[str] | None) -> int:
    """Run ``group`` on ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Click's own usage errors exit 2 with its message; an :class:`AnchorError` becomes
    ``error: <message>`` on stderr and the code from :data:`EXIT_CODES`.
    """
    try:
        group.main(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="anchor")
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
        return exit_code(e)
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt:
        click.echo("interrupted: whatever was stored is resumed by running the command again", err=True)
        return 130
    except Exception as e:  # a bug or an unexpected environment: one line, never a traceback (ANCHOR_DEBUG=1 shows it)
        if os.environ.get("ANCHOR_DEBUG"):
            raise
        click.echo(f"error: unexpected {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else 'no detail'} "
                   "(nothing is lost: rerun the command; set ANCHOR_DEBUG=1 for the traceback and report it)", err=True)
        return 70  # EX_SOFTWARE
    return 0

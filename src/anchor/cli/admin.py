"""Registry administration: ``anchor deploy``, ``anchor issuer add|remove|register|show`` and
``anchor keystore``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from anchor.cli.app import App, format_time, pass_app, say
from anchor.core.errors import ConfigError, InputError, NotFound


@click.command()
@click.option("--force", is_flag=True, help="Deploy a new registry even if one is recorded.")
@pass_app
def deploy(app: App, force: bool) -> None:
    """Deploy the CredentialRegistry (admin key) and record its address."""
    from anchor.app.deployment import ensure_registry

    admin, source = app.signer("admin")
    d = ensure_registry(app.settings, app.chain, admin, force=force)
    verb = "deployed" if d.created else "found"
    say(f"registry {verb} at {d.registry.address} on chain {app.chain.chain_id} (block {d.block}); admin {admin.address} from {source}")


@click.group()
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
        say(f"added at    {format_time(info.added_at)}")
    if info.removed_at:
        say(f"removed at  {format_time(info.removed_at)}")
    if row is not None and info.id and row.profile_uri != info.profile_uri:
        say(f"WARNING: on-chain profile {info.profile_uri} differs from the database's", fg="red")


@click.command("keystore")
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

    from anchor.chain.signer import Signer, write_keystore

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

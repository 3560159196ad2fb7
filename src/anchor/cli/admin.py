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
    """Deploy the CredentialRegistry (admin key) and record its address (in the database and <home>/deployment.json).

    Reuses the registry the database (or deployment.json) records for this chain when it is live there."""
    from anchor.app.deployment import ensure_registry

    admin, source = app.signer("admin")
    d = ensure_registry(app.settings, app.chain, admin, db=app.store, force=force)
    verb = "deployed" if d.created else "found"
    say(f"registry {verb} at {d.registry.address} on chain {app.chain.chain_id} (block {d.block}); admin {admin.address} from {source}; "
        f"recorded in the database and {app.settings.deployment_file}")
    if d.replaced:
        say(f"the database recorded registry {d.replaced} for this chain before; its batches stay on that registry")


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
@click.option("--did", "did_method", type=click.Choice(["key", "web"]), default="key", show_default=True,
              help="How badges name the issuer: did:key of its signing key (local/dev; a new key is a new DID), or "
                   "did:web served by this anchor service under public_url (keys can rotate).")
@click.option("--profile-id", help="An explicit issuer DID instead (e.g. did:web:uni.example, whose did.json you publish).")
@click.option("--url", help="Issuer home page.")
@click.option("--email", help="Contact email shown in the profile.")
@click.option("--description", help="One-line description.")
@click.option("--image", help="Logo URL.")
@click.option("--no-chain", is_flag=True, help="Only store the profile; the registry admin adds the on-chain role separately.")
@pass_app
def issuer_register(app: App, name: str, did_method: str, profile_id: str | None, url: str | None, email: str | None,
                    description: str | None, image: str | None, no_chain: bool) -> None:
    """Register this machine's issuer: its Open Badges profile named by a DID (database), its role
    (chain, admin key) and its credential-signing key (bound in the registry by the issuer)."""
    from anchor.app.registration import register_issuer

    signer, source = app.signer("issuer")
    key, key_source = app.signing_key()
    result = register_issuer(
        app.store, app.registry, signer,
        None if no_chain else app.signer("admin")[0],
        name=name, signing_key=key, profile_id=profile_id, did_method=did_method, public_url=app.settings.public_url,
        url=url, email=email, description=description, image=image, confirmations=app.settings.confirmations,
    )
    say(f"issuer {signer.address} (key from {source}) registered as {result.profile_uri}")
    say(f"signing key {key.public_multibase} (from {key_source})")
    if result.on_chain is None:
        say(f"on chain: not yet authorized; ask the registry admin to run: anchor issuer add {signer.address} {result.profile_uri}, "
            "then bind the signing key: anchor issuer key bind")
    else:
        say(f"on chain: issuer #{result.on_chain.id}, {'added now' if result.added else 'already authorized'}")
    if result.binding is not None:
        say(f"on chain: {result.binding.summary}")
    if result.profile_uri.startswith("did:web:"):
        from anchor.core.did import did_web_document_url

        say(f"other verifiers resolve it at {did_web_document_url(result.profile_uri)} (`anchor serve` publishes it)")


@issuer.group("key")
def issuer_key() -> None:
    """The issuer's Ed25519 credential-signing keys: create, bind in the registry, list."""


@issuer_key.command("new")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password-env", metavar="VAR", help="Take the password from $VAR instead of prompting.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def issuer_key_new(path: Path, password_env: str | None, force: bool) -> None:
    """Create a new signing key in an encrypted file (PKCS#8) at PATH; prints the public key only.

    Point `signing_keystore` in anchor.toml (or $ANCHOR_SIGNING_KEYSTORE) at it, put the password in
    $ANCHOR_SIGNING_KEYSTORE_PASSWORD, then run `anchor issuer key bind` (a rotation: badges
    signed with earlier keys keep verifying).
    """
    from anchor.app.signing_keys import write_keystore
    from anchor.core.ed25519 import SigningKey

    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    password = keystore_password(password_env)
    key = SigningKey.generate()
    write_keystore(key, path, password)
    say(f"wrote {path}: Ed25519 signing key {key.public_multibase}")


@issuer_key.command("bind")
@pass_app
def issuer_key_bind(app: App) -> None:
    """Bind the configured signing key to this issuer in the registry and sign new badges with it."""
    from anchor.app.keybinding import bind_signing_key

    signer = app.signer("issuer")[0]
    row = app.issuer_row()
    key, source = app.signing_key()
    if row.did and row.did.startswith("did:key:") and row.did != f"did:key:{key.public_multibase}":
        raise ConfigError(f"this issuer is {row.did}: a did:key names one key forever, so it cannot rotate to "
                          f"{key.public_multibase}; register a new issuer (with --did web to allow rotation)")
    with app.store.issuer_lock(row.id, what="binding its signing key"):
        report = bind_signing_key(app.registry, key.public_key, issuer=signer, confirmations=app.settings.confirmations)
    app.store.set_issuer_identity(row.id, signing_key=key.public_key)
    say(f"{report.summary} (key from {source})")


@issuer_key.command("list")
@click.argument("address", required=False)
@pass_app
def issuer_key_list(app: App, address: str | None) -> None:
    """Every signing key ADDRESS (default: this issuer) ever bound, oldest first."""
    from anchor.core.ed25519 import public_multibase

    address = address or app.signer("issuer")[0].address
    app.registry.require_signing_keys()  # an older registry: one line saying so, not "no key bound"
    keys = app.registry.signing_keys(address)
    if not keys:
        say(f"{address} has bound no signing key in registry {app.registry.address}")
    for n, k in enumerate(keys):
        current = " (current)" if n == len(keys) - 1 else ""
        say(f"{n}  {public_multibase(k.public_key)}  bound in block {k.bound_block} at {format_time(k.bound_at)}{current}")


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
        if row.signing_key is not None:
            from anchor.core.ed25519 import public_multibase

            say(f"signing key {public_multibase(row.signing_key)}")
        if row.public_url:
            say(f"public URL  {row.public_url}")
    elif info.profile_uri:
        say(f"profile     {info.profile_uri} (not in this database)")
    if info.id:
        say(f"active      {'yes' if info.active else 'no'}")
        say(f"added at    {format_time(info.added_at)}")
    if info.removed_at:
        say(f"removed at  {format_time(info.removed_at)}")
    if row is not None and info.id and row.profile_uri != info.profile_uri:
        say(f"WARNING: on-chain profile {info.profile_uri} differs from the database's", fg="red")


def keystore_password(password_env: str | None) -> str:
    """A new keystore's password: from ``$password_env``, or typed twice at a prompt."""
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise ConfigError(f"${password_env} is empty")
    else:
        password = click.prompt("keystore password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise InputError("use a password of at least 8 characters")
    return password


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
    password = keystore_password(password_env)
    address = write_keystore(key, path, password)
    say(f"wrote {path} (mode 600) for {address}")


@issuer.command("did-document")
@click.argument("address", required=False)
@pass_app
def issuer_did_document(app: App, address: str | None) -> None:
    """Print the DID document of ADDRESS (default: this issuer) built from the registry: its DID
    and every signing key it bound. Host it at the did:web's URL when you name the issuer by your
    own domain (`anchor serve` publishes it for did:web names under its public URL)."""
    from anchor.core.did import did_document, did_web_document_url
    from anchor.core.ed25519 import public_multibase

    address = address or app.signer("issuer")[0].address
    info = app.registry.issuer_info(address)
    if not info.id:
        raise NotFound(f"{address} is not an issuer of registry {app.registry.address}")
    if not info.profile_uri.startswith("did:"):
        raise NotFound(f"issuer {address} is named by {info.profile_uri!r}, not by a DID")
    keys = [public_multibase(k.public_key) for k in app.registry.signing_keys(address)]
    click.echo(json.dumps(did_document(info.profile_uri, keys), indent=2))
    if info.profile_uri.startswith("did:web:"):
        click.echo(f"(serve this at {did_web_document_url(info.profile_uri)})", err=True)

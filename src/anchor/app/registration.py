"""``anchor issuer register``: the issuer's Open Badges profile (database) and role (chain)."""

from __future__ import annotations

from dataclasses import dataclass

from anchor.app.deployment import ensure_issuer, validate_profile_uri
from anchor.app.keybinding import BindReport, bind_signing_key
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.core.credential import IssuerProfile
from anchor.core.did import did_web_for_url
from anchor.core.ed25519 import SigningKey, did_key
from anchor.core.errors import ConfigError, InputError
from anchor.core.registry import IssuerInfo
from anchor.core.roster import EMAIL
from anchor.core.uri import is_http_url, is_uri
from anchor.store import Store

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"  # `anchor serve`'s default address


@dataclass(frozen=True)
class Registration:
    profile_uri: str
    on_chain: IssuerInfo | None
    added: bool
    binding: BindReport | None = None  # the signing key's binding in the registry (None with no chain)


def issuer_did(*, profile_id: str | None, did_method: str, key: SigningKey, public_url: str, address: str) -> str:
    """The DID an issuer's badges name: ``profile_id`` when given (it must be a DID), else a
    ``did:key`` of its signing key (``did_method`` "key") or a ``did:web`` this service publishes
    at ``<public_url>/issuers/<address>/did.json`` ("web")."""
    if profile_id is not None:
        profile_id = profile_id.strip()
        if not profile_id.startswith(("did:key:", "did:web:")):
            raise InputError(f"the issuer profile id must be a DID (did:web:… or did:key:…) so that other verifiers can check "
                             f"its signatures, got {profile_id!r}")
        if profile_id.startswith("did:key:") and profile_id != did_key(key.public_key):
            raise InputError(f"{profile_id} is the did:key of another key than the signing key {key.public_multibase}")
        return profile_id
    if did_method == "key":
        return did_key(key.public_key)
    if did_method == "web":
        return did_web_for_url(public_url, "issuers", address)
    raise InputError(f"--did must be 'key' or 'web', got {did_method!r}")


def build_profile(*, name: str, profile_id: str, url: str | None, email: str | None, description: str | None,
                  image: str | None) -> IssuerProfile:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise InputError("issuer name must be 1 to 200 characters")
    profile_id = validate_profile_uri(profile_id)
    if url is not None and not is_http_url(url):
        raise InputError(f"--url must be an http(s) URL, got {url!r}")
    if email is not None and not EMAIL.match(email.strip()):
        raise InputError(f"--email {email!r} is not a valid address")
    if image is not None and not is_uri(image):
        raise InputError(f"--image must be a URL, got {image!r}")
    return IssuerProfile(id=profile_id, name=name, url=url, email=email.strip() if email else None,
                         description=description.strip() if description else None, image=image)


def register_issuer(store: Store, registry: Registry, issuer: Signer, admin: Signer | None, *, name: str,
                    signing_key: SigningKey, profile_id: str | None = None, did_method: str = "key",
                    public_url: str = DEFAULT_PUBLIC_URL, url: str | None = None, email: str | None = None,
                    description: str | None = None, image: str | None = None, confirmations: int = 1) -> Registration:
    """Store the issuer's profile (named by its DID) and, with an admin, authorize the account in
    the registry and bind its signing key there (the issuer's own transaction)."""
    if not is_http_url(public_url):
        raise InputError(f"the public URL must be an http(s) URL, got {public_url!r}")
    public_url = public_url.rstrip("/")
    did = issuer_did(profile_id=profile_id, did_method=did_method, key=signing_key, public_url=public_url, address=issuer.address)
    profile = build_profile(name=name, profile_id=did, url=url, email=email, description=description, image=image)
    info = registry.issuer_info(issuer.address)
    if info.id and info.profile_uri != profile.id:
        raise ConfigError(
            f"{issuer.address} is registered on chain with profile {info.profile_uri!r}; a profile is fixed per "
            "account (use that profile id, or a new key for a new profile)"
        )
    added = False
    if admin is not None:
        info, added = ensure_issuer(registry, admin, issuer.address, profile.id)
    row = store.upsert_issuer(issuer.address, profile.id, profile.to_json())
    store.set_issuer_identity(row.id, did=did, signing_key=signing_key.public_key, public_url=public_url)
    binding = None
    if info.active or added:
        with store.issuer_lock(row.id, what="binding its signing key"):
            binding = bind_signing_key(registry, signing_key.public_key, issuer=issuer, confirmations=confirmations)
    return Registration(profile.id, info if info.id else None, added, binding)

"""``anchor issuer register``: the issuer's Open Badges profile (database) and role (chain)."""

from __future__ import annotations

from dataclasses import dataclass

from anchor.app.deployment import ensure_issuer, validate_profile_uri
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.core.credential import IssuerProfile
from anchor.core.errors import ConfigError, InputError
from anchor.core.registry import IssuerInfo
from anchor.core.roster import EMAIL
from anchor.core.uri import is_http_url, is_uri
from anchor.store import Store


@dataclass(frozen=True)
class Registration:
    profile_uri: str
    on_chain: IssuerInfo | None
    added: bool


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
                    profile_id: str, url: str | None = None, email: str | None = None, description: str | None = None,
                    image: str | None = None) -> Registration:
    profile = build_profile(name=name, profile_id=profile_id, url=url, email=email, description=description, image=image)
    info = registry.issuer_info(issuer.address)
    if info.id and info.profile_uri != profile.id:
        raise ConfigError(
            f"{issuer.address} is registered on chain with profile {info.profile_uri!r}; a profile is fixed per "
            "account (use that profile id, or a new key for a new profile)"
        )
    added = False
    if admin is not None:
        info, added = ensure_issuer(registry, admin, issuer.address, profile.id)
    store.upsert_issuer(issuer.address, profile.id, profile.to_json())
    return Registration(profile.id, info if info.id else None, added)

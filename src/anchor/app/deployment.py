"""Deploying the registry and managing issuers on it (the admin's side)."""

from __future__ import annotations

from dataclasses import dataclass

from anchor.chain.node import Chain
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.config import Settings, read_deployment, write_deployment
from anchor.core.errors import InputError
from anchor.core.registry import IssuerInfo
from anchor.core.uri import require_uri


@dataclass(frozen=True)
class Deployment:
    registry: Registry
    block: int
    created: bool  # False: an existing deployment was found and reused


def ensure_registry(settings: Settings, chain: Chain, admin: Signer, *, force: bool = False) -> Deployment:
    """The recorded registry if it is live on this chain, else a new one (recorded)."""
    record = read_deployment(settings.deployment_file)
    if record and not force and int(record.get("chainId", -1)) == chain.chain_id:
        existing = Registry(chain, str(record["registry"]))
        if chain.code_at(existing.address):
            existing.check_deployed()
            return Deployment(existing, int(record.get("block", 0)), created=False)
    registry, receipt = Registry.deploy(chain, admin, confirmations=settings.confirmations)
    write_deployment(
        settings.deployment_file,
        {
            "chainId": chain.chain_id,
            "registry": registry.address,
            "block": receipt.block_number,
            "transaction": "0x" + receipt.tx_hash.hex(),
            "admin": admin.address,
            "rpcUrl": settings.rpc_url,
        },
    )
    return Deployment(registry, receipt.block_number, created=True)


def validate_profile_uri(uri: str) -> str:
    """An issuer profile URI must be an absolute http(s) URL, a DID or a URN (:mod:`anchor.core.uri`)."""
    return require_uri(uri, what="issuer profile URI")


def ensure_issuer(registry: Registry, admin: Signer, issuer: str, profile_uri: str) -> tuple[IssuerInfo, bool]:
    """Make ``issuer`` an active issuer with ``profile_uri``; returns its info and whether it changed."""
    profile_uri = validate_profile_uri(profile_uri)
    info = registry.issuer_info(issuer)
    if info.active:
        if info.profile_uri != profile_uri:
            raise InputError(
                f"{issuer} is already an issuer with profile {info.profile_uri!r}; "
                "a profile is fixed for an account's lifetime (use a new key for a new profile)"
            )
        return info, False
    registry.add_issuer(admin, issuer, profile_uri)
    return registry.issuer_info(issuer), True

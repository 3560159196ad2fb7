"""Deploying the registry and managing issuers on it (the admin's side), and finding the registry.

Where the registry is, in this order (:func:`resolve_registry`):

1. an explicit address: ``--registry``, ``$ANCHOR_REGISTRY`` or ``registry`` in ``anchor.toml``;
2. the issuer database's record for the chain the RPC answers (``anchor deploy`` writes it):
   what lets a service replica start from its settings and the shared database alone;
3. ``<home>/deployment.json``, the local record ``anchor deploy`` also writes (homes made
   before the database held the record, and tools that run without a database).

The database comes before the file because it is the one record every replica and every
issuing machine shares; the file is one home's copy. When both name a registry for the chain
and they differ, the lookup refuses (``registry_conflict``) rather than let the database win
silently: whoever can write the database's ``anchor_meta`` table could otherwise point
verification at a registry of their own. A public service should pin ``registry`` in its
settings; then the database is not asked at all. A record names its chain: if the RPC
answers another chain id (or ``chain_id`` in the settings disagrees with it), the lookup
refuses with one line instead of reading a registry that is not there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from anchor.chain.node import Chain
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.config import Settings, read_deployment, shown_rpc_url, write_deployment
from anchor.core.errors import ChainUnavailable, ConfigError, InputError
from anchor.core.registry import IssuerInfo
from anchor.core.uri import require_uri
from anchor.store import RegistryDeployment, Store, deployments, record_deployment

Source = Literal["settings", "database", "deployment.json"]


@dataclass(frozen=True)
class RegistryChoice:
    """The registry to use, the chain it is on (None: not known without asking the node), and
    where the address came from."""

    address: str
    chain_id: int | None
    source: Source


def resolve_registry(settings: Settings, *, db: Store | Callable[[], Store | None] | None,
                     chain: Chain) -> RegistryChoice:
    """The registry, looked up in the order of this module's docstring. ``db`` may be a function
    giving the database (or None), called only when an explicit address does not settle it.

    An explicit address costs no RPC call. A recorded one is checked against the chain id the
    node answers; when the node cannot be reached, a record still serves if it is the only one
    (or ``settings.chain_id`` picks it), so a service can start while its RPC is briefly down.

    Raises :class:`ConfigError` when nothing records a registry, or a record is for another
    chain than the node's (reason ``chain_mismatch``).
    """
    if settings.registry:
        return RegistryChoice(settings.registry, settings.chain_id, "settings")
    node_id = _node_chain_id(chain)
    if settings.chain_id is not None and node_id is not None and node_id != settings.chain_id:
        raise ConfigError(f"the RPC at {chain.rpc.shown_url} answers chain id {node_id}, but the settings say chain "
                          f"{settings.chain_id}: point --rpc at chain {settings.chain_id} or change chain_id",
                          reason="chain_mismatch")
    wanted = node_id if node_id is not None else settings.chain_id
    if callable(db):
        db = db()
    records = deployments(db) if db is not None else {}
    if records:
        if wanted is None and len(records) == 1:
            wanted = next(iter(records))
        chains = ", ".join(str(c) for c in sorted(records))
        if wanted is None:
            raise ChainUnavailable(f"the RPC at {chain.rpc.shown_url} cannot be reached, and the database records registries for "
                                   f"chain ids {chains}: set chain_id to pick one")
        record = records.get(wanted)
        if record is None:
            raise ConfigError(f"the database records the registry for chain id {chains}, but {_said(chain, node_id, wanted)}: "
                              f"point --rpc at chain {chains}, pass --registry, or run `anchor deploy` on chain {wanted}",
                              reason="chain_mismatch")
        _agrees_with_file(settings, record)
        return RegistryChoice(record.registry, record.chain_id, "database")
    file = read_deployment(settings.deployment_file)
    if file is not None:
        file_id = int(file["chainId"]) if "chainId" in file else None
        if wanted is not None and file_id is not None and file_id != wanted:
            raise ConfigError(f"{settings.deployment_file} records the registry for chain id {file_id}, but "
                              f"{_said(chain, node_id, wanted)}: point --rpc at chain {file_id}, pass --registry, or run "
                              f"`anchor deploy` on chain {wanted}", reason="chain_mismatch")
        return RegistryChoice(str(file["registry"]), file_id, "deployment.json")
    raise ConfigError("no registry address: pass --registry / set $ANCHOR_REGISTRY, or run `anchor deploy` first "
                      "(it records the registry in the database and in <home>/deployment.json)", reason="no_registry")


def _agrees_with_file(settings: Settings, record: RegistryDeployment) -> None:
    """Refuse a database record that names another registry than this home's deployment.json for
    the same chain: the record is only as trustworthy as write access to the database, and must
    not silently take over from the registry this machine deployed or was given (reason
    ``registry_conflict``; ``--registry`` settles it)."""
    file = read_deployment(settings.deployment_file)
    if file is None or "registry" not in file:
        return
    file_id = int(file["chainId"]) if "chainId" in file else None
    if file_id not in (None, record.chain_id) or str(file["registry"]).lower() == record.registry.lower():
        return
    raise ConfigError(f"the database records registry {record.registry} for chain {record.chain_id}, but "
                      f"{settings.deployment_file} records {file['registry']}: pass --registry with the one to trust "
                      "(`anchor deploy --force` records a new one in both)", reason="registry_conflict")


def registry_from_settings(settings: Settings, *, rpc_timeout: float = 5.0) -> RegistryChoice:
    """:func:`resolve_registry` for a process that has only its settings (a service worker):
    opens the database just for the lookup, and only when no explicit address settles it."""
    opened: list[Store] = []

    def open_db() -> Store:
        opened.append(Store.open(settings.db_url, create=False))
        return opened[0]

    try:
        return resolve_registry(settings, db=open_db, chain=Chain.from_settings(settings, timeout=rpc_timeout))
    finally:
        for db in opened:
            db.close()


def _said(chain: Chain, node_id: int | None, wanted: int) -> str:
    """Where the chain id a lookup wants came from: the node's answer, or (no node answering) the
    settings' ``chain_id`` / chain profile."""
    if node_id is not None:
        return f"the RPC at {chain.rpc.shown_url} answers chain id {wanted}"
    return f"the settings name chain id {wanted} (chain_id / chain; the RPC at {chain.rpc.shown_url} did not answer)"


def _node_chain_id(chain: Chain) -> int | None:
    try:
        return chain.chain_id
    except ChainUnavailable:
        return None


@dataclass(frozen=True)
class Deployment:
    registry: Registry
    block: int
    created: bool  # False: an existing deployment was found and reused
    replaced: str | None = None  # the registry the database recorded for this chain before, if this one replaced it


def ensure_registry(settings: Settings, chain: Chain, admin: Signer, *, db: Store | None = None,
                    force: bool = False) -> Deployment:
    """The recorded registry if it is live on this chain, else a new one; recorded in the
    database (when given) and in ``<home>/deployment.json`` either way.

    The database's record for this chain comes first, then the file's. ``force`` deploys a new
    registry and replaces the database's record; without it, a record is replaced only when its
    address holds no code on this chain (a local chain started afresh). A concurrent deploy that
    recorded another registry first makes this one raise :class:`ConfigError` (``registry_conflict``).
    """
    chain_id = chain.chain_id
    recorded = deployments(db).get(chain_id) if db is not None else None
    file = read_deployment(settings.deployment_file)
    candidates = [recorded] if recorded is not None else []
    if file is not None and int(file.get("chainId", -1)) == chain_id:
        candidates.append(RegistryDeployment(chain_id, str(file["registry"]), int(file.get("block", 0)),
                                             file.get("transaction"), file.get("admin")))
    if not force:
        for candidate in candidates:
            existing = Registry(chain, candidate.registry)
            if chain.code_at(existing.address):
                existing.check_deployed()
                # a later candidate is reached only when the database's own record has no code here
                _record(settings, db, candidate, replace=candidate is not recorded)
                return Deployment(existing, candidate.block, created=False)
    registry, receipt = Registry.deploy(chain, admin, confirmations=settings.confirmations)
    new = RegistryDeployment(chain_id, registry.address, receipt.block_number, "0x" + receipt.tx_hash.hex(), admin.address)
    replaced = _record(settings, db, new, replace=True)  # forced, or the recorded one has no code here
    return Deployment(registry, receipt.block_number, created=True, replaced=replaced)


def _record(settings: Settings, db: Store | None, deployment: RegistryDeployment, *, replace: bool) -> str | None:
    """Record ``deployment`` in the database and the home's file; the address it replaced in the database."""
    replaced = record_deployment(db, deployment, replace=replace) if db is not None else None
    write_deployment(settings.deployment_file, {
        "chainId": deployment.chain_id,
        "registry": deployment.registry,
        "block": deployment.block,
        "transaction": deployment.transaction,
        "admin": deployment.admin,
        "rpcUrl": shown_rpc_url(settings.rpc_url),  # never its API key
    })
    return replaced.registry if replaced is not None else None


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

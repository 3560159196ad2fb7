"""The registry deployment, recorded in the issuer database (the ``anchor_meta`` key/value table).

One record per chain, under the key ``deployment.<chain id>``, as JSON: the registry address,
the chain id, the block and transaction that deployed it and the admin account. With it in the
database, a service replica needs nothing but its settings and the database: no shared home
directory, no copied ``deployment.json``.

Recording is idempotent (the same registry again changes nothing) and never silently replaces
another registry on the same chain: that is a :class:`ConfigError` with reason
``registry_conflict`` unless ``replace`` is given (``anchor deploy --force``, or a recorded
registry that no longer exists on the chain).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import inspect, select

from anchor.core.errors import ConfigError, StoreError
from anchor.store.engine import Database
from anchor.store.schema import Meta

KEY_PREFIX = "deployment."


@dataclass(frozen=True)
class RegistryDeployment:
    """Where the registry of one chain lives, and how it got there."""

    chain_id: int
    registry: str  # 0x-prefixed checksummed address
    block: int  # the deployment's block (auditors replay events from here)
    transaction: str | None = None  # 0x-prefixed hash of the deploying transaction
    admin: str | None = None  # the account that deployed it

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, key: str, text: str) -> RegistryDeployment:
        try:
            data: dict[str, Any] = json.loads(text)
            record = cls(chain_id=int(data["chain_id"]), registry=str(data["registry"]), block=int(data["block"]),
                         transaction=data.get("transaction"), admin=data.get("admin"))
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(f"the database's {key} record is unreadable ({type(e).__name__}: {e})",
                             reason="deployment_unreadable") from None
        if key != _key(record.chain_id):
            raise StoreError(f"the database's {key} record names chain {record.chain_id}", reason="deployment_unreadable")
        return record


def _key(chain_id: int) -> str:
    return f"{KEY_PREFIX}{chain_id}"


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def deployments(db: Database) -> dict[int, RegistryDeployment]:
    """Every recorded deployment, by chain id; empty for a database without anchor's tables
    (reads only: never creates them)."""
    with db.connect() as conn:
        if not inspect(conn).has_table(Meta.__tablename__):
            return {}
        rows = conn.execute(select(Meta.key, Meta.value).where(Meta.key.startswith(KEY_PREFIX))).all()
    records = (RegistryDeployment.from_json(key, value) for key, value in rows)
    return {r.chain_id: r for r in records}


def record_deployment(db: Database, deployment: RegistryDeployment, *, replace: bool = False) -> RegistryDeployment | None:
    """Record ``deployment`` for its chain; returns the record it replaced (None: there was
    none, or it was this registry already).

    Raises :class:`ConfigError` (reason ``registry_conflict``) if the database records another
    registry for this chain and ``replace`` is false: the database's batches name that registry.
    Safe to race: the insert skips an existing key, and the row is then read under its lock.
    """
    key = _key(deployment.chain_id)
    with db.session() as s:
        s.execute(db.insert_ignore(Meta.__table__).values(key=key, value=deployment.to_json()))
        row = s.scalars(select(Meta).where(Meta.key == key).with_for_update()).one()
        existing = RegistryDeployment.from_json(key, row.value)
        if existing == deployment:
            return None
        if _same(existing.registry, deployment.registry):  # same registry, details filled in or corrected
            row.value = deployment.to_json()
            return None
        if not replace:
            raise ConfigError(
                f"the database records registry {existing.registry} for chain {deployment.chain_id}, not "
                f"{deployment.registry}: its batches name that registry; pass --registry {existing.registry} to use it, "
                "or `anchor deploy --force` to record a new one", reason="registry_conflict")
        row.value = deployment.to_json()
        return existing

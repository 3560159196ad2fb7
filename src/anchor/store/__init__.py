"""The issuer database (SQLAlchemy 2.x): SQLite by default, PostgreSQL by URL.

Everything outside this package gets frozen records (``anchor.core.records``), never ORM rows;
all SQL lives here.
"""

from anchor.core.records import (
    Achievement,
    Batch,
    Counts,
    Credential,
    CredentialLocation,
    Delivery,
    Expiring,
    HolderCredential,
    HolderRow,
    Inserted,
    Issuer,
    Leaf,
    NewCredential,
    Outgoing,
    Renewal,
    Revocation,
    RevocationRequest,
    StatusList,
    Transaction,
)
from anchor.store import migrations  # the schema's revisions (`anchor db`)
from anchor.store.batches import CHUNK
from anchor.store.deployment import RegistryDeployment, deployments, record_deployment
from anchor.store.engine import safe_url
from anchor.store.schema import SCHEMA_VERSION
from anchor.store.store import Store

__all__ = [
    "CHUNK",
    "SCHEMA_VERSION",
    "migrations",
    "safe_url",
    "deployments",
    "record_deployment",
    "Achievement",
    "Batch",
    "Counts",
    "Credential",
    "CredentialLocation",
    "Delivery",
    "Expiring",
    "HolderCredential",
    "HolderRow",
    "Inserted",
    "Issuer",
    "Leaf",
    "NewCredential",
    "Outgoing",
    "RegistryDeployment",
    "Renewal",
    "Revocation",
    "RevocationRequest",
    "StatusList",
    "Store",
    "Transaction",
]

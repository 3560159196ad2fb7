"""A portable-badge world for tests/test_portable: a registry on a real Anvil, a SQLite store and
the real HTTP service, started FIRST, so issuers register with the service's own URL as their
public URL: the status lists their credentials name and the did:web documents are then served by
that very service over real HTTP, where other verifiers (openbadgeslib, the JS judges) read them.

Also the pieces the forgery tests assemble badges from: an anchor receipt rendered for any
document (anchored by us, or never anchored at all) and a badge built from a document, a receipt
and signatures, the same way ``anchor export`` joins them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.anchoring import Anchorer
from anchor.app.badge_forms import FORMATS, FormRenderer
from anchor.app.exporting import credential_with_proof, export_credentials, file_stem
from anchor.app.issuing import issue_credentials
from anchor.app.keybinding import BindReport, bind_signing_key
from anchor.app.registration import register_issuer
from anchor.app.revoking import request_revocation, submit_revocations
from anchor.app.signing import BadgeSigner, signer_for
from anchor.app.status_lists import PublishReport, publish_status_lists, read_chain_revocations
from anchor.chain.node import Chain
from anchor.chain.signer import Signer, dev_signer
from anchor.chain.writer import Registry
from anchor.core import merkle
from anchor.core.canonical import canonical_bytes
from anchor.core.credential import leaf_of, without_proof
from anchor.core.ed25519 import SigningKey
from anchor.core.proof import ReceiptRenderer
from anchor.core.roster import parse_roster
from anchor.store import Issuer, Store
from tests.world import achievement, live_server


class ServiceFetcher:
    """The ``download`` callable handed to openbadgeslib: a real HTTP GET against OUR service.

    did:web resolves to ``https://<host>/<path>/did.json`` (the method requires TLS) and the test
    service speaks plain HTTP, so an https URL of the service's own host:port is fetched over http
    from the same host:port; any other host is refused (nothing leaves the machine). Every URL
    fetched is recorded, so a test can show the bytes came from the service.
    """

    def __init__(self, base_url: str) -> None:
        self.netloc = urlsplit(base_url).netloc
        self.requested: list[str] = []  # the URLs asked for
        self.fetched: list[str] = []  # the URLs actually fetched (over http)

    def __call__(self, url: str) -> bytes:
        self.requested.append(url)
        parts = urlsplit(url)
        if parts.netloc != self.netloc or parts.scheme not in ("http", "https"):
            raise ValueError(f"refusing to fetch {url}: not the test service at {self.netloc}")
        real = urlunsplit(("http", parts.netloc, parts.path, parts.query, ""))
        r = requests.get(real, timeout=10)
        r.raise_for_status()
        self.fetched.append(real)
        return r.content


@dataclass
class Exported:
    """One export run: ``files[credential id][form]`` is the path of that form of the badge."""

    directory: Path
    files: dict[str, dict[str, Path]]

    def path(self, credential_id: str, form: str) -> Path:
        return self.files[credential_id][form]

    def data(self, credential_id: str, form: str) -> bytes:
        return self.path(credential_id, form).read_bytes()

    def badge(self, credential_id: str) -> dict[str, Any]:
        return json.loads(self.data(credential_id, "json"))  # type: ignore[no-any-return]


@dataclass
class PortableIssuer:
    """An issuer of the world: its account, its current signing key and its store row."""

    world: PortableWorld
    account: Signer
    key: SigningKey
    exports: list[Exported] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def row(self) -> Issuer:
        row = self.world.store.issuer(self.address)
        assert row is not None
        return row

    @property
    def did(self) -> str:
        did = self.row.did
        assert did is not None
        return did

    @property
    def signer(self) -> BadgeSigner:
        row = self.row
        return signer_for(row.did, self.key, row.signing_key)

    def issue_and_anchor(self, n: int, prefix: str) -> list[str]:
        """Issue ``n`` credentials and anchor them (one batch); their ids, in leaf order."""
        store, row = self.world.store, self.row
        before = {b.id for b in store.batches(row.id)}
        roster = "name,email\n" + "".join(f"{prefix} {i},{prefix.lower()}{i}@example.org\n" for i in range(n))
        issue_credentials(store, row, achievement(), parse_roster(roster))
        Anchorer(store, self.world.registry, self.account, row).run(max_batch=1000)
        (batch,) = [b for b in store.batches(row.id) if b.id not in before]
        return [cid for _, cid, _ in store.iter_documents(batch.id)]

    def export(self, directory: Path) -> Exported:
        """Every anchored badge of the issuer in every form, signed with the current key."""
        signer = self.signer
        report = export_credentials(self.world.store, self.row.id, self.address, directory, sign=signer,
                                    forms=FormRenderer(FORMATS, signer))
        files: dict[str, dict[str, Path]] = {}
        for batch in self.world.store.batches(self.row.id):
            for _, cid, _ in self.world.store.iter_documents(batch.id):
                files[cid] = {form: directory / f"{file_stem(cid)}.{form}" for form in FORMATS}
        assert report.files == len(files) and all(p.is_file() for forms in files.values() for p in forms.values())
        exported = Exported(directory, files)
        self.exports.append(exported)
        return exported

    def publish_lists(self) -> PublishReport:
        """Publish the issuer's status lists from the chain, signed by its key (as `anchor export` /
        `anchor revoke` / `anchor status-lists` do)."""
        revoked = read_chain_revocations(self.world.registry, self.address)
        return publish_status_lists(self.world.store, self.row, revoked, self.signer.sign_document)

    def revoke(self, credential_ids: list[str], reason: int = 1) -> None:
        """A real revocation: recorded, then put on chain (no list is published here)."""
        request_revocation(self.world.store, self.row.id, credential_ids, reason, None)
        submit_revocations(self.world.store, self.world.registry, self.account, self.row.id)

    def rotate_key(self, new: SigningKey) -> BindReport:
        """Bind ``new`` in the registry and make it the key new badges are signed with."""
        report = bind_signing_key(self.world.registry, new.public_key, issuer=self.account)
        self.world.store.set_issuer_identity(self.row.id, signing_key=new.public_key)
        self.key = new
        return report


@dataclass
class PortableWorld:
    chain: Chain
    registry: Registry
    store: Store
    db_url: str
    url: str  # the live service's base URL
    admin: Signer
    head_ttl: float
    fetcher: ServiceFetcher

    def register(self, account: Signer, key: SigningKey, *, did_method: str, name: str) -> PortableIssuer:
        """A registered issuer (its key bound on chain) whose public URL is the live service."""
        register_issuer(self.store, self.registry, account, self.admin, name=name, signing_key=key, did_method=did_method,
                        public_url=self.url, url="https://uni.example")
        return PortableIssuer(self, account, key)


@contextmanager
def portable_world(chain: Chain, rpc_url: str, tmp_path: Path, *, head_ttl: float = 0.2) -> Iterator[PortableWorld]:
    """A fresh registry, an empty SQLite store and the service over real HTTP on a free port."""
    admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, admin)
    db_url = f"sqlite:///{tmp_path / 'portable.db'}"
    store = Store.open(db_url)
    app = create_app(ServiceConfig(rpc_url=rpc_url, registry=registry.address, database_url=db_url, head_ttl=head_ttl))
    try:
        with live_server(app) as base:
            yield PortableWorld(chain, registry, store, db_url, base, admin, head_ttl, ServiceFetcher(base))
    finally:
        store.close()


# ---------------------------------------------------------------------------- forged badges


def single_leaf_tree(document: dict[str, Any]) -> tuple[bytes, str]:
    """(Merkle root, path JSON) of a batch holding only ``document`` (its proof left out)."""
    levels = merkle.build_levels(merkle.join_leaves([leaf_of(document)]))
    return levels[-1], merkle.path_json(levels, 0, 1)


def receipt_for(document: dict[str, Any], *, chain_id: int, registry: str, issuer_address: str, tx_hash: bytes,
                block_number: int, block_time: int) -> bytes:
    """The anchor receipt (proof-set entry JSON) of ``document`` as the only leaf of a batch, with
    whatever transaction and block the caller claims."""
    root, path = single_leaf_tree(document)
    renderer = ReceiptRenderer(chain_id=chain_id, registry=registry, issuer_address=issuer_address, root=root, leaf_count=1,
                               tx_hash=tx_hash, block_number=block_number, block_time=block_time)
    return renderer.render(0, path)


def assemble(document: dict[str, Any], receipt: bytes | None, *signatures: dict[str, Any]) -> dict[str, Any]:
    """A badge: ``document`` (without proof) with its proof set: the signatures, then the receipt."""
    body = canonical_bytes(without_proof(document))
    entries = [json.dumps(s, separators=(",", ":")).encode() for s in signatures]
    if receipt is None:
        return {**without_proof(document), "proof": [json.loads(e) for e in entries]}
    if not entries:
        return json.loads(credential_with_proof(body, receipt))  # type: ignore[no-any-return]
    return json.loads(credential_with_proof(body, receipt, b",".join(entries)))  # type: ignore[no-any-return]

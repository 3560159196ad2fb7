"""``anchor doctor``: a configuration checked end to end, one finding per check.

Each check says ok, or FAIL with what to fix. They run in order and a failure does not stop the
others; a check that needs something an earlier one found missing (no RPC answered, no issuer
key) says so instead of failing again for the same cause. Nothing secret is shown: RPC URLs
lose their path and query (hosted RPCs keep API keys there), keys are named by address or public
key only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from anchor.app.deployment import resolve_registry
from anchor.chain.node import Chain, FeeCapExceeded, Fees, gwei
from anchor.chain.rpc import JsonRpc, RetryPolicy, RpcError
from anchor.chain.views import RegistryViews
from anchor.chain.writer import GAS_HEADROOM
from anchor.config import Settings
from anchor.core.errors import AnchorError, ChainUnavailable, ContractRevert
from anchor.store import SCHEMA_VERSION, Store, safe_url

if TYPE_CHECKING:
    from anchor.chain.signer import Signer
    from anchor.core.ed25519 import SigningKey

# Gas of one `anchor` call when it cannot be estimated (an issuer the registry does not know yet):
# measured on Anvil, a first anchor costs ~95,000 gas; the headroom covers the rest.
ANCHOR_GAS_FALLBACK = 100_000
PROBE_TIMEOUT = 5.0  # seconds per RPC request while probing


@dataclass(frozen=True)
class Finding:
    """One check: its name, whether it passed, what was found, and (failed) what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}: {self.detail}"
        return f"FAIL  {self.name}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


@dataclass
class Doctor:
    """Collaborators passed in: the settings, and how to get the issuer's keys (the CLI's
    resolution, so the doctor finds exactly the keys the other commands would use)."""

    settings: Settings
    issuer_signer: Callable[[], Signer]
    signing_key: Callable[[], SigningKey]
    anchors: int = 10

    def run(self) -> Iterator[Finding]:
        """The findings, as they are made (a slow RPC shows which check is waiting)."""
        s = self.settings
        yield Finding("settings", True, _describe(s))
        chain_id = None
        for i, url in enumerate(s.rpc_endpoints):
            finding, found = self._rpc(i, url, s.chain_id if s.chain_id is not None else chain_id)
            chain_id = chain_id if chain_id is not None else found
            yield finding
        chain = Chain.from_settings(s, timeout=PROBE_TIMEOUT)
        chain.rpc.policy = RetryPolicy(budget=PROBE_TIMEOUT, cooldown=s.rpc_cooldown)
        reachable = chain_id is not None
        if reachable and s.finality != "latest":
            yield self._finality(chain)
        fees: Fees | None = None
        if reachable:
            fee_finding, fees = self._fees(chain)
            yield fee_finding
        registry: RegistryViews | None = None
        if reachable:
            reg_finding, registry = self._registry(chain)
            yield reg_finding
        else:
            yield Finding("chain checks", False, "not run: no RPC URL answered (finality, fees, registry, issuer, balance, "
                          "signing key)", "fix the RPC URLs above, then run `anchor doctor` again")
        signer: Signer | None = None
        try:
            signer = self.issuer_signer()
            yield Finding("issuer key", True, f"{signer.address} (the key itself is not shown)")
        except ChainUnavailable:
            yield Finding("issuer key", False, "not checked: no RPC URL answered (which keys apply depends on the chain)",
                          "fix the RPC URLs above")
        except AnchorError as e:
            yield Finding("issuer key", False, e.message, "set $ANCHOR_ISSUER_KEY or issuer_keystore "
                          "(password in $ANCHOR_KEYSTORE_PASSWORD)")
        if signer is not None and registry is not None:
            yield self._authorised(registry, signer)
        if signer is not None and reachable:
            yield self._balance(chain, registry, signer, fees)
        yield self._database()
        if reachable:
            yield self._signing_key(registry, signer)

    # ------------------------------------------------------------------ the chain

    def _rpc(self, i: int, url: str, expected: int | None) -> tuple[Finding, int | None]:
        """One URL alone (no failover): reachable, its chain id, and whether it is the right chain."""
        name = "rpc_url" if i == 0 else f"rpc_urls[{i - 1}]"
        try:
            rpc = JsonRpc(url, timeout=PROBE_TIMEOUT, policy=RetryPolicy(budget=PROBE_TIMEOUT))
        except AnchorError as e:
            return Finding(name, False, e.message, "fix the URL in rpc_url / rpc_urls"), None
        shown = rpc.shown_url
        try:
            found_id, head = rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
        except AnchorError as e:
            return Finding(f"{name} {shown}", False, e.message,
                           "check the URL and that the node is up (or remove it from rpc_urls)"), None
        try:
            found, number = int(found_id, 16), int(head, 16)
        except (TypeError, ValueError):
            return Finding(f"{name} {shown}", False, f"answered a chain id {str(found_id)[:40]!r} and a block number "
                           f"{str(head)[:40]!r} that are not hex numbers",
                           "point it at an Ethereum JSON-RPC node (or remove it from rpc_urls)"), None
        if expected is not None and found != expected:
            whose = "chain_id" if self.settings.chain_id is not None else "rpc_url's chain"
            return Finding(f"{name} {shown}", False, f"is on chain {found}, not {expected} ({whose})",
                           f"point it at a chain {expected} node, or set chain_id / chain to the chain you mean"), found
        return Finding(f"{name} {shown}", True, f"chain {found}, block {number}"), found

    def _finality(self, chain: Chain) -> Finding:
        tag = self.settings.finality
        try:
            number = chain.finalized_block()
        except RpcError as e:
            return Finding(f"finality {tag}", False, f"the node does not serve the {tag!r} block tag ({e.rpc_message})",
                           "use an RPC that does, or set finality = 'latest' with confirmations")
        except AnchorError as e:
            return Finding(f"finality {tag}", False, e.message, "check the RPC")
        if number < 0:
            return Finding(f"finality {tag}", False, f"the node has no {tag} block yet",
                           "wait for the chain to finalize blocks, or set finality = 'latest'")
        return Finding(f"finality {tag}", True, f"{tag} block {number} ({chain.block_number() - number} behind the head)")

    def _fees(self, chain: Chain) -> tuple[Finding, Fees | None]:
        try:
            base, tip = chain.market()
            fees = chain.fee_caps.price(base, tip)
        except FeeCapExceeded as e:
            return Finding("fees", False, e.message, "raise max_fee_gwei, or wait for fees to fall"), None
        except AnchorError as e:
            return Finding("fees", False, e.message, "check the RPC"), None
        cap = self.settings.max_fee_gwei
        capped = f", within max_fee_gwei {cap:g}" if cap is not None else " (no max_fee_gwei cap set)"
        return Finding("fees", True, f"base fee {gwei(base)} gwei, tip {gwei(fees.max_priority_fee)} gwei{capped}"), fees

    def _registry(self, chain: Chain) -> tuple[Finding, RegistryViews | None]:
        opened: list[Store] = []

        def open_db() -> Store | None:  # opened only when no explicit address settles it, closed below
            db = self._existing_db()
            if db is not None:
                opened.append(db)
            return db

        try:
            choice = resolve_registry(self.settings, db=open_db, chain=chain)
        except AnchorError as e:
            return Finding("registry", False, e.message, "set registry (or $ANCHOR_REGISTRY), or run `anchor deploy`"), None
        finally:
            for db in opened:
                db.close()
        try:
            views = RegistryViews(chain, choice.address)
            code = chain.code_at(views.address)
            if not code:
                return Finding(f"registry {views.address}", False, f"no contract at this address on chain {chain.chain_id}",
                               "check registry and the chain (chain_id / rpc_url), or run `anchor deploy`"), None
            if not views.code_matches():
                return Finding(f"registry {views.address}", False, "the code there is not a CredentialRegistry of this "
                               "anchor version", "set registry to the address `anchor deploy` printed"), None
        except AnchorError as e:
            return Finding("registry", False, e.message, "check registry and rpc_url"), None
        return Finding(f"registry {views.address}", True, f"CredentialRegistry code on chain {chain.chain_id} "
                       f"(address from {choice.source})"), views

    def _authorised(self, registry: RegistryViews, signer: Signer) -> Finding:
        try:
            info = registry.issuer_info(signer.address)
        except AnchorError as e:
            return Finding("issuer authorised", False, e.message, "check the RPC and the registry")
        if not info.active:
            state = "was removed from" if info.id else "is not an issuer of"
            return Finding("issuer authorised", False, f"{signer.address} {state} registry {registry.address}",
                           f"the registry admin runs `anchor issuer register` (or `anchor issuer add {signer.address} URI`)")
        return Finding("issuer authorised", True, f"{signer.address} is active (issuer #{info.id}, profile {info.profile_uri})")

    def _balance(self, chain: Chain, registry: RegistryViews | None, signer: Signer, fees: Fees | None) -> Finding:
        name = f"balance for {self.anchors} anchor(s)"
        try:
            if fees is None:
                base, tip = chain.market()
                fees = Fees(tip, 2 * base + tip)  # over the cap: priced uncapped, to say what it would cost
            gas = ANCHOR_GAS_FALLBACK
            if registry is not None:
                data = registry.abi.fn("anchor").data(os.urandom(32), 1)
                try:
                    gas = chain.estimate_gas({"from": signer.address, "to": registry.address, "data": "0x" + data.hex()})
                except (RpcError, ContractRevert):
                    pass  # not an issuer yet: the fallback figure
            gas = gas * GAS_HEADROOM[0] // GAS_HEADROOM[1]
            need = self.anchors * gas * fees.max_fee
            balance = chain.balance_of(signer.address)
        except AnchorError as e:
            return Finding(name, False, e.message, "check the RPC")
        said = (f"{signer.address} holds {_eth(balance)}; {self.anchors} anchor(s) may cost up to {_eth(need)} "
                f"({gas:,} gas each at a max fee of {gwei(fees.max_fee)} gwei)")
        if balance < need:
            return Finding(name, False, said, f"send at least {_eth(need - balance)} to {signer.address}")
        return Finding(name, True, said)

    # ------------------------------------------------------------------ the database and the key

    def _existing_db(self) -> Store | None:
        if self._sqlite_missing() is not None:
            return None
        return Store.open(self.settings.db_url, create=False)

    def _sqlite_missing(self) -> Path | None:
        s = self.settings
        if s.database_url is None:
            path = s.home / "anchor.db"
            return None if path.exists() else path
        if s.database_url.startswith("sqlite:///"):
            path = Path(s.database_url.removeprefix("sqlite:///"))
            return None if path.exists() or str(path) == ":memory:" else path
        return None

    def _database(self) -> Finding:

        shown = safe_url(self.settings.db_url)
        missing = self._sqlite_missing()
        if missing is not None:
            return Finding(f"database {shown}", False, "no database file yet",
                           "`anchor issuer register` creates it (or set database_url to the issuer's database)")
        try:
            store = Store.open(self.settings.db_url, create=False)
            try:
                tables, version = store.schema_state()
            finally:
                store.close()
        except AnchorError as e:
            return Finding(f"database {shown}", False, e.message, "check database_url and that the server is up")
        if version is None:
            return Finding(f"database {shown}", False, "no anchor schema in it", "set database_url to the issuer's database")
        if version != SCHEMA_VERSION or tables:
            return Finding(f"database {shown}", False, f"schema version {version}, this anchor needs {SCHEMA_VERSION}"
                           + (f" (missing tables: {', '.join(tables)})" if tables else ""),
                           f"back it up, then run `anchor db upgrade --db {shown}`")
        return Finding(f"database {shown}", True, f"reachable, schema version {version} (current)")

    def _signing_key(self, registry: RegistryViews | None, signer: Signer | None) -> Finding:
        if signer is None:
            return Finding("signing key", False, "not checked: no issuer key", "set the issuer key first")
        try:
            key = self.signing_key()
        except AnchorError as e:
            return Finding("signing key", False, e.message, "set $ANCHOR_SIGNING_KEY or signing_keystore "
                           "(`anchor issuer key new`)")
        name = f"signing key {key.public_multibase}"
        if registry is None:
            return Finding(name, False, "not checked: no registry", "fix the registry first")
        try:
            registry.require_signing_keys()  # a registry from before signing keys: binding cannot help
            block = registry.signing_key_block(signer.address, key.public_key)
        except ChainUnavailable as e:
            return Finding(name, False, e.message, "check the RPC")
        except AnchorError as e:
            if e.reason == "registry_predates_signing_keys":
                return Finding(name, False, e.message, "`anchor deploy --force` a new registry and register the issuer "
                               "in it; badges anchored in this one keep verifying")
            return Finding(name, False, e.message, "check the registry")
        if not block:
            return Finding(name, False, f"not bound to {signer.address} in the registry",
                           "run `anchor issuer key bind` (or `anchor issuer register`)")
        return Finding(name, True, f"bound to {signer.address} in block {block}")


def _describe(s: Settings) -> str:
    profile = f"chain profile {s.chain!r}, " if s.chain else ""
    chain = f"chain id {s.chain_id}" if s.chain_id is not None else "chain id from the first RPC URL"
    settle = f"{s.confirmations} confirmation(s)" if s.finality == "latest" else f"finality {s.finality}"
    caps = (f"max fee {s.max_fee_gwei:g} gwei" if s.max_fee_gwei is not None else "no fee cap") + (
        f", max tip {s.max_priority_fee_gwei:g} gwei" if s.max_priority_fee_gwei is not None else "")
    urls = len(s.rpc_endpoints)
    return f"loaded: {profile}{chain}, {settle}, {caps}, {urls} RPC URL{'s' if urls > 1 else ''}"


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6f} ETH"

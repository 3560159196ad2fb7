"""The registry on chain, through web3.py: transactions, views and events.

:class:`Chain` is one RPC connection; :class:`Registry` is the deployed ``CredentialRegistry``
at an address on it. Every web3 failure leaves this module as a :class:`ChainError`: an
unreachable node as :class:`ChainUnavailable`, a revert as :class:`ContractRevert` whose
``reason`` is the contract's custom error in snake_case (``root_already_anchored``, ...).

Sending is split in three steps so a caller can persist between them (see ``anchoring``):
:meth:`Registry.prepare` builds and signs, :meth:`Chain.broadcast` sends the raw bytes,
:meth:`Chain.wait_for_receipt` waits for inclusion and confirmations.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
    Web3RPCError,
)

from anchor.chain.artifact import Artifact, load_artifact
from anchor.core.errors import ChainError, ChainUnavailable, ContractRevert, InputError
from anchor.chain.signer import Signer

T = TypeVar("T")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DEFAULT_LOG_PAGE = 10_000  # blocks per eth_getLogs call; many public RPCs cap the range


def _snake(name: str) -> str:
    name = name.removeprefix("Registry")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    address: str
    id: int  # 0: never added
    active: bool
    added_at: int  # unix seconds of the latest (re-)addition
    removed_at: int  # unix seconds of the latest removal, 0 if never
    profile_uri: str


@dataclass(frozen=True, slots=True)
class BatchInfo:
    root: bytes
    issuer: str  # zero address: never anchored
    leaf_count: int
    anchored_at: int
    anchored_block: int
    revoked_at: int  # whole-batch revocation time, 0 if not revoked

    @property
    def anchored(self) -> bool:
        return self.issuer != ZERO_ADDRESS


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    block_number: int
    gas_used: int
    status: int
    logs: tuple[Any, ...] = field(repr=False, default=())


@dataclass(frozen=True, slots=True)
class PreparedTx:
    """A signed transaction, ready to persist and broadcast."""

    raw: bytes
    tx_hash: bytes
    nonce: int
    sender: str


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: bytes
    log_index: int


class Chain:
    """One JSON-RPC endpoint."""

    def __init__(self, rpc_url: str, *, timeout: float = 10.0) -> None:
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self._chain_id: int | None = None

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; turn transport failures into :class:`ChainUnavailable`."""
        try:
            return fn()
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError) as e:
            raise ChainUnavailable(f"cannot reach the chain at {self.rpc_url} ({what})") from e
        except Web3RPCError as e:
            raise ChainError(f"RPC error during {what}: {e}") from e

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.call("eth_chainId", lambda: int(self.w3.eth.chain_id))
        return self._chain_id

    def block_number(self) -> int:
        return self.call("eth_blockNumber", lambda: int(self.w3.eth.block_number))

    def block_time(self, number: int | str) -> int:
        return self.call("eth_getBlockByNumber", lambda: int(self.w3.eth.get_block(number)["timestamp"]))

    def is_reachable(self) -> bool:
        try:
            self.block_number()
            return True
        except ChainError:
            return False

    def code_at(self, address: str) -> bytes:
        return self.call("eth_getCode", lambda: bytes(self.w3.eth.get_code(to_checksum_address(address))))

    def nonce_of(self, address: str, block: str = "pending") -> int:
        return self.call(
            "eth_getTransactionCount", lambda: int(self.w3.eth.get_transaction_count(to_checksum_address(address), block))
        )

    def fees(self) -> dict[str, int]:
        """EIP-1559 fee fields: a tip and a cap of twice the base fee plus the tip."""

        def read() -> dict[str, int]:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            tip = int(self.w3.eth.max_priority_fee)
            return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}

        return self.call("fee data", read)

    def broadcast(self, raw: bytes) -> bytes:
        """Send a signed transaction. A node that already knows it is not an error."""
        try:
            return bytes(self.call("eth_sendRawTransaction", lambda: self.w3.eth.send_raw_transaction(raw)))
        except ChainError as e:
            text = str(e).lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return bytes(keccak(raw))
            raise

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of ``tx_hash`` if it is mined, else None."""

        def read() -> Receipt | None:
            try:
                r = self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                return None
            return Receipt(bytes(r["transactionHash"]), int(r["blockNumber"]), int(r["gasUsed"]), int(r["status"]), tuple(r["logs"]))

        return self.call("eth_getTransactionReceipt", read)

    def transaction_known(self, tx_hash: bytes) -> bool:
        """Whether the node knows ``tx_hash`` at all (pending or mined)."""

        def read() -> bool:
            try:
                self.w3.eth.get_transaction(tx_hash)
                return True
            except TransactionNotFound:
                return False

        return self.call("eth_getTransactionByHash", read)

    def wait_for_receipt(
        self, tx_hash: bytes, *, confirmations: int = 1, timeout: float = 120.0, poll: float = 0.05
    ) -> Receipt:
        """Wait until ``tx_hash`` is mined and has ``confirmations`` blocks (its own included)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.receipt(tx_hash)
            if r is not None and self.block_number() - r.block_number + 1 >= confirmations:
                return r
            if time.monotonic() > deadline:
                state = "mined but not confirmed" if r else "not mined"
                raise ChainError(f"transaction 0x{tx_hash.hex()} {state} after {timeout:.0f} s", reason="tx_timeout")
            time.sleep(poll)


class Registry:
    """The ``CredentialRegistry`` deployed at ``address`` on ``chain``."""

    def __init__(self, chain: Chain, address: str, *, artifact: Artifact | None = None) -> None:
        try:
            self.address = to_checksum_address(address)
        except (ValueError, TypeError):
            raise InputError(f"not an Ethereum address: {address!r}") from None
        self.chain = chain
        self.artifact = artifact or load_artifact()
        self.contract = chain.w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self._errors = _error_table(self.artifact.abi)
        self._events = _event_table(self.artifact.abi)

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(cls, chain: Chain, signer: Signer, *, admin: str | None = None, confirmations: int = 1) -> tuple[Registry, Receipt]:
        """Deploy a new registry whose admin is ``admin`` (default: the deployer)."""
        artifact = load_artifact()
        factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        ctor = factory.constructor(to_checksum_address(admin or signer.address))
        tx = _with_errors(_error_table(artifact.abi), lambda: ctor.build_transaction(_base_tx(chain, signer)))
        prepared = _sign(chain, signer, tx)
        chain.broadcast(prepared.raw)
        receipt = chain.wait_for_receipt(prepared.tx_hash, confirmations=confirmations)
        if receipt.status != 1:
            raise ChainError("registry deployment failed", reason="deploy_failed")
        raw = chain.call("receipt", lambda: chain.w3.eth.get_transaction_receipt(prepared.tx_hash))
        return cls(chain, raw["contractAddress"], artifact=artifact), receipt

    def check_deployed(self) -> None:
        """Raise unless the code at the address is this registry's runtime code."""
        code = self.chain.code_at(self.address)
        if not code:
            raise ChainError(f"no contract at {self.address} on chain {self.chain.chain_id}", reason="no_registry")
        if code != bytes.fromhex(self.artifact.deployed_bytecode[2:]):
            raise ChainError(f"the contract at {self.address} is not a CredentialRegistry of this version", reason="wrong_registry")

    # ------------------------------------------------------------------ transactions

    def prepare(self, signer: Signer, fn_name: str, *args: Any, nonce: int | None = None) -> PreparedTx:
        """Build, gas-estimate (surfacing reverts as :class:`ContractRevert`) and sign a call."""
        fn = getattr(self.contract.functions, fn_name)(*args)
        base = _base_tx(self.chain, signer, nonce=nonce)
        tx = _with_errors(self._errors, lambda: fn.build_transaction(base))
        return _sign(self.chain, signer, tx)

    def transact(self, signer: Signer, fn_name: str, *args: Any, confirmations: int = 1, timeout: float = 120.0) -> Receipt:
        """Prepare, broadcast and wait; a reverted transaction raises :class:`ContractRevert`."""
        prepared = self.prepare(signer, fn_name, *args)
        self.chain.broadcast(prepared.raw)
        receipt = self.chain.wait_for_receipt(prepared.tx_hash, confirmations=confirmations, timeout=timeout)
        if receipt.status != 1:
            raise ChainError(f"{fn_name} reverted in block {receipt.block_number}", reason="tx_reverted")
        return receipt

    def add_issuer(self, admin: Signer, issuer: str, profile_uri: str, **kw: Any) -> Receipt:
        return self.transact(admin, "addIssuer", to_checksum_address(issuer), profile_uri, **kw)

    def remove_issuer(self, admin: Signer, issuer: str, **kw: Any) -> Receipt:
        return self.transact(admin, "removeIssuer", to_checksum_address(issuer), **kw)

    def anchor(self, issuer: Signer, root: bytes, leaf_count: int, **kw: Any) -> Receipt:
        return self.transact(issuer, "anchor", root, leaf_count, **kw)

    def revoke(self, issuer: Signer, root: bytes, words: Sequence[tuple[int, int]], reason: int, **kw: Any) -> Receipt:
        return self.transact(issuer, "revoke", root, [tuple(w) for w in words], reason, **kw)

    def revoke_batch(self, issuer: Signer, root: bytes, reason: int, **kw: Any) -> Receipt:
        return self.transact(issuer, "revokeBatch", root, reason, **kw)

    # ------------------------------------------------------------------ views

    def _view(self, fn_name: str, *args: Any, block: int | str = "latest") -> Any:
        fn = getattr(self.contract.functions, fn_name)(*args)
        return self.chain.call(fn_name, lambda: _with_errors(self._errors, lambda: fn.call(block_identifier=block)))

    def admin(self) -> str:
        return str(self._view("admin"))

    def issuer_count(self) -> int:
        return int(self._view("issuerCount"))

    def issuer_info(self, address: str, *, block: int | str = "latest") -> IssuerInfo:
        r = self._view("issuerInfo", to_checksum_address(address), block=block)
        return IssuerInfo(to_checksum_address(address), int(r[0]), bool(r[1]), int(r[2]), int(r[3]), str(r[4]))

    def issuer_account(self, issuer_id: int) -> str:
        return str(self._view("issuerAccount", issuer_id))

    def batch_info(self, root: bytes, *, block: int | str = "latest") -> BatchInfo:
        r = self._view("batchInfo", root, block=block)
        return BatchInfo(bytes(root), str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))

    def is_revoked(self, root: bytes, index: int) -> bool:
        return bool(self._view("isRevoked", root, index))

    def is_batch_revoked(self, root: bytes) -> bool:
        return bool(self._view("isBatchRevoked", root))

    def revocation_word(self, root: bytes, word: int, *, block: int | str = "latest") -> int:
        return int(self._view("revocationWord", root, word, block=block))

    def verify(self, root: bytes, leaf: bytes, index: int, proof: Sequence[bytes]) -> bool:
        return bool(self._view("verify", root, leaf, index, list(proof)))

    # ------------------------------------------------------------------ events

    def events(self, *, from_block: int = 0, to_block: int | None = None, page: int = DEFAULT_LOG_PAGE,
               topics: list[Any] | None = None) -> Iterator[RegistryEvent]:
        """Every registry event in ``[from_block, to_block]``, oldest first, read in pages."""
        last = self.chain.block_number() if to_block is None else to_block
        start = from_block
        while start <= last:
            stop = min(start + page - 1, last)
            flt: dict[str, Any] = {"address": self.address, "fromBlock": start, "toBlock": stop}
            if topics:
                flt["topics"] = topics
            logs = self.chain.call("eth_getLogs", lambda: self.chain.w3.eth.get_logs(flt))  # noqa: B023
            for log in logs:
                yield self.decode_log(log)
            start = stop + 1

    def decode_log(self, log: Any) -> RegistryEvent:
        topics = [bytes(t) for t in log["topics"]]
        decoded = decode_event(self._events, topics, bytes(log["data"]))
        if decoded is None:
            raise ChainError(f"unknown event topic 0x{topics[0].hex()} from the registry", reason="unknown_event")
        name, args = decoded
        return RegistryEvent(name, args, int(log["blockNumber"]), bytes(log["transactionHash"]), int(log["logIndex"]))

    def event_topic(self, name: str) -> bytes:
        for topic, (event_name, _, _) in self._events.items():
            if event_name == name:
                return topic
        raise KeyError(name)


# ---------------------------------------------------------------------- helpers


def _abi_type(inp: dict[str, Any]) -> str:
    t = str(inp["type"])
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in inp["components"])
        return f"({inner}){t[5:]}"
    return t


def _error_table(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [_abi_type(i) for i in item["inputs"]]
            table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


def _event_table(abi: list[dict[str, Any]]) -> EventTable:
    table = {}
    for item in abi:
        if item.get("type") == "event":
            types = [_abi_type(i) for i in item["inputs"]]
            topic = keccak(text=f"{item['name']}({','.join(types)})")
            indexed = [(i["name"], _abi_type(i)) for i in item["inputs"] if i["indexed"]]
            plain = [(i["name"], _abi_type(i)) for i in item["inputs"] if not i["indexed"]]
            table[topic] = (item["name"], indexed, plain)
    return table


EventTable = dict[bytes, tuple[str, list[tuple[str, str]], list[tuple[str, str]]]]


def decode_event(table: EventTable, topics: list[bytes], data: bytes) -> tuple[str, dict[str, Any]] | None:
    """(event name, arguments) of one log of the registry, addresses checksummed; None for a
    topic that is not one of its events."""
    spec = table.get(topics[0]) if topics else None
    if spec is None:
        return None
    name, indexed, plain = spec
    args: dict[str, Any] = {}
    for (arg_name, arg_type), topic in zip(indexed, topics[1:]):
        args[arg_name] = abi_decode([arg_type], topic)[0]
    values = abi_decode([t for _, t in plain], data)
    args.update({n: v for (n, _), v in zip(plain, values)})
    for k, v in args.items():
        if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
            args[k] = to_checksum_address(v)
    return name, args


def decode_revert(errors: dict[bytes, tuple[str, list[str]]], data: bytes) -> ContractRevert:
    """A :class:`ContractRevert` for revert ``data`` (custom error, or a generic one)."""
    spec = errors.get(data[:4])
    if spec is None:
        return ContractRevert(f"the registry reverted (data 0x{data.hex()})", reason="reverted", error_name="", args=())
    name, types = spec
    try:
        args = tuple(abi_decode(types, data[4:]))
    except Exception:  # malformed revert data from a foreign contract
        args = ()
    shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
    return ContractRevert(f"{name}({shown})", reason=_snake(name), error_name=name, args=args)


def _with_errors(errors: dict[bytes, tuple[str, list[str]]], fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ContractCustomError as e:
        data = e.data if isinstance(e.data, str) else str(e.args[-1] if e.args else "")
        raise decode_revert(errors, bytes.fromhex(data.removeprefix("0x"))) from e
    except ContractPanicError as e:
        raise ContractRevert(f"the registry panicked: {e}", reason="panic", error_name="Panic") from e
    except ContractLogicError as e:
        raise ContractRevert(f"the registry reverted: {e}", reason="reverted", error_name="") from e


def _base_tx(chain: Chain, signer: Signer, *, nonce: int | None = None) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "from": signer.address,
        "chainId": chain.chain_id,
        "nonce": chain.nonce_of(signer.address) if nonce is None else nonce,
    }
    tx.update(chain.fees())
    return tx


def _sign(chain: Chain, signer: Signer, tx: dict[str, Any]) -> PreparedTx:
    tx = dict(tx)
    tx.pop("from", None)
    # 20% headroom: the estimate is exact for the state it ran on, and the state may move.
    tx["gas"] = int(tx["gas"]) * 6 // 5
    raw, tx_hash = signer.sign_transaction(tx)
    return PreparedTx(raw=raw, tx_hash=tx_hash, nonce=int(tx["nonce"]), sender=signer.address)

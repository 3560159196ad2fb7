"""The registry's view functions and its event history, read through raw JSON-RPC and the one ABI
table: no cache, no web3. :class:`~anchor.chain.reader.RegistryReader` adds the verifier's cached,
reorg-aware reads on top; :class:`~anchor.chain.writer.Registry` adds writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from anchor.chain import legacy
from anchor.chain.abi import AbiTable, Function
from anchor.chain.artifact import Artifact, load_artifact
from anchor.chain.legacy import KEYLESS_RUNTIME_SHA256
from anchor.chain.node import Chain, Receipt
from anchor.chain.rpc import RpcError
from anchor.core.addresses import checksum
from anchor.core.errors import ChainError, InputError
from anchor.core.registry import BatchInfo, IssuerInfo, LogEvent, SigningKeyRecord

SIGNING_KEY_BYTES = 32  # a raw Ed25519 public key

__all__ = ["KEYLESS_RUNTIME_SHA256", "RegistryViews", "bytes_of", "int_of"]


def int_of(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def bytes_of(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


class RegistryViews:
    """The registry's view functions and event history at ``address`` on ``chain``, uncached;
    safe to share between threads."""

    def __init__(self, chain: Chain, address: str, *, artifact: Artifact | None = None) -> None:
        try:
            self.address = checksum(address)
        except ValueError:
            raise InputError(f"not an Ethereum address: {address!r}", reason="bad_address") from None
        self.chain = chain
        self.rpc = chain.rpc
        self.artifact = artifact or load_artifact()
        self.abi = AbiTable(self.artifact.abi)
        self.abi.errors.update(legacy.FIRST.errors)  # the first contract's own errors, decoded by name too
        self._code_ok: bool | None = None
        # Registries of earlier releases (see anchor.chain.legacy), known once code_matches() has
        # read the code, as the verifier does before anything else (other reads recognise the
        # code when the registry refuses today's call, then ask again).
        self.keyless = False  # from before signing keys: none was ever bound in it
        self.root_keyed = False  # the first contract: batches keyed by root alone (also keyless)

    @property
    def rpc_url(self) -> str:
        return self.chain.rpc_url

    @property
    def http_requests(self) -> int:
        return self.rpc.http_requests

    @property
    def rpc_calls(self) -> int:
        return self.rpc.rpc_calls

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    # ------------------------------------------------------------------ calls

    def _fn(self, fn: str) -> Function:
        if self.root_keyed and fn in legacy.ROOT_KEYED:
            return legacy.FIRST.fn(fn)
        return self.abi.fn(fn)

    def _call(self, fn: str, *args: Any, block: int | str = "latest") -> tuple[str, list[Any]]:
        """The ``eth_call`` of today's view ``fn``, in the dialect of the registry at the address
        (the first contract's batch views take no issuer: it is dropped)."""
        if self.keyless and fn in legacy.SIGNING_KEY_FUNCTIONS:
            raise legacy.predates_signing_keys()
        if self.root_keyed and fn in legacy.ROOT_KEYED:
            args = args[1:]
        tag = hex(block) if isinstance(block, int) else block
        return ("eth_call", [{"to": self.address, "data": "0x" + self._fn(fn).data(*args).hex()}, tag])

    def _decode(self, fn: str, raw: Any) -> tuple[Any, ...]:
        return self._fn(fn).result(bytes_of(raw))

    def _recognised_now(self, e: RpcError) -> bool:
        """After a refused call: whether the registry turned out to be an earlier one that the
        call must be made differently for (so it is worth asking again). A call a registry lacks
        reverts without data; only then is the code read, once."""
        if e.revert_data != b"" or self._code_ok is not None:
            return False
        return self.code_matches() and self.keyless

    def _recognise(self) -> None:
        """Read the code once if nothing has yet (flags ``keyless`` and ``root_keyed``)."""
        if self._code_ok is None:
            self.code_matches()

    def view(self, fn: str, *args: Any, block: int | str = "latest") -> tuple[Any, ...]:
        """One view call, decoded; a revert raises the registry's custom error as ContractRevert."""
        try:
            try:
                raw = self.rpc.batch([self._call(fn, *args, block=block)])[0]
            except RpcError as e:
                if not self._recognised_now(e):
                    raise
                raw = self.rpc.batch([self._call(fn, *args, block=block)])[0]
        except RpcError as e:
            data = e.revert_data
            if data is not None:
                raise self.abi.decode_revert(data) from None
            raise
        return self._decode(fn, raw)

    def call_many(self, calls: Sequence[tuple[str, tuple[Any, ...]]], *, chunk: int = 500, block: int | str = "latest") -> list[Any]:
        """Many view calls, decoded, in batched round trips of ``chunk``."""
        out: list[Any] = []
        for i in range(0, len(calls), chunk):
            part = calls[i : i + chunk]
            try:
                results = self.rpc.batch([self._call(fn, *args, block=block) for fn, args in part])
            except RpcError as e:
                if not self._recognised_now(e):
                    raise
                results = self.rpc.batch([self._call(fn, *args, block=block) for fn, args in part])
            out.extend(self._decode(fn, r) for (fn, _), r in zip(part, results, strict=True))
        return out

    # ------------------------------------------------------------------ the contract

    def code_matches(self) -> bool:
        """Whether the code at the address is this registry's runtime code, or an earlier release's
        registry (:mod:`anchor.chain.legacy`). A match is remembered; a mismatch is not (the code
        is read again next time), so a service started before its registry was deployed sees it
        once it is."""
        if not self._code_ok:
            self._code_ok = self._genuine(self.chain.code_at(self.address))
        return self._code_ok

    def check_deployed(self) -> None:
        """Raise unless the code at the address is this registry's runtime code (or an earlier release's)."""
        code = self.chain.code_at(self.address)
        if not code:
            raise ChainError(f"no contract at {self.address} on chain {self.chain_id}", reason="no_registry")
        if not self._genuine(code):
            raise ChainError(f"the contract at {self.address} is not a CredentialRegistry of this version", reason="wrong_registry")
        self._code_ok = True

    def _genuine(self, code: bytes) -> bool:
        """Whether ``code`` is a registry's, setting the dialect flags (before anything is cached)."""
        if code == bytes.fromhex(self.artifact.deployed_bytecode[2:]):
            self.keyless = self.root_keyed = False
            return True
        digest = hashlib.sha256(code).hexdigest()
        self.root_keyed = digest in legacy.FIRST_RUNTIME_SHA256
        self.keyless = self.root_keyed or digest == KEYLESS_RUNTIME_SHA256
        return self.keyless

    def require_signing_keys(self) -> None:
        """ChainError ``registry_predates_signing_keys`` (one line) for a registry without them."""
        self._recognise()
        if self.keyless:
            raise legacy.predates_signing_keys()

    def admin(self) -> str:
        return str(self.view("admin")[0])

    def issuer_count(self) -> int:
        return int(self.view("issuerCount")[0])

    def issuer_account(self, issuer_id: int) -> str:
        return str(self.view("issuerAccount", issuer_id)[0])

    def issuer_info(self, address: str, *, block: int | str = "latest") -> IssuerInfo:
        who = self._address(address)
        return self._issuer_from(who, self.view("issuerInfo", who, block=block))

    def batch_info(self, issuer: str, root: bytes, *, block: int | str = "latest") -> BatchInfo:
        who = self._address(issuer)
        return self._batch_from(who, root, self.view("batchInfo", who, root, block=block))

    # The first contract answers these about a root whoever anchored it: asked about the batch
    # (issuer, root), it must be that issuer's (else: never anchored, nothing revoked, no proof).

    def _owns(self, who: str, root: bytes, block: int | str = "latest") -> bool:
        return not self.root_keyed or self.batch_info(who, root, block=block).anchored

    def is_revoked(self, issuer: str, root: bytes, index: int) -> bool:
        who = self._address(issuer)
        return bool(self.view("isRevoked", who, root, index)[0]) and self._owns(who, root)

    def is_batch_revoked(self, issuer: str, root: bytes) -> bool:
        who = self._address(issuer)
        return bool(self.view("isBatchRevoked", who, root)[0]) and self._owns(who, root)

    def revocation_word(self, issuer: str, root: bytes, word: int, *, block: int | str = "latest") -> int:
        who = self._address(issuer)
        bits = int(self.view("revocationWord", who, root, word, block=block)[0])
        return bits if bits == 0 or self._owns(who, root, block) else 0

    def verify(self, issuer: str, root: bytes, leaf: bytes, index: int, proof: Sequence[bytes]) -> bool:
        who = self._address(issuer)
        return bool(self.view("verify", who, root, leaf, index, list(proof))[0]) and self._owns(who, root)

    # ------------------------------------------------------------------ signing keys

    def signing_key_count(self, issuer: str, *, block: int | str = "latest") -> int:
        """Number of signing keys ``issuer`` ever bound (bindings are never undone)."""
        self._recognise()
        if self.keyless:
            return 0
        return int(self.view("signingKeyCount", self._address(issuer), block=block)[0])

    def signing_key_at(self, issuer: str, index: int, *, block: int | str = "latest") -> SigningKeyRecord:
        """``issuer``'s signing key number ``index`` (0 = the first it bound); ContractRevert
        ``signing_key_index_out_of_range`` unless ``index`` is below :meth:`signing_key_count`."""
        if not 0 <= index < 1 << 32:
            raise InputError(f"signing key index {index} is not a uint32", reason="bad_signing_key_index")
        return self._signing_key_from(self.view("signingKeyAt", self._address(issuer), index, block=block))

    def signing_key_block(self, issuer: str, public_key: bytes, *, block: int | str = "latest") -> int:
        """The block in which ``issuer`` bound ``public_key``; 0 if it never did."""
        self._recognise()
        if self.keyless:
            return 0
        return int(self.view("signingKeyBlock", self._address(issuer), self._signing_key(public_key), block=block)[0])

    def signing_keys(self, issuer: str, *, block: int | str = "latest") -> list[SigningKeyRecord]:
        """``issuer``'s whole key history, oldest first, read at one block (``latest``: the block
        number is fixed first, so the count and the keys agree)."""
        who = self._address(issuer)
        at = self.chain.block_number() if block == "latest" else block
        count = self.signing_key_count(who, block=at)
        return [self._signing_key_from(r) for r in self.call_many([("signingKeyAt", (who, i)) for i in range(count)], block=at)]

    @staticmethod
    def _signing_key(public_key: bytes) -> bytes:
        if not isinstance(public_key, bytes | bytearray) or len(public_key) != SIGNING_KEY_BYTES:
            raise InputError(f"a signing key is a raw {SIGNING_KEY_BYTES}-byte Ed25519 public key", reason="bad_signing_key")
        return bytes(public_key)

    @staticmethod
    def _signing_key_from(decoded: tuple[Any, ...]) -> SigningKeyRecord:
        k = decoded[0]
        return SigningKeyRecord(bytes(k[0]), int(k[1]), int(k[2]))

    @staticmethod
    def _address(address: str) -> str:
        try:
            return checksum(address)
        except ValueError:
            raise InputError(f"not an Ethereum address: {address!r}", reason="bad_address") from None

    @staticmethod
    def _batch_from(who: str, root: bytes, decoded: tuple[Any, ...]) -> BatchInfo:
        """The batch ``(who, root)`` from a ``batchInfo`` answer: only ever ``who``'s (the first
        contract's answer about a root may be another issuer's batch: then never anchored)."""
        b = decoded[0]
        return legacy.owned_by(who, root, BatchInfo(str(b[0]), bytes(root), int(b[1]), int(b[2]), int(b[3]), int(b[4])))

    @staticmethod
    def _issuer_from(address: str, decoded: tuple[Any, ...]) -> IssuerInfo:
        r = decoded[0]
        return IssuerInfo(address, int(r[0]), bool(r[1]), int(r[2]), int(r[3]), str(r[4]))

    # ------------------------------------------------------------------ event history

    def event_topic(self, name: str) -> bytes:
        return self.abi.topic(name)

    def logs(self, *, from_block: int = 0, to_block: int | None = None, page: int = 10_000,
             topics: list[Any] | None = None) -> Iterator[LogEvent]:
        """Every registry event in the range, oldest first, read in pages of at most ``page``
        blocks (halved when the node refuses a range)."""
        last = self.chain.block_number() if to_block is None else to_block
        flt: dict[str, Any] = {"address": self.address}
        if topics:
            flt["topics"] = topics
        for raw in self.rpc.get_logs(flt, from_block=from_block, to_block=last, page=page):
            yield from self._decode_logs(raw)

    events = logs

    def receipt_events(self, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
        """(name, arguments) of the registry's events in a transaction receipt, in log order;
        other contracts' logs are skipped."""
        out = []
        for log in receipt.logs:
            if str(log.get("address", "")).lower() != self.address.lower():
                continue
            decoded = self.abi.decode_event([bytes_of(t) for t in log.get("topics", [])], bytes_of(log.get("data", "0x")))
            if decoded is not None:
                out.append(decoded)
        return out

    def _decode_logs(self, raw: list[dict[str, Any]]) -> Iterator[LogEvent]:
        missing = sorted({int_of(log["blockNumber"]) for log in raw if "blockTimestamp" not in log})
        times: dict[int, int] = {}
        for i in range(0, len(missing), 500):  # nodes without blockTimestamp in logs: headers, batched
            part = missing[i : i + 500]
            for number, header in zip(part, self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part]), strict=True):
                times[number] = int_of(header["timestamp"])
        for log in raw:
            decoded = self.abi.decode_event([bytes_of(t) for t in log["topics"]], bytes_of(log["data"]))
            if decoded is None:
                continue  # not one of ours (cannot happen for a genuine registry)
            name, args = decoded
            number = int_of(log["blockNumber"])
            when = int_of(log["blockTimestamp"]) if "blockTimestamp" in log else times[number]
            yield LogEvent(name, args, number, when, bytes_of(log["transactionHash"]), int_of(log["logIndex"]),
                           bytes_of(log["blockHash"]) if log.get("blockHash") else b"")


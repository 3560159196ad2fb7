"""Reads of one ``CredentialRegistry``: views, events, and a verifier's cached, reorg-aware view.

Every read is raw JSON-RPC through :class:`~anchor.chain.rpc.JsonRpc` and the one ABI table, no
web3 on this path. Verification needs a handful of reads per credential, sent as one batch.

With ``head_ttl > 0`` (the service) it caches (see :mod:`anchor.chain.cache`): the chain id and the
contract check forever; batch records, revocation words and issuer records until the chain says
they changed. The head is re-read at most every ``head_ttl`` seconds, in one round trip with the
block the cache last synced to: if that block's hash changed, a reorg dropped blocks the cache
learned from and it starts over; otherwise the registry's events in the *new* blocks (if any)
drop exactly the records they touch. So hot endpoints make no RPC call per request, and a
revocation is visible as soon as its block is seen. With ``head_ttl == 0`` (the offline verifier)
nothing is cached and each credential costs one batched round trip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from anchor.chain.abi import AbiTable
from anchor.chain.artifact import Artifact, load_artifact
from anchor.chain.cache import ChainCache, Synced
from anchor.chain.node import Chain
from anchor.chain.rpc import RpcError
from anchor.core.addresses import checksum, from_word
from anchor.core.errors import ChainError, InputError
from anchor.core.registry import BatchInfo, IssuerInfo, LogEvent, RevocationRecord

_MUTATING = ("IssuerAdded", "IssuerRemoved", "BatchAnchored", "CredentialsRevoked", "BatchRevoked")


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


class RegistryReader:
    """Reads of the registry at ``address`` on ``chain``; safe to share between threads."""

    def __init__(self, chain: Chain, address: str, *, head_ttl: float = 0.0, artifact: Artifact | None = None) -> None:
        try:
            self.address = checksum(address)
        except ValueError:
            raise InputError(f"not an Ethereum address: {address!r}", reason="bad_address") from None
        self.chain = chain
        self.rpc = chain.rpc
        self.artifact = artifact or load_artifact()
        self.abi = AbiTable(self.artifact.abi)
        self.head_ttl = head_ttl
        self.cache = ChainCache() if head_ttl > 0 else None
        self._lock = threading.Lock()
        self._code_ok: bool | None = None
        self._head: tuple[float, int] | None = None
        self._mutating = ["0x" + self.abi.topic(n).hex() for n in _MUTATING]

    @classmethod
    def connect(cls, rpc_url: str, address: str, *, timeout: float = 5.0, head_ttl: float = 0.0) -> RegistryReader:
        return cls(Chain(rpc_url, timeout=timeout), address, head_ttl=head_ttl)

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

    def _call(self, fn: str, *args: Any, block: int | str = "latest") -> tuple[str, list[Any]]:
        tag = hex(block) if isinstance(block, int) else block
        return ("eth_call", [{"to": self.address, "data": "0x" + self.abi.fn(fn).data(*args).hex()}, tag])

    def _decode(self, fn: str, raw: Any) -> tuple[Any, ...]:
        return self.abi.fn(fn).result(_hex(raw))

    def view(self, fn: str, *args: Any, block: int | str = "latest") -> tuple[Any, ...]:
        """One view call, decoded; a revert raises the registry's custom error as ContractRevert."""
        try:
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
            results = self.rpc.batch([self._call(fn, *args, block=block) for fn, args in part])
            out.extend(self._decode(fn, r) for (fn, _), r in zip(part, results, strict=True))
        return out

    # ------------------------------------------------------------------ the contract

    def code_matches(self) -> bool:
        if self._code_ok is None:
            self._code_ok = self.chain.code_at(self.address) == bytes.fromhex(self.artifact.deployed_bytecode[2:])
        return self._code_ok

    def check_deployed(self) -> None:
        """Raise unless the code at the address is this registry's runtime code."""
        code = self.chain.code_at(self.address)
        if not code:
            raise ChainError(f"no contract at {self.address} on chain {self.chain_id}", reason="no_registry")
        if code != bytes.fromhex(self.artifact.deployed_bytecode[2:]):
            raise ChainError(f"the contract at {self.address} is not a CredentialRegistry of this version", reason="wrong_registry")

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
        return self._batch_from(root, self.view("batchInfo", self._address(issuer), root, block=block))

    def is_revoked(self, issuer: str, root: bytes, index: int) -> bool:
        return bool(self.view("isRevoked", self._address(issuer), root, index)[0])

    def is_batch_revoked(self, issuer: str, root: bytes) -> bool:
        return bool(self.view("isBatchRevoked", self._address(issuer), root)[0])

    def revocation_word(self, issuer: str, root: bytes, word: int, *, block: int | str = "latest") -> int:
        return int(self.view("revocationWord", self._address(issuer), root, word, block=block)[0])

    def verify(self, issuer: str, root: bytes, leaf: bytes, index: int, proof: Sequence[bytes]) -> bool:
        return bool(self.view("verify", self._address(issuer), root, leaf, index, list(proof))[0])

    @staticmethod
    def _address(address: str) -> str:
        try:
            return checksum(address)
        except ValueError:
            raise InputError(f"not an Ethereum address: {address!r}", reason="bad_address") from None

    @staticmethod
    def _batch_from(root: bytes, decoded: tuple[Any, ...]) -> BatchInfo:
        b = decoded[0]
        return BatchInfo(str(b[0]), bytes(root), int(b[1]), int(b[2]), int(b[3]), int(b[4]))

    @staticmethod
    def _issuer_from(address: str, decoded: tuple[Any, ...]) -> IssuerInfo:
        r = decoded[0]
        return IssuerInfo(address, int(r[0]), bool(r[1]), int(r[2]), int(r[3]), str(r[4]))

    # ------------------------------------------------------------------ the head, reorgs, the cache

    @property
    def caching(self) -> bool:
        return self.cache is not None

    def head(self, *, fresh: bool = False) -> int:
        """The latest block number. When caching, re-read at most every ``head_ttl`` seconds
        (``fresh``: now), with a reorg check and the registry's events of the new blocks applied
        to the cache."""
        cached = self._head
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.head_ttl:
            return cached[1]
        if self.cache is None:
            number = self.chain.block_number()
            self._head = (time.monotonic(), number)
            return number
        with self._lock:  # one refresh at a time; the others wait and reuse it
            cached = self._head
            if not fresh and cached is not None and time.monotonic() - cached[0] < self.head_ttl:
                return cached[1]
            number = self._sync(self.cache)
            self._head = (time.monotonic(), number)
            return number

    def _sync(self, cache: ChainCache) -> int:
        synced = cache.synced
        calls: list[tuple[str, list[Any]]] = [("eth_getBlockByNumber", ["latest", False])]
        if synced is not None:
            calls.append(("eth_getBlockByNumber", [hex(synced.number), False]))
        answers = self.rpc.batch(calls)
        latest = answers[0]
        number, block_hash = _int(latest["number"]), _hex(latest["hash"])
        if synced is not None:
            then = answers[1]
            if then is None or _hex(then["hash"]) != synced.hash:
                cache.reorged()  # the block we synced to is no longer canonical
                synced = None
        if synced is None:
            cache.clear()
        elif number > synced.number:
            flt = {"address": self.address, "topics": [self._mutating]}
            for page in self.rpc.get_logs(flt, from_block=synced.number + 1, to_block=number):
                for log in page:
                    self._invalidate(cache, log)
        elif number < synced.number:  # the chain got shorter: a reorg or a node restarted
            cache.reorged()
        cache.synced = Synced(number, block_hash)
        return number

    def _invalidate(self, cache: ChainCache, log: dict[str, Any]) -> None:
        topics = [_hex(t) for t in log.get("topics", [])]
        decoded = self.abi.decode_event(topics, _hex(log.get("data", "0x")))
        if decoded is None:
            return
        name, args = decoded
        if name in ("IssuerAdded", "IssuerRemoved"):
            cache.forget_issuer(args["issuer"])
        else:  # BatchAnchored, CredentialsRevoked, BatchRevoked: keyed by (issuer, root)
            cache.forget_batch((args["issuer"], bytes(args["root"])))

    def read(self, issuer: str, root: bytes, index: int) -> tuple[int, BatchInfo, IssuerInfo | None, int]:
        """(head, batch ``(issuer, root)``, that issuer's record, revocation word holding ``index``).

        Without caching, one batched round trip. With caching, only what is not cached is read, in
        one round trip.
        """
        who = self._address(issuer)
        key, word = (who, root), index >> 8
        cache = self.cache
        if cache is None:
            results = self.rpc.batch([("eth_blockNumber", []), self._call("batchInfo", who, root),
                                      self._call("revocationWord", who, root, word), self._call("issuerInfo", who)])
            head = _int(results[0])
            self._head = (time.monotonic(), head)
            batch = self._batch_from(root, self._decode("batchInfo", results[1]))
            bits = int(self._decode("revocationWord", results[2])[0])
            info = self._issuer_from(who, self._decode("issuerInfo", results[3])) if batch.anchored else None
            return head, batch, info, bits
        head = self.head()
        with self._lock:
            batch, bits, info = cache.batch(key), cache.word(key, word), cache.issuers.get(who)
        calls = []
        if batch is None:
            calls.append(self._call("batchInfo", who, root))
        if bits is None:
            calls.append(self._call("revocationWord", who, root, word))
        if info is None:
            calls.append(self._call("issuerInfo", who))
        if calls:
            results = iter(self.rpc.batch(calls))
            with self._lock:
                if batch is None:
                    batch = self._batch_from(root, self._decode("batchInfo", next(results)))
                    cache.put_batch(batch)
                if bits is None:
                    bits = int(self._decode("revocationWord", next(results))[0])
                    cache.put_word(key, word, bits)
                if info is None:
                    info = self._issuer_from(who, self._decode("issuerInfo", next(results)))
                    cache.issuers.put(who, info)
        assert batch is not None and bits is not None
        # The batch was read at a block no older than the one it was anchored in: a head cached a
        # moment before that must not make a fresh anchor look unconfirmed (depth 0 or less).
        return max(head, batch.anchored_block), batch, info if batch.anchored else None, bits

    def issuer(self, address: str) -> IssuerInfo:
        who = self._address(address)
        if self.cache is not None:
            self.head()
            info = self.cache.issuers.get(who)
            if info is not None:
                return info  # type: ignore[no-any-return]
        info = self.issuer_info(who)
        if self.cache is not None:
            self.cache.issuers.put(who, info)
        return info

    def batch(self, issuer: str, root: bytes) -> BatchInfo:
        _, info, _, _ = self.read(issuer, root, 0)
        return info

    def batches_of_root(self, root: bytes) -> list[BatchInfo]:
        """Every batch with this root, one per issuer that anchored it, oldest first."""
        topics = ["0x" + self.abi.topic("BatchAnchored").hex(), "0x" + root.hex()]
        owners = list(dict.fromkeys(ev.args["issuer"] for ev in self.logs(topics=topics)))
        return [b for b in (self.batch(who, root) for who in owners) if b.anchored]

    def issuers(self) -> list[IssuerInfo]:
        """Every account ever added as an issuer, by id (cached until an issuer event)."""
        if self.cache is not None:
            self.head()
            if self.cache.issuer_list is not None:
                return list(self.cache.issuer_list)
        count = self.issuer_count()
        accounts = [str(r[0]) for r in self.call_many([("issuerAccount", (i,)) for i in range(1, count + 1)])]
        listed = [self._issuer_from(a, r) for a, r in zip(accounts, self.call_many([("issuerInfo", (a,)) for a in accounts]), strict=True)]
        if self.cache is not None:
            self.cache.issuer_list = listed
        return list(listed)

    # ------------------------------------------------------------------ revocation details

    def revocation(self, batch: BatchInfo, index: int) -> RevocationRecord | None:
        """The event that revoked ``index`` of ``batch`` (or the whole batch): reason and time."""
        key = (batch.issuer, batch.root, index)
        if self.cache is not None and key in self.cache.revocations:
            return self.cache.revocations[key]  # type: ignore[no-any-return]
        found: RevocationRecord | None = None
        topics = [["0x" + self.abi.topic("CredentialsRevoked").hex(), "0x" + self.abi.topic("BatchRevoked").hex()],
                  "0x" + batch.root.hex(), "0x" + bytes(12).hex() + batch.issuer[2:].lower()]
        for ev in self.logs(from_block=batch.anchored_block, topics=topics):
            hit = ev.name == "BatchRevoked" or any(w == index >> 8 and (m >> (index & 0xFF)) & 1 for w, m in ev.args["words"])
            if hit:
                found = RevocationRecord(ev.name == "BatchRevoked", int(ev.args["reason"]), ev.block_number, ev.block_time, ev.tx_hash)
                break
        if self.cache is not None:
            self.cache.revocations.put(key, found)
        return found

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

    def _decode_logs(self, raw: list[dict[str, Any]]) -> Iterator[LogEvent]:
        missing = sorted({_int(log["blockNumber"]) for log in raw if "blockTimestamp" not in log})
        times: dict[int, int] = {}
        for i in range(0, len(missing), 500):  # nodes without blockTimestamp in logs: headers, batched
            part = missing[i : i + 500]
            for number, header in zip(part, self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part]), strict=True):
                times[number] = _int(header["timestamp"])
        for log in raw:
            decoded = self.abi.decode_event([_hex(t) for t in log["topics"]], _hex(log["data"]))
            if decoded is None:
                continue  # not one of ours (cannot happen for a genuine registry)
            name, args = decoded
            number = _int(log["blockNumber"])
            when = _int(log["blockTimestamp"]) if "blockTimestamp" in log else times[number]
            yield LogEvent(name, args, number, when, _hex(log["transactionHash"]), _int(log["logIndex"]),
                           _hex(log["blockHash"]) if log.get("blockHash") else b"")


__all__ = ["RegistryReader", "from_word"]

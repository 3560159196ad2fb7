"""A read-only, verifier's view of a registry: lean JSON-RPC, batched, cached per block.

Verification needs a handful of registry reads per credential. :class:`RegistryView` sends them
as one JSON-RPC batch over a keep-alive HTTP session (no web3 middleware on the hot path).

With ``head_ttl > 0`` (the service) it caches: the chain id and the contract check forever;
batch records, revocation words and issuer records until the chain says they changed. The head
block is re-read at most every ``head_ttl`` seconds, and with it the registry's state-changing
events since the previous read (one ``eth_getLogs``, usually empty); each event drops exactly
the cached records it touches. So hot endpoints make no RPC call per request, and a revocation
is visible as soon as its block is seen: keep ``head_ttl`` below the chain's block time (the
default 0.5 s is below every major chain's). With ``head_ttl == 0`` (the offline verifier)
nothing is cached and each credential costs one batched round trip.

Transport failures raise :class:`ChainUnavailable`; nothing is cached from a failed read.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from urllib.parse import urlparse
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from anchor.core.addresses import checksum as to_checksum_address

from anchor.chain.client import ZERO_ADDRESS, BatchInfo, IssuerInfo, _abi_type, _event_table, decode_event
from anchor.chain.artifact import load_artifact
from anchor.core.errors import ChainError, ChainUnavailable

_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One decoded registry event with where and when it happened."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_time: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    whole_batch: bool
    reason: int
    block_number: int
    block_time: int
    tx_hash: bytes


class _Fn:
    """One registry function: selector, argument and result types."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.inputs = [_abi_type(i) for i in item["inputs"]]
        self.outputs = [_abi_type(o) for o in item["outputs"]]
        self.selector = keccak(text=f"{item['name']}({','.join(self.inputs)})")[:4]

    def data(self, *args: Any) -> str:
        return "0x" + (self.selector + abi_encode(self.inputs, list(args))).hex()

    def decode(self, result: str) -> Any:
        return abi_decode(self.outputs, bytes.fromhex(result[2:]))


class _LRU(OrderedDict[Any, Any]):
    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > _CACHE_SIZE:
            self.popitem(last=False)


class RegistryView:
    """Reads of one registry at ``address`` through ``rpc_url``; safe to share between threads."""

    def __init__(self, rpc_url: str, address: str, *, timeout: float = 5.0, head_ttl: float = 0.5) -> None:
        self.rpc_url = rpc_url
        self.address = to_checksum_address(address)
        self.timeout = timeout
        self.head_ttl = head_ttl
        abi = load_artifact().abi
        self._fns = {item["name"]: _Fn(item) for item in abi if item.get("type") == "function"}
        self._events = _event_table(abi)
        self._revoked_topic = next(t for t, (n, _, _) in self._events.items() if n == "CredentialsRevoked")
        self._batch_revoked_topic = next(t for t, (n, _, _) in self._events.items() if n == "BatchRevoked")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._chain_id: int | None = None
        self._code_ok: bool | None = None
        self._head: tuple[float, int] | None = None
        self._synced: int | None = None  # last block whose state-changing events were applied
        self._batches: _LRU = _LRU()  # root -> BatchInfo (anchored or not)
        self._words: _LRU = _LRU()  # root -> {word: bits, ("revocation", index): record}
        self._issuers: _LRU = _LRU()  # address -> IssuerInfo
        self._issuer_list: list[IssuerInfo] | None = None
        self._mutating = [t for t, (n, _, _) in self._events.items() if n != "AdminTransferred"]
        self.http_requests = 0  # counters for benchmarks and tests
        self.rpc_calls = 0

    # ------------------------------------------------------------------ transport

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            # Proxy variables do not apply to a node on this machine, and consulting them costs a
            # scan of the environment on every request.
            s.trust_env = urlparse(self.rpc_url).hostname not in ("127.0.0.1", "localhost", "::1")
        return s

    def rpc(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """One JSON-RPC batch; results in order. Errors raise, per call."""
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls]
        self.http_requests += 1
        self.rpc_calls += len(payload)
        try:
            r = self._session().post(self.rpc_url, json=payload if len(payload) > 1 else payload[0], timeout=self.timeout)
            r.raise_for_status()
            body = r.json()
        except (requests.ConnectionError, requests.Timeout) as e:
            raise ChainUnavailable(f"cannot reach the chain at {self.rpc_url}") from e
        except (requests.RequestException, ValueError) as e:
            raise ChainUnavailable(f"bad answer from the chain at {self.rpc_url}: {e}") from e
        answers = body if isinstance(body, list) else [body]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out = []
        for req in payload:
            a = by_id.get(req["id"])
            if a is None:
                raise ChainUnavailable(f"the chain at {self.rpc_url} dropped a request ({req['method']})")
            if "error" in a:
                raise ChainError(f"{req['method']} failed: {a['error'].get('message', a['error'])}")
            out.append(a["result"])
        return out

    def _call(self, fn: str, *args: Any, block: str = "latest") -> tuple[str, list[Any]]:
        return ("eth_call", [{"to": self.address, "data": self._fns[fn].data(*args)}, block])

    # ------------------------------------------------------------------ cached reads

    @property
    def caching(self) -> bool:
        return self.head_ttl > 0

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.rpc([("eth_chainId", [])])[0], 16)
        return self._chain_id

    def code_matches(self) -> bool:
        if self._code_ok is None:
            code = self.rpc([("eth_getCode", [self.address, "latest"])])[0]
            self._code_ok = code.lower() == load_artifact().deployed_bytecode.lower()
        return self._code_ok

    def head(self) -> int:
        """The latest block number. When caching, it is re-read at most every ``head_ttl``
        seconds, and each re-read also fetches the registry's state-changing events since the
        previous one and drops exactly the cached records they touch."""
        cached = self._head
        if cached is not None and time.monotonic() - cached[0] < self.head_ttl:
            return cached[1]
        if not self.caching:
            number = int(self.rpc([("eth_blockNumber", [])])[0], 16)
            self._head = (time.monotonic(), number)
            return number
        with self._lock:  # one refresh at a time; the others wait and reuse it
            cached = self._head
            if cached is not None and time.monotonic() - cached[0] < self.head_ttl:
                return cached[1]
            if self._synced is None:
                number = int(self.rpc([("eth_blockNumber", [])])[0], 16)
            else:
                flt = {"address": self.address, "fromBlock": hex(self._synced + 1), "toBlock": "latest",
                       "topics": [[ "0x" + t.hex() for t in self._mutating]]}
                try:
                    raw_number, logs = self.rpc([("eth_blockNumber", []), ("eth_getLogs", [flt])])
                except ChainError as e:
                    if isinstance(e, ChainUnavailable):
                        raise
                    raw_number, logs = self.rpc([("eth_blockNumber", [])])[0], None  # range refused: start over
                number = int(raw_number, 16)
                if logs is None:
                    self._clear()
                else:
                    for log in logs:
                        self._invalidate(log)
            self._synced = number
            self._head = (time.monotonic(), number)
            return number

    def _clear(self) -> None:
        self._batches.clear()
        self._words.clear()
        self._issuers.clear()
        self._issuer_list = None

    def _invalidate(self, log: dict[str, Any]) -> None:
        topics = log["topics"]
        if len(topics) < 2:
            return
        name = self._events[bytes.fromhex(topics[0][2:])][0]
        if name in ("IssuerAdded", "IssuerRemoved"):
            self._issuers.pop(to_checksum_address("0x" + topics[1][-40:]), None)
            self._issuer_list = None
        else:  # BatchAnchored, CredentialsRevoked, BatchRevoked: indexed by root
            root = bytes.fromhex(topics[1][2:])
            self._batches.pop(root, None)
            self._words.pop(root, None)

    def read(self, root: bytes, index: int, issuer_hint: str | None = None) -> tuple[int, BatchInfo, IssuerInfo | None, int]:
        """(head, batch, issuer of the batch, revocation word holding ``index``).

        Without caching, one batched round trip (head, batch, word and the issuer the proof
        claims). With caching, only what is not cached is read, in one round trip.
        """
        word = index >> 8
        hint = to_checksum_address(issuer_hint) if issuer_hint else None
        if not self.caching:
            calls = [("eth_blockNumber", []), self._call("batchInfo", root), self._call("revocationWord", root, word)]
            if hint:
                calls.append(self._call("issuerInfo", hint))
            results = self.rpc(calls)
            head = int(results[0], 16)
            self._head = (time.monotonic(), head)
            batch = self._batch_from(root, results[1])
            bits = int(self._fns["revocationWord"].decode(results[2])[0])
            issuer = None
            if batch.anchored:
                issuer = self._issuer_from(hint, results[3]) if hint == batch.issuer and hint else self.issuer(batch.issuer)
            return head, batch, issuer, bits
        head = self.head()
        batch = self._batches.get(root)
        words = self._words.get(root)
        bits = words.get(word) if words is not None else None
        calls = []
        if batch is None:
            calls.append(self._call("batchInfo", root))
        if bits is None:
            calls.append(self._call("revocationWord", root, word))
        want_issuer = bool(hint) and hint not in self._issuers
        if want_issuer:
            calls.append(self._call("issuerInfo", hint))
        if calls:
            results = iter(self.rpc(calls))
            if batch is None:
                batch = self._batch_from(root, next(results))
                self._batches.put(root, batch)
            if bits is None:
                bits = int(self._fns["revocationWord"].decode(next(results))[0])
                if words is None:
                    words = {}
                    self._words.put(root, words)
                words[word] = bits
            if want_issuer and hint:
                self._issuers.put(hint, self._issuer_from(hint, next(results)))
        assert batch is not None and bits is not None
        issuer = self.issuer(batch.issuer) if batch.anchored else None
        return head, batch, issuer, bits

    def _batch_from(self, root: bytes, result: str) -> BatchInfo:
        b = self._fns["batchInfo"].decode(result)[0]
        return BatchInfo(root, to_checksum_address(b[0]), int(b[1]), int(b[2]), int(b[3]), int(b[4]))

    def issuer(self, address: str) -> IssuerInfo:
        address = to_checksum_address(address)
        info = self._issuers.get(address) if self.caching else None
        if info is None:
            info = self._issuer_from(address, self.rpc([self._call("issuerInfo", address)])[0])
            if self.caching:
                self._issuers.put(address, info)
        return info  # type: ignore[no-any-return]

    def _issuer_from(self, address: str, result: str) -> IssuerInfo:
        r = self._fns["issuerInfo"].decode(result)[0]
        return IssuerInfo(address, int(r[0]), bool(r[1]), int(r[2]), int(r[3]), str(r[4]))

    def batch(self, root: bytes) -> BatchInfo:
        _, info, _, _ = self.read(root, 0)
        return info

    def issuers(self) -> list[IssuerInfo]:
        """Every account ever added as an issuer, by id (cached until an issuer event)."""
        if self.caching:
            self.head()
            if self._issuer_list is not None:
                return list(self._issuer_list)
        count = int(self._fns["issuerCount"].decode(self.rpc([self._call("issuerCount")])[0])[0])
        accounts = [to_checksum_address(self._fns["issuerAccount"].decode(r)[0])
                    for r in self.rpc([self._call("issuerAccount", i) for i in range(1, count + 1)])] if count else []
        infos = self.rpc([self._call("issuerInfo", a) for a in accounts]) if accounts else []
        listed = [self._issuer_from(a, r) for a, r in zip(accounts, infos)]
        if self.caching:
            self._issuer_list = listed
        return list(listed)

    # ------------------------------------------------------------------ revocation details

    def revocation(self, batch: BatchInfo, index: int) -> RevocationRecord | None:
        """The event that revoked ``index`` of ``batch`` (or the whole batch): reason and time."""
        words = self._words.get(batch.root) if self.caching else None
        key = ("revocation", index)
        if words is not None and key in words:
            return words[key]  # type: ignore[no-any-return]
        root_topic = "0x" + batch.root.hex()
        logs = self.rpc([("eth_getLogs", [{
            "address": self.address, "fromBlock": hex(batch.anchored_block), "toBlock": "latest",
            "topics": [["0x" + self._revoked_topic.hex(), "0x" + self._batch_revoked_topic.hex()], root_topic],
        }])])[0]
        found: RevocationRecord | None = None
        for log in logs:
            decoded = decode_event(self._events, [bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(log["data"][2:]))
            if decoded is None:
                continue
            name, args = decoded
            hit = name == "BatchRevoked" or any(
                w == index >> 8 and (m >> (index & 0xFF)) & 1 for w, m in args["words"]
            )
            if hit:
                block = int(log["blockNumber"], 16)
                when = int(log["blockTimestamp"], 16) if "blockTimestamp" in log else \
                    int(self.rpc([("eth_getBlockByNumber", [hex(block), False])])[0]["timestamp"], 16)
                found = RevocationRecord(name == "BatchRevoked", int(args["reason"]), block, when,
                                         bytes.fromhex(log["transactionHash"][2:]))
                break
        if words is not None:
            words[key] = found
        return found

    # ------------------------------------------------------------------ event history

    def logs(self, *, from_block: int = 0, to_block: int | None = None, page: int = 10_000,
             topics: list[Any] | None = None) -> Iterator[LogEvent]:
        """Every registry event in the range, oldest first, in pages of at most ``page`` blocks.

        A node that refuses a range (too many blocks or results) gets it again in halves, so this
        works against public RPCs with log limits as well as against a local node.
        """
        last = int(self.rpc([("eth_blockNumber", [])])[0], 16) if to_block is None else to_block
        start, size = from_block, max(1, page)
        while start <= last:
            stop = min(start + size - 1, last)
            flt: dict[str, Any] = {"address": self.address, "fromBlock": hex(start), "toBlock": hex(stop)}
            if topics:
                flt["topics"] = topics
            try:
                raw = self.rpc([("eth_getLogs", [flt])])[0]
            except ChainError as e:
                if isinstance(e, ChainUnavailable) or stop == start or not _range_refused(str(e)):
                    raise
                size = max(1, (stop - start + 1) // 2)
                continue
            yield from self._decode_logs(raw)
            start = stop + 1

    def _decode_logs(self, raw: list[dict[str, Any]]) -> Iterator[LogEvent]:
        missing = sorted({int(log["blockNumber"], 16) for log in raw if "blockTimestamp" not in log})
        times: dict[int, int] = {}
        for i in range(0, len(missing), 500):  # nodes without blockTimestamp in logs: headers, batched
            part = missing[i : i + 500]
            for number, header in zip(part, self.rpc([("eth_getBlockByNumber", [hex(n), False]) for n in part])):
                times[number] = int(header["timestamp"], 16)
        for log in raw:
            decoded = decode_event(self._events, [bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(log["data"][2:]))
            if decoded is None:
                continue  # not one of ours (cannot happen for a genuine registry)
            name, args = decoded
            number = int(log["blockNumber"], 16)
            when = int(log["blockTimestamp"], 16) if "blockTimestamp" in log else times[number]
            yield LogEvent(name, args, number, when, bytes.fromhex(log["transactionHash"][2:]), int(log["logIndex"], 16))

    def call_many(self, calls: list[tuple[str, tuple[Any, ...]]], *, chunk: int = 500, block: str = "latest") -> list[Any]:
        """Many registry view calls, decoded, in batched round trips of ``chunk``."""
        out: list[Any] = []
        for i in range(0, len(calls), chunk):
            part = calls[i : i + chunk]
            results = self.rpc([self._call(fn, *args, block=block) for fn, args in part])
            out.extend(self._fns[fn].decode(r) for (fn, _), r in zip(part, results))
        return out


def _range_refused(message: str) -> bool:
    text = message.lower()
    return any(s in text for s in ("range", "limit", "too many", "exceed", "10000", "query returned more"))


def is_anchored(batch: BatchInfo) -> bool:
    return batch.issuer != ZERO_ADDRESS

"""One JSON-RPC transport: keep-alive HTTP per thread, batched calls, a range-halving log pager.

Stdlib ``http.client`` only (``requests`` costs ~0.3 s to import and a proxy scan per call).
Transport failures raise :class:`ChainUnavailable`; a node's error answer raises
:class:`RpcError` (a :class:`ChainError` carrying the JSON-RPC code, message and revert data).
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from anchor.core.errors import ChainError, ChainUnavailable, ConfigError

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a node's answer larger than this is refused


class RpcError(ChainError):
    """The node answered a call with a JSON-RPC error."""

    reason = "rpc_error"

    def __init__(self, method: str, error: Any) -> None:
        err = error if isinstance(error, dict) else {"message": str(error)}
        self.code = err.get("code")
        self.rpc_message = str(err.get("message", ""))
        self.data = err.get("data")
        super().__init__(f"{method} failed: {self.rpc_message or err}")

    @property
    def revert_data(self) -> bytes | None:
        """The revert payload of a failed ``eth_call``/``eth_estimateGas``, if the node sent one."""
        data = self.data.get("data") if isinstance(self.data, dict) else self.data
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return None
        return None

    @property
    def range_refused(self) -> bool:
        """Whether an ``eth_getLogs`` was refused for its block range or result size."""
        text = self.rpc_message.lower()
        return any(s in text for s in ("range", "limit", "too many", "exceed", "10000", "query returned more"))


class JsonRpc:
    """JSON-RPC over HTTP(S) to ``url``; safe to share between threads (one connection each)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"an RPC URL is http(s)://host[:port][/path], got {url!r}")
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._local = threading.local()
        self._ids = itertools.count(1)
        self.http_requests = 0  # counters for benchmarks and tests
        self.rpc_calls = 0

    def __repr__(self) -> str:
        return f"JsonRpc({self.shown_url!r})"

    @property
    def shown_url(self) -> str:
        """The URL without credentials or query (API keys live there on hosted RPCs)."""
        port = f":{self._port}" if self._port else ""
        return f"{'https' if self._https else 'http'}://{self._host}{port}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.timeout)
        return conn  # type: ignore[no-any-return]

    def _post(self, body: bytes) -> Any:
        for attempt in (1, 2):  # a keep-alive connection the server closed is retried once, fresh
            conn = self._connection()
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read(MAX_ANSWER_BYTES + 1)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                if attempt == 1 and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    continue
                raise ChainUnavailable(f"cannot reach the chain at {self.shown_url} ({type(e).__name__})") from None
            if resp.status == 429:
                raise ChainUnavailable(f"the chain at {self.shown_url} is rate-limiting (HTTP 429)", reason="rate_limited")
            if resp.status != 200:
                raise ChainUnavailable(f"the chain at {self.shown_url} answered HTTP {resp.status}")
            if len(raw) > MAX_ANSWER_BYTES:
                raise ChainUnavailable(f"the chain at {self.shown_url} sent an answer over {MAX_ANSWER_BYTES} bytes")
            try:
                return json.loads(raw)
            except ValueError:
                raise ChainUnavailable(f"the chain at {self.shown_url} sent something that is not JSON") from None
        raise AssertionError("unreachable")

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one round trip; results in order. The first failed call raises."""
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": list(p)} for m, p in calls]
        self.http_requests += 1
        self.rpc_calls += len(payload)
        body = self._post(json.dumps(payload if len(payload) > 1 else payload[0]).encode())
        answers = body if isinstance(body, list) else [body]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out = []
        for req in payload:
            a = by_id.get(req["id"])
            if a is None:
                raise ChainUnavailable(f"the chain at {self.shown_url} dropped a request ({req['method']})")
            if "error" in a:
                raise RpcError(str(req["method"]), a["error"])
            out.append(a.get("result"))
        return out

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, params)])[0]

    def get_logs(self, flt: dict[str, Any], *, from_block: int, to_block: int, page: int = 10_000) -> Iterator[list[dict[str, Any]]]:
        """Raw logs matching ``flt`` in ``[from_block, to_block]``, oldest first, one list per page.

        A node that refuses a range (too many blocks or results) gets it again in halves, so this
        works against public RPCs with log limits as well as against a local node.
        """
        start, size = from_block, max(1, page)
        while start <= to_block:
            stop = min(start + size - 1, to_block)
            try:
                raw = self.call("eth_getLogs", {**flt, "fromBlock": hex(start), "toBlock": hex(stop)})
            except RpcError as e:
                if stop == start or not e.range_refused:
                    raise
                size = max(1, (stop - start + 1) // 2)
                continue
            yield raw
            start = stop + 1

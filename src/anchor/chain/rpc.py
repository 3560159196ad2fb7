"""JSON-RPC transport: keep-alive HTTP per thread, batched calls, failover, a range-halving log pager.

Stdlib ``http.client`` only (``requests`` costs ~0.3 s to import and a proxy scan per call).

:class:`Endpoint` talks to one URL. :class:`JsonRpc` holds one or more of them (``rpc_url`` and
its fallbacks) and sends each call to the first usable one, in the configured order:

- a connection error, a timeout or an HTTP 5xx moves on to the next URL at once, and the URL that
  failed is skipped for ``RetryPolicy.cooldown`` seconds (a simple circuit breaker);
- HTTP 429, or a JSON-RPC rate-limit answer, leaves that URL alone for its ``Retry-After`` (or an
  exponential back-off with jitter), at most ``RetryPolicy.cooldown``, and moves on to the next URL; when every URL is resting, the
  call sleeps until the first one may be asked again;
- the whole call gives up after ``RetryPolicy.budget`` seconds (an answer still arriving then
  included: a node sending it a byte at a time is a timeout) with one :class:`ChainUnavailable`
  naming every URL and what it did. When every URL refused the connection outright (nothing
  listens there) it gives up at once: waiting would not help.

Every URL must serve the same chain: before its first call (and again every ``CHAIN_RECHECK``
seconds), a URL is asked its chain id, and a URL on another chain than ``chain_id`` (default: the
first URL that answers) is never used again.

Retrying a call is safe here: reads are idempotent, and ``eth_sendRawTransaction`` carries signed
bytes, so a resend can only land the same transaction (``Chain.broadcast`` takes "already known"
for that hash as success). Node-specific calls (``anvil_mine``) are not retried
(:meth:`JsonRpc.call_once`).

A node's error answer raises :class:`RpcError` (a :class:`ChainError` carrying the JSON-RPC code,
message and revert data).
"""

from __future__ import annotations

import email.utils
import http.client
import io
import itertools
import json
import math
import random
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from anchor.core.errors import ChainError, ChainUnavailable, ConfigError, InputError
from anchor.core.safe_input import check_json_depth

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a node's answer larger than this is refused
CHAIN_RECHECK = 300.0  # seconds after which a URL is asked its chain id again, before its next call
MAX_ANSWER_DEPTH = 32  # levels of arrays/objects; JSON-RPC answers anchor reads nest under 8
_RATE_LIMIT_TEXT = ("rate limit", "rate-limit", "ratelimit", "too many requests", "request rate", "rate exceeded",
                    "exceeded the rate", "compute units")


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
        if self.rate_limited:
            return False
        text = self.rpc_message.lower()
        return any(s in text for s in ("range", "limit", "too many", "exceed", "10000", "query returned more"))

    @property
    def rate_limited(self) -> bool:
        """Whether the node refused the call for its request rate (hosted RPCs answer 200 with this)."""
        text = self.rpc_message.lower()
        return self.code == 429 or any(s in text for s in _RATE_LIMIT_TEXT)


class TransportError(ChainUnavailable):
    """One URL could not answer: ``kind`` is refused | timeout | disconnected | http_5xx |
    rate_limited | bad_answer | wrong_chain; ``retry_after`` the seconds a 429 asked for."""

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message, reason="rate_limited" if kind == "rate_limited" else None)
        self.kind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a call tries before :class:`ChainUnavailable` (seconds)."""

    budget: float = 20.0  # total time a call may spend retrying and backing off
    backoff: float = 0.5  # first back-off after a 429 without Retry-After; doubled each time, with jitter
    max_backoff: float = 8.0  # one back-off never exceeds this
    cooldown: float = 30.0  # a URL that failed is skipped this long while another URL works

    def delay(self, attempt: int) -> float:
        """Exponential back-off with full jitter in its upper half: ``attempt`` 0, 1, 2..."""
        top = min(self.max_backoff, self.backoff * 2.0 ** min(attempt, 16))
        return top / 2 + random.random() * top / 2  # jitter, not a secret


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _DeadlineReader(io.RawIOBase):
    """A socket read by an HTTP response, each wait ending at ``deadline`` (monotonic) at the
    latest: a node that sends its answer a byte at a time cannot hold a call past it."""

    def __init__(self, owner: _DeadlineSocket) -> None:
        super().__init__()
        self._owner = owner
        self._sock, self._deadline, self._timeout = owner.sock, owner.deadline, owner.timeout

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        super().close()
        if self._owner.closed:  # the connection let the response finish reading first, as socket.makefile does
            self._sock.close()

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer took longer than the call may")
        self._sock.settimeout(min(left, self._timeout))
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What :meth:`http.client.HTTPConnection.getresponse` reads from: the connection's socket,
    whose ``makefile`` gives a :class:`_DeadlineReader`."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self.sock, self.deadline, self.timeout = sock, deadline, timeout
        self.closed = False
        self._reader: _DeadlineReader | None = None

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._reader = _DeadlineReader(self)
        return io.BufferedReader(self._reader)

    def close(self) -> None:
        """The connection is done with the socket; it closes once the response is read too."""
        self.closed = True
        if self._reader is None or self._reader.closed:
            self.sock.close()


def _response(conn: http.client.HTTPConnection, deadline: float, timeout: float) -> http.client.HTTPResponse:
    """``conn.getresponse()``, its status line, headers and body read by ``deadline``."""
    real = conn.sock
    if real is None or deadline == math.inf:
        return conn.getresponse()
    wrapper = _DeadlineSocket(real, deadline, timeout)
    conn.sock = wrapper
    try:
        return conn.getresponse()
    finally:
        if conn.sock is wrapper:  # (getresponse closes a connection the server will close: None then)
            conn.sock = real


class Endpoint:
    """One JSON-RPC URL over HTTP(S); safe to share between threads (one connection each)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = f"{parts.scheme}://{parts.hostname}" if parts.hostname else "a URL without a host"
            raise ConfigError(f"an RPC URL is http(s)://host[:port][/path], got {shown!r}")
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._local = threading.local()
        # circuit state, shared by threads (a benign race: the worst case is one extra attempt)
        self.skip_until = 0.0  # failed: other URLs first until then
        self.not_before = 0.0  # rate-limited: not asked again before then
        self.chain_id: int | None = None  # checked before first use
        self.chain_checked = 0.0  # when (monotonic) it last said its chain id
        self.refused_chain: str | None = None  # set when it serves another chain: never used

    def __repr__(self) -> str:
        return f"Endpoint({self.shown_url!r})"

    @property
    def shown_url(self) -> str:
        """The URL without credentials, path or query (API keys live there on hosted RPCs)."""
        port = f":{self._port}" if self._port else ""
        return f"{'https' if self._https else 'http'}://{self._host}{port}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.timeout)
        return conn

    def post(self, body: bytes, *, deadline: float = math.inf) -> Any:
        """POST ``body``, return the decoded JSON answer; :class:`TransportError` otherwise.
        Each wait lasts at most ``timeout`` seconds, and the answer must be in by ``deadline``
        (monotonic; a node trickling its answer is a timeout then)."""
        for attempt in (1, 2):  # a keep-alive connection the server closed is retried once, fresh
            conn = self._connection()
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                resp = _response(conn, deadline, self.timeout)
                raw = resp.read(MAX_ANSWER_BYTES + 1)
                if conn.sock is not None:
                    conn.sock.settimeout(self.timeout)  # the deadline's last wait, undone for the next request
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                stale = isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
                if attempt == 1 and stale:
                    continue
                kind = ("refused" if isinstance(e, ConnectionRefusedError) else "timeout" if isinstance(e, TimeoutError)
                        else "disconnected")
                raise TransportError(f"cannot reach the chain at {self.shown_url} ({type(e).__name__})", kind=kind) from None
            if resp.will_close:
                conn.close()
                self._local.conn = None
            if resp.status == 429:
                raise TransportError(f"the chain at {self.shown_url} is rate-limiting (HTTP 429)", kind="rate_limited",
                                     retry_after=_retry_after(resp.getheader("Retry-After")))
            if resp.status != 200:
                kind = "http_5xx" if resp.status >= 500 else "bad_answer"
                raise TransportError(f"the chain at {self.shown_url} answered HTTP {resp.status}", kind=kind)
            if len(raw) > MAX_ANSWER_BYTES:
                raise TransportError(f"the chain at {self.shown_url} sent an answer over {MAX_ANSWER_BYTES} bytes",
                                     kind="bad_answer")
            try:
                # Depth first: with the recursion limit py_ecc sets on import (eth_account brings it
                # in), a node's answer nested 100,000 deep would crash json.loads with SIGSEGV.
                check_json_depth(raw, MAX_ANSWER_DEPTH, what="answer")
                return json.loads(raw)
            except InputError:
                raise TransportError(f"the chain at {self.shown_url} sent an answer nested over {MAX_ANSWER_DEPTH} levels",
                                     kind="bad_answer") from None
            except (ValueError, RecursionError):
                raise TransportError(f"the chain at {self.shown_url} sent something that is not JSON", kind="bad_answer") from None
        raise AssertionError("unreachable")


def _chain_id_of(value: Any) -> int | None:
    """A chain id from an ``eth_chainId`` answer (a hex string, or an integer); None for anything else."""
    try:
        if isinstance(value, str):
            return int(value, 16)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    except ValueError:
        pass
    return None


def _said(failure: TransportError | None, endpoint: Endpoint) -> str:
    if endpoint.refused_chain:
        return endpoint.refused_chain
    if failure is None:
        return "not tried (resting after an earlier failure)"
    return failure.message.replace(f"the chain at {endpoint.shown_url} ", "").replace(f" the chain at {endpoint.shown_url}", "")


class JsonRpc:
    """JSON-RPC to ``urls`` (the first preferred, the others fallbacks); safe to share between threads.

    ``chain_id``: the chain every URL must serve (None: the chain of the first URL that answers).
    """

    def __init__(self, urls: str | Sequence[str], *, timeout: float = 10.0, policy: RetryPolicy | None = None,
                 chain_id: int | None = None) -> None:
        listed = [urls] if isinstance(urls, str) else list(dict.fromkeys(urls))
        if not listed:
            raise ConfigError("no RPC URL configured: set rpc_url")
        self.endpoints = [Endpoint(u, timeout=timeout) for u in listed]
        self.url = listed[0]
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.expected_chain_id = chain_id
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.http_requests = 0  # counters for benchmarks and tests
        self.rpc_calls = 0
        self.failovers = 0  # calls answered by another URL than the one first tried

    def __repr__(self) -> str:
        return f"JsonRpc({', '.join(e.shown_url for e in self.endpoints)})"

    @property
    def shown_url(self) -> str:
        return self.endpoints[0].shown_url

    # ------------------------------------------------------------------ calls

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one round trip; results in order. The first failed call raises."""
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": list(p)} for m, p in calls]
        self.rpc_calls += len(payload)
        body = json.dumps(payload if len(payload) > 1 else payload[0]).encode()
        return self._send(payload, body, retry=True)

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, params)])[0]

    def call_once(self, method: str, *params: Any) -> Any:
        """One call to the first usable URL, never repeated (for calls that change a node's state)."""
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}]
        self.rpc_calls += 1
        return self._send(payload, json.dumps(payload[0]).encode(), retry=False)[0]

    def chain_id(self) -> int:
        """The chain these URLs serve, once a URL has confirmed it: the first call checks the first
        usable URL (ChainUnavailable when none answers; ConfigError when none serves ``chain_id``)."""
        if self.expected_chain_id is None or not any(e.chain_id is not None for e in self.endpoints):
            self.call("eth_chainId")
        assert self.expected_chain_id is not None
        return self.expected_chain_id

    def _send(self, payload: list[dict[str, Any]], body: bytes, *, retry: bool) -> list[Any]:
        """Ask the URLs in turn (each at most once per round) until one answers; between rounds,
        wait for the soonest URL allowed again, within the policy's budget."""
        deadline = time.monotonic() + self.policy.budget
        failures: dict[int, TransportError] = {}  # by id() of the endpoint
        tried: set[int] = set()
        rounds = 0
        first: Endpoint | None = None
        while True:
            usable = [e for e in self.endpoints if e.refused_chain is None]
            if not usable:
                raise ConfigError("no RPC URL serves the configured chain: " + "; ".join(
                    f"{e.shown_url} {e.refused_chain}" for e in self.endpoints))
            endpoint = self._pick(usable, tried, time.monotonic())
            if endpoint is None:  # every URL failed this round or is resting under a rate limit
                if not retry or all(getattr(failures.get(id(e)), "kind", "") == "refused" for e in usable):
                    raise self._gave_up(failures)  # nothing listens anywhere: waiting would not help
                now = time.monotonic()
                wait = max(0.0, min(e.not_before for e in usable) - now)
                if now + wait > deadline:
                    raise self._gave_up(failures)
                time.sleep(wait)
                tried.clear()
                rounds += 1
                continue
            tried.add(id(endpoint))
            first = first or endpoint
            try:
                self._check_chain(endpoint, deadline)
                self.http_requests += 1
                answer = endpoint.post(body, deadline=deadline)
                answers = answer if isinstance(answer, list) else [answer]
                if any(isinstance(a, dict) and "error" in a and RpcError("", a["error"]).rate_limited for a in answers):
                    raise TransportError(f"the chain at {endpoint.shown_url} is rate-limiting (JSON-RPC error)",
                                         kind="rate_limited")
            except TransportError as e:
                failures[id(endpoint)] = e
                now = time.monotonic()
                if not retry:
                    raise self._gave_up(failures) from None
                if e.kind == "rate_limited":
                    # A node's Retry-After is honoured up to the cooldown: a hostile or broken one
                    # saying 10^9 must not bench the URL for the rest of the process's life.
                    rest = e.retry_after if e.retry_after is not None else self.policy.delay(rounds)
                    endpoint.not_before = now + min(rest, self.policy.cooldown)
                elif e.kind != "wrong_chain":
                    endpoint.skip_until = now + self.policy.cooldown
                    endpoint.not_before = now + (0.0 if e.kind == "refused" else self.policy.delay(rounds))
                continue
            endpoint.skip_until = endpoint.not_before = 0.0
            if endpoint is not first:
                self.failovers += 1
            return self._results(endpoint, payload, answers)

    @staticmethod
    def _pick(usable: list[Endpoint], tried: set[int], now: float) -> Endpoint | None:
        """The URL to ask next: the first healthy one in order not tried this round; else the first
        one resting after a failure (better than none); None when every URL was tried this round
        or is rate-limited."""
        fresh = [e for e in usable if id(e) not in tried and e.not_before <= now]
        healthy = [e for e in fresh if e.skip_until <= now]
        chosen = healthy or fresh
        return chosen[0] if chosen else None

    def _check_chain(self, endpoint: Endpoint, deadline: float = math.inf) -> None:
        """Ask a URL its chain id before its first real call, and again every
        :data:`CHAIN_RECHECK` seconds (a URL behind a load balancer or DNS name can start serving
        another chain); refuse it for good once it is another chain."""
        if endpoint.chain_id is not None and time.monotonic() - endpoint.chain_checked < CHAIN_RECHECK:
            return
        self.http_requests += 1
        answer = endpoint.post(json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": "eth_chainId", "params": []}).encode(),
                               deadline=deadline)
        if not isinstance(answer, dict) or "result" not in answer:
            raise TransportError(f"the chain at {endpoint.shown_url} did not say its chain id", kind="bad_answer")
        found = _chain_id_of(answer["result"])
        if found is None:
            raise TransportError(f"the chain at {endpoint.shown_url} did not say its chain id", kind="bad_answer")
        with self._lock:
            if self.expected_chain_id is None:
                self.expected_chain_id = found
        if found != self.expected_chain_id:
            endpoint.refused_chain = f"is on chain {found}, not {self.expected_chain_id}"
            raise TransportError(f"{endpoint.shown_url} {endpoint.refused_chain}: not used", kind="wrong_chain")
        endpoint.chain_id = found
        endpoint.chain_checked = time.monotonic()

    def _results(self, endpoint: Endpoint, payload: list[dict[str, Any]], answers: list[Any]) -> list[Any]:
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out = []
        for req in payload:
            a = by_id.get(req["id"])
            if a is None:
                raise ChainUnavailable(f"the chain at {endpoint.shown_url} dropped a request ({req['method']})")
            if "error" in a:
                raise RpcError(str(req["method"]), a["error"])
            out.append(a.get("result"))
        return out

    def _gave_up(self, failures: dict[int, TransportError]) -> ChainUnavailable:
        if len(self.endpoints) == 1 and failures:
            only = next(iter(failures.values()))
            return ChainUnavailable(only.message, reason=only.reason)
        said = "; ".join(f"{e.shown_url}: {_said(failures.get(id(e)), e)}" for e in self.endpoints)
        return ChainUnavailable(f"no RPC URL answered ({len(self.endpoints)} tried): {said}")

    # ------------------------------------------------------------------ logs

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

"""The service's Prometheus counters, and the functions that record them.

Recording is a function call with bounded labels: ``request(route, method, status, seconds)``,
``verdict(verdict, form)``, ``cache_hit(name)`` / ``cache_miss(name)``. Label values come from
fixed sets (URL rules, never raw paths; verdicts; forms; cache names chosen in code), so a
client sending 100 odd paths cannot create 100 series.

Under gunicorn each worker is its own process: :mod:`anchor.api.gunicorn_conf` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, counters are then kept in files there, and
:func:`render` sums every worker's. Without it (the app in-process, in tests) the counters live in
this process. ``prometheus_client`` decides between the two when it is first imported, so it is
imported here lazily, on first use, in the process that records.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

# Seconds; the service answers most requests in 1-25 ms, a cold chain read can take a second.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no URL rule matched (404, 405)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Counters:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series (multiprocess mode has none either)
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry()
        self.requests = Counter("anchor_http_requests", "HTTP requests answered, by URL rule, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("anchor_http_request_duration_seconds", "Time to answer an HTTP request, by URL rule and method",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.verdicts = Counter("anchor_verifications", "Verification reports given by POST /api/v1/verify, by verdict and "
                                "the form the badge was sent in", ["verdict", "form"], registry=self.registry)
        self.cache = Counter("anchor_cache_lookups", "Lookups in the service's in-memory caches, by cache and result (hit or miss)",
                             ["cache", "result"], registry=self.registry)
        # Summed over the live workers (a dead worker's files are dropped by gunicorn_conf.child_exit).
        self.cache_bytes = Gauge("anchor_cache_bytes", "Bytes held by the service's in-memory caches, summed over workers",
                                 ["cache"], multiprocess_mode="livesum", registry=self.registry)
        self.cache_entries = Gauge("anchor_cache_entries", "Entries in the service's in-memory caches, summed over workers",
                                   ["cache"], multiprocess_mode="livesum", registry=self.registry)
        self.cache_budget = Gauge("anchor_cache_budget_bytes", "The byte budgets of the service's in-memory caches, summed "
                                  "over workers", ["cache"], multiprocess_mode="livesum", registry=self.registry)


_counters: _Counters | None = None
_lock = threading.Lock()


def _get() -> _Counters:
    global _counters
    if _counters is None:
        with _lock:
            if _counters is None:
                _counters = _Counters()
    return _counters


def start() -> None:
    """Create the counters now (in the process that will record them) rather than on the first request."""
    _get()


_children: dict[tuple[str | None, str, int], tuple[Any, Any]] = {}


def request(route: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request; ``route`` is the URL rule that matched (None: none did)."""
    verb = method if method in METHODS else "other"
    key = (route, verb, status)  # bounded: URL rules, seven methods, HTTP statuses
    children = _children.get(key)
    if children is None:  # once per label set: labels() takes a lock and builds the key
        c = _get()
        label = route or UNMATCHED
        children = _children[key] = (c.requests.labels(label, verb, str(status)), c.latency.labels(label, verb))
    children[0].inc()
    children[1].observe(seconds)


def verdict(verdict: str, form: str | None) -> None:
    """One verification report: its verdict (valid, invalid, revoked, ...) and the badge's form
    (json, jwt, png, svg, or presentation for a stacked badge sent with its components)."""
    _get().verdicts.labels(verdict, form or "unread").inc()


def cache_hit(name: str, n: int = 1) -> None:
    if n:
        _get().cache.labels(name, "hit").inc(n)


def cache_miss(name: str, n: int = 1) -> None:
    if n:
        _get().cache.labels(name, "miss").inc(n)


def render(scrape_time: Callable[[], Iterable[Any]]) -> tuple[bytes, str]:
    """The exposition (body, content type): every counter, summed over the gunicorn workers when
    there are several, then the metric families ``scrape_time()`` computes now."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    c = _get()
    registry = CollectorRegistry(auto_describe=False)
    if c.multiprocess:
        MultiProcessCollector(registry)
    else:
        registry.register(c.registry)  # a registry is a collector of its metrics
    registry.register(_Now(scrape_time))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Now:
    """A collector of families computed at each scrape."""

    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self.collect = collect


_seen: dict[tuple[str, int], tuple[int, int]] = {}


def cache_totals(name: str, owner: object, hits: int, misses: int) -> None:
    """Record a cache that keeps its own running totals (``owner``'s ``hits`` and ``misses``):
    what they grew by since the last call for that owner."""
    key = (name, id(owner))
    with _lock:
        h0, m0 = _seen.get(key, (0, 0))
        if (hits, misses) == (h0, m0):
            return
        _seen[key] = (hits, misses)
    cache_hit(name, hits - h0 if hits >= h0 else hits)
    cache_miss(name, misses - m0 if misses >= m0 else misses)


def cache_stats(owner: object, stats: dict[str, dict[str, int]]) -> None:
    """Record caches that keep their own statistics (``{name: {"hits", "misses", "bytes",
    "entries", "budget"}}``, as :meth:`anchor.api.service.Service.cache_stats` gives them)."""
    c = _get()
    for name, st in stats.items():
        cache_totals(name, owner, int(st.get("hits", 0)), int(st.get("misses", 0)))
        if "bytes" in st:
            c.cache_bytes.labels(name).set(st["bytes"])
        if "entries" in st:
            c.cache_entries.labels(name).set(st["entries"])
        if "budget" in st:
            c.cache_budget.labels(name).set(st["budget"])

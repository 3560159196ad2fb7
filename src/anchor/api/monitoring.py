"""``GET /metrics``: Prometheus text exposition of the service.

The counters (requests and latency per URL rule, verdicts, cache lookups) come from
:mod:`anchor.api.metrics`, summed over the gunicorn workers. The gauges are computed at each
scrape by the worker answering it, so they are never stale and never cached:

* ``anchor_chain_up``: 1 when the chain answered the scrape's one read (the latest block), else 0;
  the other chain gauges are then left out rather than guessed.
* ``anchor_chain_head_block``, ``anchor_chain_head_age_seconds``: the node's latest block and how
  long ago its timestamp was (a stalled node or sequencer shows as a growing age).
* ``anchor_chain_cached_head_lag_blocks``: how many blocks the head this worker last synced its
  registry cache to is behind the node's latest.
* ``anchor_database_up`` and ``anchor_anchoring_queue_credentials{state}``: credentials issued but
  not anchored yet, ``unbatched`` (in no batch) or ``in_flight`` (batched, not confirmed).

A dependency that is down costs the scrape its own gauges, never the answer: /metrics is 200
whenever the process can answer at all.

The gauges' reads (one chain call, two database queries) are made at most once per
:data:`SCRAPE_TTL` per worker; scrapes in between reuse them. /metrics answers anyone, and its
RPC is the one every verification shares: a flood of scrapes must not become a flood of RPC
calls (a hosted RPC would rate-limit the verifications too) or of database queries.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app

from anchor.api import metrics
from anchor.api.credentials import service
from anchor.api.openapi import operation
from anchor.api.problems import redact
from anchor.api.service import Service
from anchor.core.errors import AnchorError

bp = Blueprint("monitoring", __name__)


def _gauge(name: str, documentation: str, value: float, labels: dict[str, str] | None = None) -> Any:
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(name, documentation, labels=list(labels) if labels else None)
    family.add_metric(list(labels.values()) if labels else [], value)
    return family


def _log(dependency: str, e: AnchorError) -> None:
    current_app.logger.warning("metrics: %s not read: %s: %s", dependency, type(e).__name__, redact(e.message))


CACHE_SYNC_SECONDS = 1.0  # how stale another worker's cache figures in a scrape may be
_synced = [0.0]


def sync_caches(svc: Service, *, now: bool = False) -> None:
    """Copy the service's own cache statistics (and the chain reader's) into the metrics, at most
    once a second per worker (``now``: at once, before a scrape this worker answers)."""
    t = time.monotonic()
    if not now and t - _synced[0] < CACHE_SYNC_SECONDS:
        return
    _synced[0] = t
    stats = svc.cache_stats()
    cache = svc.view.cache
    if cache is not None:
        stats["chain"] = {"hits": cache.hits, "misses": cache.misses}
    metrics.cache_stats(svc, stats)


SCRAPE_TTL = 1.0  # seconds a worker reuses its gauges' reads (Prometheus scrapes every 15 s or so)
_scraped: weakref.WeakKeyDictionary[Service, tuple[float, list[Any]]] = weakref.WeakKeyDictionary()


def scrape_time(svc: Service) -> Iterator[Any]:
    """The gauges, read at most once per :data:`SCRAPE_TTL` (see the module doc)."""
    now = time.monotonic()
    last = _scraped.get(svc)
    if last is not None and now - last[0] < SCRAPE_TTL:
        yield from last[1]
        return
    families = list(_read_gauges(svc))
    _scraped[svc] = (now, families)
    yield from families


def _read_gauges(svc: Service) -> Iterator[Any]:
    """The gauges of this moment; what cannot be read is reported as down, not raised."""
    view = svc.view
    try:
        latest = view.chain.block("latest")
    except AnchorError as e:
        _log("chain", e)
        yield _gauge("anchor_chain_up", "1 when the chain answered this scrape, else 0", 0)
    else:
        yield _gauge("anchor_chain_up", "1 when the chain answered this scrape, else 0", 1)
        yield _gauge("anchor_chain_head_block", "The chain's latest block number", latest.number)
        yield _gauge("anchor_chain_head_age_seconds", "Seconds since the timestamp of the chain's latest block",
                     max(0.0, time.time() - latest.time))
        synced = view.cache.synced if view.cache is not None else None
        if synced is not None:
            yield _gauge("anchor_chain_cached_head_lag_blocks", "Blocks the head this worker's registry cache is synced "
                         "to is behind the chain's latest block", max(0, latest.number - synced.number))
    if svc.config.database_url is None:
        return
    try:
        unbatched, in_flight = svc.store.anchoring_queue()
    except AnchorError as e:
        _log("database", e)
        yield _gauge("anchor_database_up", "1 when the issuer database answered this scrape, else 0", 0)
        return
    yield _gauge("anchor_database_up", "1 when the issuer database answered this scrape, else 0", 1)
    from prometheus_client.core import GaugeMetricFamily

    queue = GaugeMetricFamily("anchor_anchoring_queue_credentials", "Credentials issued but not anchored yet: in no batch "
                              "(unbatched) or in a batch not confirmed yet (in_flight)", labels=["state"])
    queue.add_metric(["unbatched"], unbatched)
    queue.add_metric(["in_flight"], in_flight)
    yield queue


@bp.get("/metrics")
@operation(
    summary="Prometheus metrics: requests, verdicts, cache lookups, chain head lag, anchoring queue",
    tag="meta",
    description="Prometheus text exposition format, computed at each scrape (never cached). Counters are summed over "
                "the service's worker processes; `anchor_chain_up` is 0 when the chain cannot be read, and the scrape "
                "still answers 200.",
    responses={200: ("Prometheus text exposition", {"type": "string"}, ("text/plain",))},
)
def metrics_view() -> Response:
    svc = service()
    sync_caches(svc, now=True)
    body, content_type = metrics.render(lambda: scrape_time(svc))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

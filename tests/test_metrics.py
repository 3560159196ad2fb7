"""GET /metrics: counters per URL rule and status, verdicts, cache lookups, chain head lag and the
anchoring queue; bounded label sets; summed over gunicorn workers; answered with the chain down."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from anchor.api import create_app, monitoring
from anchor.api.service import ServiceConfig
from anchor.app.issuing import issue_credentials
from anchor.chain.anvil import DevChain, free_port
from anchor.chain.node import Chain
from anchor.cli import serving
from anchor.config import Settings
from anchor.core.roster import parse_roster
from tests.api_support import DEAD_RPC, REGISTRY
from tests.world import World, achievement, make_world

pytestmark = pytest.mark.chain

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for n, labels in samples if n == name]


@pytest.fixture(scope="module")
def world(anvil: DevChain, tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(Chain(anvil.rpc_url), tmp_path_factory.mktemp("metrics"), n=3)
    row = w.store.issuer(w.issuer.address)
    assert row is not None
    issue_credentials(w.store, row, achievement(), parse_roster("name,email\nNot Anchored,late@example.org\n"))
    return w


@pytest.fixture(scope="module")
def app(world: World, anvil: DevChain) -> Flask:
    return create_app(ServiceConfig(rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url,
                                    head_ttl=0.2))


def scrape(app: Flask) -> Samples:
    r = app.test_client().get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain", r.data[:300]
    assert r.headers["Cache-Control"] == "no-store"
    return parse(r.get_data(as_text=True))


def tampered(world: World) -> dict[str, object]:
    badge = world.badge(0)
    badge["credentialSubject"]["achievement"]["name"] = "Something Else"  # type: ignore[index]
    return badge


def test_requests_are_counted_per_url_rule_and_status(app: Flask, world: World) -> None:
    client = app.test_client()
    before = scrape(app)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    for badge in world.badges[:2]:
        assert client.get(f"/api/v1/credentials/{badge['id']}/proof").status_code == 200
    assert client.get("/api/v1/credentials/urn:uuid:00000000-0000-4000-8000-000000000000/proof").status_code == 404
    after = scrape(app)
    rule = "/api/v1/credentials/<credential_id>/proof"
    assert rule in {s["route"] for s in series(after, "anchor_http_requests_total")}, series(after, "anchor_http_requests_total")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("anchor_http_requests_total", route="/healthz", method="GET", status="200") == 3
    assert grew("anchor_http_requests_total", route=rule, method="GET", status="200") == 2
    assert grew("anchor_http_requests_total", route=rule, method="GET", status="404") == 1
    assert grew("anchor_http_request_duration_seconds_count", route=rule, method="GET") == 3
    assert grew("anchor_http_request_duration_seconds_bucket", route=rule, method="GET", le="+Inf") == 3
    assert grew("anchor_http_requests_total", route="/metrics", method="GET", status="200") == 1  # the first scrape


def test_the_verdict_counter_counts_a_valid_and_an_invalid_badge(app: Flask, world: World) -> None:
    client = app.test_client()
    before = scrape(app)
    assert client.post("/api/v1/verify", json=world.badge(1)).json["verdict"] == "valid"  # type: ignore[index]
    assert client.post("/api/v1/verify", json=tampered(world)).json["verdict"] == "invalid"  # type: ignore[index]
    after = scrape(app)
    for verdict in ("valid", "invalid"):
        labels = {"verdict": verdict, "form": "json"}
        assert value(after, "anchor_verifications_total", **labels) - value(before, "anchor_verifications_total", **labels) == 1
    lookups = sum(v for (n, labels), v in after.items() if n == "anchor_cache_lookups_total" and ("cache", "chain") in labels)
    assert lookups > 0  # the verifier's chain reads go through the registry cache


def test_cache_lookups_are_counted_as_hits_and_misses(app: Flask, world: World) -> None:
    client = app.test_client()
    badge = world.badges[2]
    before = scrape(app)
    for _ in range(3):
        assert client.get(f"/api/v1/credentials/{badge['id']}/proof").status_code == 200
    after = scrape(app)
    hits = {dict(labels)["cache"]: v - before.get((n, labels), 0.0) for (n, labels), v in after.items()
            if n == "anchor_cache_lookups_total" and ("result", "hit") in labels}
    assert hits.get("proofs", 0) >= 2, hits  # the first answer is rendered, the next two are served from memory
    assert value(after, "anchor_cache_entries", cache="proofs") >= 1


def test_unknown_paths_do_not_create_label_sets(app: Flask) -> None:
    """200 distinct paths no route serves add at most a few series (the route label is the URL
    rule, or "unmatched"), never one per path."""
    client = app.test_client()
    scrape(app)
    before = scrape(app)
    for i in range(100):
        assert client.get(f"/no/such/path/{i}").status_code == 404
        assert client.get(f"/api/v1/credentials/x{i}/nope").status_code == 404
    after = scrape(app)
    for name in ("anchor_http_requests_total", "anchor_http_request_duration_seconds_count"):
        assert len(series(after, name)) - len(series(before, name)) <= 2, series(after, name)
    routes = {s["route"] for s in series(after, "anchor_http_requests_total")}
    assert not any("no/such" in r or "x1" in r for r in routes), routes
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, "anchor_http_requests_total", **unmatched) - value(before, "anchor_http_requests_total", **unmatched) >= 100


def test_chain_head_lag_and_the_anchoring_queue_are_read_at_scrape_time(app: Flask, anvil: DevChain) -> None:
    samples = scrape(app)
    assert value(samples, "anchor_chain_up") == 1
    head = Chain(anvil.rpc_url).block_number()
    assert value(samples, "anchor_chain_head_block") in (head, head - 1)  # (a block may have been mined since)
    assert 0 <= value(samples, "anchor_chain_head_age_seconds") < 3600
    assert value(samples, "anchor_chain_cached_head_lag_blocks") >= 0
    assert value(samples, "anchor_database_up") == 1
    assert value(samples, "anchor_anchoring_queue_credentials", state="unbatched") == 1  # the one issued, not anchored
    assert value(samples, "anchor_anchoring_queue_credentials", state="in_flight") == 0
    Chain(anvil.rpc_url).dev_rpc("evm_mine")
    time.sleep(monitoring.SCRAPE_TTL)  # a flood of scrapes reuses one read a second (tests/test_review_r3.py)
    assert value(scrape(app), "anchor_chain_head_block") >= head + 1  # read again after that


def test_a_scrape_with_the_chain_and_database_down_still_answers(tmp_path: Path) -> None:
    app = create_app(ServiceConfig(rpc_url=DEAD_RPC, registry=REGISTRY, database_url=f"sqlite:///{tmp_path / 'none.db'}"))
    samples = scrape(app)
    assert value(samples, "anchor_chain_up") == 0 and value(samples, "anchor_database_up") == 0
    names = {n for n, _ in samples}
    assert not names & {"anchor_chain_head_block", "anchor_chain_head_age_seconds", "anchor_anchoring_queue_credentials"}
    assert "anchor_http_requests_total" in names


@contextmanager
def served(world: World, anvil: DevChain, home: Path, bind: str) -> Iterator[str]:
    """``anchor serve --detach`` with 2 sync workers on ``bind``."""
    settings = Settings(home=home, rpc_url=anvil.rpc_url, registry=world.registry.address, database_url=world.db_url)
    url = serving.start_detached(settings, world.registry.address, bind=bind, workers=2, threads=1)
    try:
        yield url
    finally:
        serving.stop(settings)


def test_counts_are_summed_over_two_gunicorn_workers(world: World, anvil: DevChain, tmp_path: Path) -> None:
    home, bind = tmp_path / "home", f"127.0.0.1:{free_port()}"
    with served(world, anvil, home, bind) as url:
        files = home / "service" / "metrics"
        before = parse(requests.get(url + "/metrics", timeout=10).text)  # (start_detached asked /healthz already)
        sent = 0
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            deadline = time.monotonic() + 30
            # Until both workers have answered some (each keeps its counters in its own file).
            while len(list(files.glob("*/counter_*.db"))) < 2 or sent < 20:
                assert time.monotonic() < deadline, list(files.iterdir())
                codes = list(pool.map(lambda _: requests.get(url + "/healthz", timeout=10).status_code, range(8)))
                assert codes == [200] * 8
                sent += 8
        assert requests.post(url + "/api/v1/verify", json=world.badge(0), timeout=10).json()["verdict"] == "valid"
        assert requests.post(url + "/api/v1/verify", json=tampered(world), timeout=10).json()["verdict"] == "invalid"
        r = requests.get(url + "/metrics", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
        samples = parse(r.text)
        for name, labels in (("anchor_http_requests_total", {"status": "200"}), ("anchor_http_request_duration_seconds_count", {})):
            labels.update(route="/healthz", method="GET")
            assert value(samples, name, **labels) - value(before, name, **labels) == sent, name
        assert value(samples, "anchor_verifications_total", verdict="valid", form="json") == 1
        assert value(samples, "anchor_verifications_total", verdict="invalid", form="json") == 1
        assert value(samples, "anchor_chain_up") == 1
        assert len(list(files.glob("*/counter_*.db"))) >= 2
        assert list(files.glob("*/gauge_livesum_*.db"))  # the cache gauges, one file per live worker
    assert not list(files.glob("*/gauge_livesum_*.db"))  # the workers exited: their gauges are gone (child_exit)
    # A new run in the same home, on the same address, starts from zero: nothing of the last run is summed in.
    with served(world, anvil, home, bind) as url:
        samples = parse(requests.get(url + "/metrics", timeout=10).text)
        assert 1 <= value(samples, "anchor_http_requests_total", route="/healthz", method="GET", status="200") < sent
        assert value(samples, "anchor_verifications_total", verdict="valid", form="json") == 0

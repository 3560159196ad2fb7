"""A registry with two issuers, the first's database holding stacked badges (issue 12), for the
HTTP tests: ada's stack over SQL + Python (both valid), dan's stack whose Python component was
revoked after stacking, cat's revoked Python (revoked before stacking: no stack), and eve's stack
over Uni's SQL + Other's Viz (a component this database does not hold)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchor.api import create_app
from anchor.api.service import ServiceConfig
from anchor.app.stacking import stack_pathway
from anchor.app.verifying import Verifier, VerifyOptions
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.core.pathway import parse_pathway
from tests.test_stacking import OTHER, UNI, Org, pathway_text, presented, raw_achievement
from tests.world import live_server

STACK = UNI + "analyst"
CROSS = UNI + "analyst-x"


@dataclass
class StackWorld:
    uni: Org
    other: Org
    registry: Registry
    badges: dict[tuple[str, str], dict[str, Any]]  # (holder, achievement id) → exported badge

    @property
    def db_url(self) -> str:
        return self.uni.store.url

    def badge(self, holder: str, key: str) -> dict[str, Any]:
        return self.badges[(holder, {"analyst": STACK, "analyst-x": CROSS, "viz": OTHER + "viz"}.get(key, UNI + key))]


def make_stack_world(chain: Chain, rpc_url: str, tmp: Path) -> StackWorld:
    admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, admin)
    uni = Org(chain, registry, admin, dev_signer(1), "Uni", tmp)
    verifier = Verifier(lambda a: RegistryReader.connect(rpc_url, a, head_ttl=0), VerifyOptions(registry=registry.address))
    other = Org(chain, registry, admin, dev_signer(2), "Other", tmp)
    holders = ["ada@example.org", "cat@example.org", "dan@example.org"]
    uni.issue(raw_achievement(UNI + "sql", "SQL"), [*holders, "eve@example.org"])
    uni.issue(raw_achievement(UNI + "python", "Python"), holders)
    uni.anchor()
    uni.revoke(uni.badges()[("cat", UNI + "python")]["id"])
    pathway = parse_pathway(pathway_text(STACK, [(UNI + "sql", None), (UNI + "python", None)]))
    run = stack_pathway(uni.store, uni.row, pathway, verifier, sign=uni.sign())
    assert run.created == 2, run
    other.issue(raw_achievement(OTHER + "viz", "Viz"), ["eve@example.org"])
    other.anchor()
    viz = other.badges()
    cross = parse_pathway(pathway_text(CROSS, [(UNI + "sql", None), (OTHER + "viz", other.did)]))
    run = stack_pathway(uni.store, uni.row, cross, verifier, sign=uni.sign(), evidence=[("eve-viz.json", presented(viz[("eve", OTHER + "viz")]))])
    assert run.created == 1, run
    uni.anchor()
    badges = {**uni.badges(), **viz}
    uni.revoke(badges[("dan", UNI + "python")]["id"])  # after stacking
    return StackWorld(uni, other, registry, badges)


@contextmanager
def served(world: StackWorld, rpc_url: str) -> Iterator[str]:
    """The verification service over ``world``'s registry and the first issuer's database, live
    over HTTP; yields its base URL."""
    app = create_app(ServiceConfig(rpc_url=rpc_url, registry=world.registry.address, database_url=world.db_url, head_ttl=0.1))
    with live_server(app) as base:
        time.sleep(0.2)  # past the head cache
        yield base

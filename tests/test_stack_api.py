"""``POST /api/v1/verify`` with a stacked badge and its components as a VerifiablePresentation
(issue 12): the stack report with a headline, over real HTTP (real Anvil, real SQLite)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from tests.stack_world import StackWorld, make_stack_world, served

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(anvil: DevChain, chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> StackWorld:
    return make_stack_world(chain, anvil.rpc_url, tmp_path_factory.mktemp("stack-api"))


@pytest.fixture(scope="module")
def url(world: StackWorld, anvil: DevChain) -> Iterator[str]:
    with served(world, anvil.rpc_url) as base:
        yield base


def vp(*credentials: dict[str, Any]) -> dict[str, Any]:
    return {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation"],
            "verifiableCredential": list(credentials)}


def post(url: str, body: Any) -> requests.Response:
    return requests.post(f"{url}/api/v1/verify", data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=30)


def test_a_stack_with_its_components_is_verified_down_to_each(world: StackWorld, url: str) -> None:
    stack, sql, py = world.badge("ada", "analyst"), world.badge("ada", "sql"), world.badge("ada", "python")
    started = time.perf_counter()
    r = post(url, vp(stack, sql, py))
    print(f"TIMING | POST /api/v1/verify, a stack + 2 components | {time.perf_counter() - started:.3f} s")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["verdict"], body["reason"]) == ("valid", None)
    assert body["stack"]["credentialId"] == stack["id"] and body["stack"]["verdict"] == "valid"
    assert [(c["id"], c["status"], c["verdict"]) for c in body["components"]] == [(sql["id"], "ok", "valid"), (py["id"], "ok", "valid")]
    assert body["headline"].startswith("Verified: issued by Uni on ") and body["headline"].endswith("; 2 of 2 components verified")
    assert body["stack"]["headline"].startswith("Verified: ") and body["components"][0]["report"]["headline"].startswith("Verified: ")
    # The order in the presentation does not matter: the stack is the one naming the others.
    assert post(url, vp(py, stack, sql)).json()["stack"]["credentialId"] == stack["id"]


def test_a_component_revoked_after_stacking_makes_the_stack_revoked(world: StackWorld, url: str) -> None:
    stack, sql, py = world.badge("dan", "analyst"), world.badge("dan", "sql"), world.badge("dan", "python")
    body = post(url, vp(stack, sql, py)).json()
    assert (body["verdict"], body["reason"]) == ("revoked", "component_revoked")
    assert body["stack"]["verdict"] == "valid"
    assert body["headline"].startswith("A component was revoked: Python — revoked on "), body["headline"]
    assert py["id"] in body["summary"]


def test_missing_altered_and_alone(world: StackWorld, url: str) -> None:
    stack, sql, py = world.badge("ada", "analyst"), world.badge("ada", "sql"), world.badge("ada", "python")
    missing = post(url, vp(stack, sql)).json()
    assert (missing["verdict"], missing["reason"]) == ("invalid", "component_missing")
    assert missing["headline"] == "A component is missing: Python — it was not presented"
    tampered = copy.deepcopy(py)
    tampered["credentialSubject"]["achievement"]["name"] = "Python (advanced)"
    altered = post(url, vp(stack, sql, tampered)).json()
    assert (altered["verdict"], altered["reason"]) == ("invalid", "component_altered")
    dans = world.badge("dan", "sql")  # another holder's component under ada's id
    swapped = post(url, vp(stack, {**dans, "id": sql["id"]}, py)).json()
    assert (swapped["verdict"], swapped["reason"]) == ("invalid", "component_altered")
    alone = post(url, vp(stack)).json()
    assert alone["verdict"] == "valid" and alone["components"] == [] and "depends on 2 component(s)" in alone["notes"][0]
    assert alone["headline"].endswith("stack alone: its 2 component(s) were not checked")


def test_presentations_that_are_not_stacks(world: StackWorld, url: str) -> None:
    sql = world.badge("ada", "sql")
    one = post(url, vp(sql)).json()  # a single ordinary credential: its ordinary report
    assert one["verdict"] == "valid" and one["credentialId"] == sql["id"] and "checks" in one
    r = post(url, vp(sql, world.badge("ada", "python")))
    assert r.status_code == 422 and r.json()["reason"] == "no_stacked_credential"
    r = post(url, vp())
    assert r.status_code == 422 and r.json()["reason"] == "empty_presentation"
    # A credential merely mentioning the word is still a credential.
    plain = post(url, {**sql, "description": "not a VerifiablePresentation"}).json()
    assert plain["verdict"] == "invalid" and "checks" in plain


def test_a_stack_across_issuers_is_verified_with_the_other_issuers_component(world: StackWorld, url: str) -> None:
    stack, sql, viz = world.badge("eve", "analyst-x"), world.badge("eve", "sql"), world.badge("eve", "viz")
    body = post(url, vp(stack, viz, sql)).json()
    assert (body["verdict"], [c["status"] for c in body["components"]]) == ("valid", ["ok", "ok"])
    assert body["components"][1]["report"]["headline"].startswith("Verified: issued by Other on ")

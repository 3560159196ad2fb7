"""The credential page of a stacked badge (issue 12), over real HTTP (real Anvil, real SQLite): the
pathway (components earned of required), each component's own verdict and a link to its page,
and a component revoked after stacking said first in the banner."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from anchor.api.pages import ADVICE, COMPONENT_ADVICE
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from tests.stack_world import StackWorld, make_stack_world, served
from tests.test_pages import Page

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(anvil: DevChain, chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> StackWorld:
    return make_stack_world(chain, anvil.rpc_url, tmp_path_factory.mktemp("stack-pages"))


@pytest.fixture(scope="module")
def url(world: StackWorld, anvil: DevChain) -> Iterator[str]:
    with served(world, anvil.rpc_url) as base:
        yield base


def uuid(cid: str) -> str:
    return cid.removeprefix("urn:uuid:")


def html(url: str, cid: str) -> Page:
    r = requests.get(f"{url}/credentials/{uuid(cid)}", headers={"Accept": "text/html"}, timeout=30)
    assert r.status_code == 200, r.text
    return Page(r.text)


def data(url: str, cid: str) -> dict:  # type: ignore[type-arg]
    r = requests.get(f"{url}/credentials/{uuid(cid)}", headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_stack_page_shows_its_pathway_each_component_verified_and_linked(world: StackWorld, url: str) -> None:
    stack, sql, py = world.badge("ada", "analyst"), world.badge("ada", "sql"), world.badge("ada", "python")
    started = time.perf_counter()
    page = html(url, stack["id"])
    print(f"TIMING | GET a stack's page (the stack and its 2 components verified on chain) | {time.perf_counter() - started:.3f} s")
    assert page.by_id["verdict"]["data-verdict"] == "valid"
    assert page.by_id["verdict-headline"]["text"].startswith("✓ Verified: issued by Uni on ")
    assert page.by_id["verdict-headline"]["text"].endswith("; 2 of 2 components verified")
    assert page.by_id["pathway-title"]["text"] == "Components: 2 earned of 2 required"
    for n, part in enumerate((sql, py), 1):
        li = page.by_id[f"component-{n}"]
        assert (li["data-component"], li["data-status"]) == (part["id"], "ok")
        assert li["text"].startswith(f"{part['credentialSubject']['achievement']['name']} earned Verified: issued by Uni on ")
    links = [a["href"] for tag, a in page.tags if tag == "a" and str(a.get("href", "")).endswith(tuple(uuid(p["id"]) for p in (sql, py)))]
    assert [str(h).rsplit("/", 1)[1] for h in links] == [uuid(sql["id"]), uuid(py["id"])]
    # The link leads to the component's own page, which is an ordinary one (no pathway).
    component = data(url, sql["id"])
    assert component["status"] == "valid" and component["pathway"] is None
    assert "pathway" not in html(url, sql["id"]).by_id
    body = data(url, stack["id"])
    assert (body["pathway"]["earned"], body["pathway"]["required"], body["pathway"]["verdict"]) == (2, 2, "valid")
    assert [c["verdict"] for c in body["pathway"]["components"]] == ["valid", "valid"]


def test_a_component_revoked_after_stacking_comes_first_in_the_banner(world: StackWorld, url: str) -> None:
    stack, py = world.badge("dan", "analyst"), world.badge("dan", "python")
    page = html(url, stack["id"])
    assert page.by_id["verdict"]["data-verdict"] == "revoked"
    headline = page.by_id["verdict-headline"]["text"]
    assert headline.startswith("✗ A component was revoked: Python — revoked on "), headline
    assert page.by_id["verdict-advice"]["text"] == COMPONENT_ADVICE != ADVICE["revoked"]
    assert page.by_id["pathway-title"]["text"] == "Components: 1 earned of 2 required"
    li = page.by_id["component-2"]
    assert (li["data-component"], li["data-status"]) == (py["id"], "component_revoked")
    assert li["text"].startswith("Python revoked Revoked on ")
    assert "linkedin" not in page.by_id  # a stack that does not hold is not offered for a profile
    body = data(url, stack["id"])
    assert body["status"] == "revoked" and body["verification"]["verdict"] == "valid"  # the stack itself still is
    assert (body["pathway"]["reason"], body["pathway"]["earned"]) == ("component_revoked", 1)
    assert body["pathway"]["problem"].startswith("A component was revoked: Python")
    # The revoked component's own page says it too.
    assert data(url, py["id"])["status"] == "revoked"


def test_a_component_from_another_issuer_is_listed_not_checked_here(world: StackWorld, url: str) -> None:
    stack, sql, viz = world.badge("eve", "analyst-x"), world.badge("eve", "sql"), world.badge("eve", "viz")
    page = html(url, stack["id"])
    assert page.by_id["verdict"]["data-verdict"] == "valid"
    assert page.by_id["verdict-headline"]["text"].endswith("; 1 of 2 components verified")
    assert page.by_id["pathway-title"]["text"] == "Components: 1 earned of 2 required"
    assert (page.by_id["component-1"]["data-component"], page.by_id["component-1"]["data-status"]) == (sql["id"], "ok")
    foreign = page.by_id["component-2"]
    assert (foreign["data-component"], foreign["data-status"]) == (viz["id"], "not_held")
    assert foreign["text"] == "Viz held elsewhere: not checked here"
    assert not any(tag == "a" and str(a.get("href", "")).endswith(uuid(viz["id"])) for tag, a in page.tags)  # no page here to link

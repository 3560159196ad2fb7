"""Template quads kept on disk (anchor.schemas.template_cache): a new process that meets a known
template verifies without importing pyld, the canonical N-Quads it then computes are the general
path's, a damaged entry is ignored and rewritten, and any change of what the quads depend on is
a miss."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from anchor.chain.node import Chain
from anchor.core import jsonld
from anchor.core.credential import CREDENTIAL_SLOTS
from anchor.core.dataintegrity import PROOF_CONFIG_SLOTS, create_proof, proof_options, verify_proof
from anchor.core.ed25519 import SigningKey, did_key
from anchor.core.jsonld import Canonicalizer
from anchor.schemas import template_cache
from anchor.schemas.template_cache import TemplateQuadsCache, machine_cache
from tests.test_dataintegrity import anchor_credential
from tests.test_rdfc import ANCHOR_SLOTS, credentials, reference
from tests.world import make_world

KEY = SigningKey.from_seed(bytes(range(32)))
DID = did_key(KEY.public_key)
VM = f"{DID}#{KEY.public_multibase}"
CREATED = "2026-01-15T09:30:00Z"
ROOT = Path(__file__).resolve().parents[1]


def badge(i: int = 1, name: str = 'Ada "Lovelace"\n😀') -> dict[str, Any]:
    """A signed credential shaped like anchor's (the credential factory's slots)."""
    doc = anchor_credential(i, name)
    return dict(doc, proof=create_proof(doc, KEY, VM, CREATED))


def tampered(signed: dict[str, Any]) -> dict[str, Any]:
    """The same template (only a slot value differs), so it is answered from the same entry."""
    out: dict[str, Any] = json.loads(json.dumps(signed))
    out["credentialSubject"]["identifier"][1]["identityHash"] = "Eve"
    return out


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob(template_cache.PREFIX + "*" + template_cache.SUFFIX))


def canonicalizer(directory: Path, **cache_options: Any) -> tuple[Canonicalizer, TemplateQuadsCache]:
    """A fresh canonicalizer and a fresh cache object on ``directory``: what a new process has."""
    store = TemplateQuadsCache(directory, **cache_options)
    return Canonicalizer(CREDENTIAL_SLOTS, quads_store=store), store


# ----------------------------------------------------------------------------- (a) no pyld on a hit

PROBE = """
import json, sys
from anchor.core.signature import check_signature
from anchor.schemas.template_cache import machine_cache
results = []
for path in sys.argv[1:]:
    credential = json.loads(open(path, "rb").read())
    claim = check_signature(credential, credential["issuer"]["id"])
    results.append([claim.ok, claim.reason])
print(json.dumps({"results": results, "pyld": sorted(m for m in sys.modules if m == "pyld" or m.startswith("pyld.")),
                  "stats": machine_cache().stats}))
"""


def probe(cache: Path, *badges: Path) -> dict[str, Any]:
    env = {**os.environ, "ANCHOR_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, badges)], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_fresh_process_with_the_template_on_disk_verifies_without_pyld(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(badge(1)))
    bad.write_text(json.dumps(tampered(badge(1))))
    cache = tmp_path / "cache"
    first = probe(cache, good)  # nothing on disk: pyld converts the two templates (document, proof config)
    assert first["results"] == [[True, None]]
    assert "pyld" in first["pyld"]
    assert first["stats"] == {"hit": 0, "miss": 2, "bad": 0, "written": 2}
    assert len(entries(cache)) == 2
    again = probe(cache, good, bad)
    assert again["results"] == [[True, None], [False, "bad_signature"]]  # the hit path still tells them apart
    assert again["pyld"] == [], f"a cache hit imported {again['pyld']}"
    assert again["stats"] == {"hit": 2, "miss": 0, "bad": 0, "written": 0}


CLI_PROBE = """
import sys
from anchor.cli.main import main
code = main(sys.argv[1:])
print("PYLD " + ",".join(sorted(m for m in sys.modules if m == "pyld" or m.startswith("pyld."))))
sys.exit(code)
"""


def test_anchor_verify_on_a_known_template_does_not_import_pyld(chain: Chain, tmp_path: Path) -> None:
    """The whole ``anchor verify`` of an anchored, signed, exported badge against Anvil."""
    world = make_world(chain, tmp_path, n=2)
    try:
        paths = sorted(world.out.glob("*.json"))
        env = {**os.environ, "ANCHOR_CACHE_DIR": str(tmp_path / "cache"), "ANCHOR_HOME": str(tmp_path / "home")}
        runs = []
        for path in (paths[0], paths[1]):  # a fresh process each; the second badge has the first's template
            done = subprocess.run([sys.executable, "-c", CLI_PROBE, "verify", str(path), "--rpc", chain.rpc_url,
                                   "--registry", world.registry.address, "--json"],
                                  capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
            assert done.returncode == 0, done.stdout + done.stderr
            report_text, _, loaded = done.stdout.rpartition("PYLD ")
            report = json.loads(report_text)
            assert report["verdict"] == "valid", report
            runs.append(loaded.strip())
        assert "pyld" in runs[0].split(",")
        assert runs[1] == "", f"anchor verify with the template on disk imported {runs[1]}"
    finally:
        world.store.close()


# ----------------------------------------------------------------------------- (b) hits equal the general path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials())
def test_a_hit_gives_the_general_paths_n_quads(doc: dict[str, Any]) -> None:
    expected = jsonld.to_nquads(doc)
    assert expected == reference(doc)  # the general path is pyld's
    config = dict(proof_options(VM, doc["validFrom"]), **{"@context": doc["@context"]})
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        writer = TemplateQuadsCache(directory)
        first = Canonicalizer(ANCHOR_SLOTS, quads_store=writer), Canonicalizer(PROOF_CONFIG_SLOTS, quads_store=writer)
        assert first[0].canonical_nquads(doc) == expected
        assert first[1].canonical_nquads(config) == jsonld.to_nquads(config)
        reader = TemplateQuadsCache(directory)  # a new process: nothing in memory, the entries on disk
        second = Canonicalizer(ANCHOR_SLOTS, quads_store=reader), Canonicalizer(PROOF_CONFIG_SLOTS, quads_store=reader)
        assert second[0].canonical_nquads(doc) == expected
        assert second[1].canonical_nquads(config) == jsonld.to_nquads(config)
        # every template pyld could convert was written once and read back; none was refused
        assert reader.stats == {"hit": writer.stats["written"], "miss": writer.stats["miss"] - writer.stats["written"], "bad": 0,
                                "written": 0}
        assert writer.stats["written"] >= 1  # the proof config's template at least


def test_a_hit_serves_every_recipient_of_the_template(tmp_path: Path) -> None:
    _, writer = canonicalizer(tmp_path)
    Canonicalizer(CREDENTIAL_SLOTS, quads_store=writer).canonical_nquads({k: v for k, v in badge(0).items() if k != "proof"})
    fresh, reader = canonicalizer(tmp_path)
    for i in range(1, 6):
        doc = {k: v for k, v in badge(i, name=f"Zoë {i} \t“x”").items() if k != "proof"}
        assert fresh.canonical_nquads(doc) == jsonld.to_nquads(doc)
    assert reader.stats == {"hit": 1, "miss": 0, "bad": 0, "written": 0}
    assert fresh.stats["templates"] == 1 and fresh.stats["general"] == 0


# ----------------------------------------------------------------------------- (c) damaged entries


def _rewrite_body(data: bytes, body: bytes, **header_changes: Any) -> bytes:
    """An entry with another body under a header that vouches for it (only the shape check is left)."""
    import hashlib

    header = json.loads(data.partition(b"\n")[0])
    header.update(size=len(body), sha256=hashlib.sha256(body).hexdigest(), **header_changes)
    return json.dumps(header).encode() + b"\n" + body


def _body(data: bytes) -> list[Any]:
    quads: list[Any] = json.loads(data.partition(b"\n")[2])
    return quads


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "garbage": lambda data: b"\x00\xff not json at all",
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "header only": lambda data: data.partition(b"\n")[0] + b"\n",
    "a changed quad": lambda data: data.replace(b"Data Analytics", b"Data Analytica", 1),
    "a dropped quad": lambda data: data.partition(b"\n")[0] + b"\n" + json.dumps(_body(data)[1:]).encode(),
    "not a list": lambda data: _rewrite_body(data, b'{"quads": []}'),
    "a three-term quad": lambda data: _rewrite_body(data, json.dumps([q[:3] for q in _body(data)]).encode()),
    "a number for a term": lambda data: _rewrite_body(data, json.dumps([[1, *q[1:]] for q in _body(data)]).encode()),
    "a predicate that is not an IRI": lambda data: _rewrite_body(data, json.dumps([[q[0], '"p"', *q[2:]] for q in _body(data)]).encode()),
    "another entry's key": lambda data: _rewrite_body(data, data.partition(b"\n")[2], key="0" * 64),
    "another format": lambda data: _rewrite_body(data, data.partition(b"\n")[2], format=template_cache.FORMAT + 1),
    "not UTF-8": lambda data: data.replace(b"Data Analytics", b"Data Analytics\xff", 1),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, damage: str) -> None:
    good = badge(1)
    writer, _ = canonicalizer(tmp_path)
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=writer)
    (entry,) = entries(tmp_path)  # the document's template (the proof config has the module's own canonicalizer)
    original = entry.read_bytes()
    entry.write_bytes(DAMAGE[damage](original))
    fresh, store = canonicalizer(tmp_path)
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=fresh)
    assert not verify_proof(tampered(good), good["proof"], KEY.public_key, canonicalizer=fresh)
    assert store.stats == {"hit": 0, "miss": 0, "bad": 1, "written": 1}
    assert entry.read_bytes() == original  # written again, as pyld gave it
    again, store = canonicalizer(tmp_path)
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=again)
    assert store.stats == {"hit": 1, "miss": 0, "bad": 0, "written": 0}


def test_an_unreadable_or_unwritable_cache_only_costs_the_conversion(tmp_path: Path) -> None:
    good = badge(1)
    blocked = tmp_path / "a file"
    blocked.write_text("not a directory")
    fresh, store = canonicalizer(blocked)
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=fresh)
    assert store.stats == {"hit": 0, "miss": 1, "bad": 0, "written": 0}
    # an entry that is a directory: read fails, the rename over it fails, the answer is still right
    writer, _ = canonicalizer(tmp_path / "cache")
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=writer)
    for entry in entries(tmp_path / "cache"):
        entry.unlink()
        entry.mkdir()
    fresh, store = canonicalizer(tmp_path / "cache")
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=fresh)
    assert not verify_proof(tampered(good), good["proof"], KEY.public_key, canonicalizer=fresh)
    assert store.stats["hit"] == 0 and store.stats["written"] == 0
    assert not list((tmp_path / "cache").glob(".*.tmp")), "a failed write left its temporary file"


# ----------------------------------------------------------------------------- (d) the key


def test_every_key_input_moves_the_key(tmp_path: Path) -> None:
    good = badge(1)
    writer, _ = canonicalizer(tmp_path)
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=writer)
    installed = template_cache.installed_pyld_version()
    assert installed is not None and installed.split(".")[0].isdigit()
    import importlib.metadata

    assert installed == importlib.metadata.version("pyld")  # read from pyld's own __about__, without importing it
    same, store = canonicalizer(tmp_path, pyld_version=installed)
    assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=same)
    assert store.stats == {"hit": 1, "miss": 0, "bad": 0, "written": 0}
    for options in ({"pyld_version": installed + ".post1"}, {"converter": "0" * 64}):
        other, store = canonicalizer(tmp_path, **options)
        assert verify_proof(good, good["proof"], KEY.public_key, canonicalizer=other)
        assert store.stats == {"hit": 0, "miss": 1, "bad": 0, "written": 1}, options
    assert len(entries(tmp_path)) == 3


def test_the_key_pins_the_template_bytes_and_the_served_contexts(tmp_path: Path) -> None:
    store = TemplateQuadsCache(tmp_path)
    doc = {k: v for k, v in badge(1).items() if k != "proof"}
    template = marshal.dumps(doc, 2)
    contexts = jsonld.DEFAULT_LOADER.fingerprint
    key = store.key(template, contexts)
    assert key is not None and key == TemplateQuadsCache(tmp_path).key(template, contexts)
    extra = jsonld.ContextLoader({"https://example.org/ctx": {"@context": {"x": "https://example.org/x"}}})
    assert extra.fingerprint != contexts
    changed = json.loads(json.dumps(doc))
    changed["credentialSubject"]["identifier"][0]["hashed"] = 1  # true and 1 are different templates
    others = {store.key(template, extra.fingerprint), store.key(marshal.dumps(changed, 2), contexts),
              TemplateQuadsCache(tmp_path, converter="x").key(template, contexts),
              TemplateQuadsCache(tmp_path, pyld_version="3.3.1").key(template, contexts)}
    assert key not in others and len(others) == 4
    # a loader serving other documents never reads this loader's entries
    mine = Canonicalizer(ANCHOR_SLOTS, quads_store=store)
    assert mine.canonical_nquads(doc) == jsonld.to_nquads(doc)
    theirs_store = TemplateQuadsCache(tmp_path)
    theirs = Canonicalizer(ANCHOR_SLOTS, loader=extra, quads_store=theirs_store)
    assert theirs.canonical_nquads(doc) == jsonld.to_nquads(doc)
    assert theirs_store.stats["hit"] == 0 and theirs_store.stats["written"] == 1


# ----------------------------------------------------------------------------- bounds and placement


def test_entries_are_bounded_in_number_and_size(tmp_path: Path) -> None:
    store = TemplateQuadsCache(tmp_path, max_entries=3)
    c = Canonicalizer(ANCHOR_SLOTS, quads_store=store)
    docs = [dict(badge(1), name=f"Course {i}") for i in range(5)]  # five templates
    for doc in docs:
        c.canonical_nquads({k: v for k, v in doc.items() if k != "proof"})
    assert store.stats["written"] == 5 and len(entries(tmp_path)) == 3
    tiny = TemplateQuadsCache(tmp_path / "tiny", max_entry_bytes=100)
    doc = {k: v for k, v in badge(1).items() if k != "proof"}
    assert Canonicalizer(ANCHOR_SLOTS, quads_store=tiny).canonical_nquads(doc) == jsonld.to_nquads(doc)
    assert tiny.stats["written"] == 0 and entries(tmp_path / "tiny") == []


def test_the_least_recently_used_entry_goes_first(tmp_path: Path) -> None:
    store = TemplateQuadsCache(tmp_path, max_entries=2)
    docs = [{k: v for k, v in dict(badge(1), name=f"Course {i}").items() if k != "proof"} for i in range(3)]
    Canonicalizer(ANCHOR_SLOTS, quads_store=store).canonical_nquads(docs[0])
    (first,) = entries(tmp_path)
    os.utime(first, ns=(10**9, 10**9))
    Canonicalizer(ANCHOR_SLOTS, quads_store=store).canonical_nquads(docs[1])
    (second,) = set(entries(tmp_path)) - {first}
    os.utime(second, ns=(2 * 10**9, 2 * 10**9))  # first is the older
    reader = TemplateQuadsCache(tmp_path, max_entries=2)
    Canonicalizer(ANCHOR_SLOTS, quads_store=reader).canonical_nquads(docs[0])  # a hit: docs[0]'s entry is now the newest
    assert reader.stats["hit"] == 1
    Canonicalizer(ANCHOR_SLOTS, quads_store=reader).canonical_nquads(docs[2])  # a third entry: the oldest goes
    kept = {p.name for p in entries(tmp_path)}
    assert len(kept) == 2 and second.name not in kept and first.name in kept


def test_the_machine_cache_is_the_validators_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from anchor.schemas.validator import cache_dir

    monkeypatch.setenv("ANCHOR_CACHE_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here" and machine_cache().directory == tmp_path / "here"
    assert machine_cache() is machine_cache()
    c = Canonicalizer(ANCHOR_SLOTS)  # the default store: the machine's
    doc = {k: v for k, v in badge(1).items() if k != "proof"}
    assert c.canonical_nquads(doc) == jsonld.to_nquads(doc)
    assert len(entries(tmp_path / "here")) == 1
    assert Canonicalizer(ANCHOR_SLOTS, quads_store=None).canonical_nquads(doc) == jsonld.to_nquads(doc)


# ----------------------------------------------------------------------------- line builders


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials())
def test_joined_and_generated_line_builders_give_the_same_text(doc: dict[str, Any]) -> None:
    """A template's first documents are joined part by part (no code generated for a one-shot
    verification); later ones by the generated builders: both are the general path's text."""
    from unittest import mock

    expected = jsonld.to_nquads(doc)
    joined = Canonicalizer(ANCHOR_SLOTS, quads_store=None)
    with mock.patch.object(jsonld, "_CODEGEN_AFTER", 10**9):
        assert joined.canonical_nquads(doc) == expected
    generated = Canonicalizer(ANCHOR_SLOTS, quads_store=None)
    with mock.patch.object(jsonld, "_CODEGEN_AFTER", 0):
        assert generated.canonical_nquads(doc) == expected
    for c in (joined, generated):
        assert c.stats["templates"] == 1


def test_a_template_switches_to_generated_builders_after_a_few_documents(tmp_path: Path) -> None:
    c, _ = canonicalizer(tmp_path)
    docs = [{k: v for k, v in badge(i, name=f"Zoë {i}").items() if k != "proof"} for i in range(jsonld._CODEGEN_AFTER + 4)]
    for doc in docs:
        assert c.canonical_nquads(doc) == jsonld.to_nquads(doc)
    assert c.stats["fast"] == len(docs) and c.stats["templates"] == 1
    ((_, tpl),) = c._cache.items()
    assert not isinstance(tpl.out_lines, jsonld._LazyLines) and not isinstance(tpl.dyn_lines, jsonld._LazyLines)
    fresh, _ = canonicalizer(tmp_path)
    fresh.canonical_nquads(docs[0])
    ((_, tpl),) = fresh._cache.items()
    assert isinstance(tpl.out_lines, jsonld._LazyLines)  # one document: nothing generated

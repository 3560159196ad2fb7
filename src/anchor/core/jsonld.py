"""JSON-LD documents to canonical N-Quads, offline and in safe mode, with a fast template path.

Two ways to the same text:

* :func:`to_nquads` (the general path): pyld expands the document and converts it to RDF,
  :mod:`anchor.core.rdfc` canonicalizes. ~ms per credential.
* :class:`Canonicalizer` (the template path): the per-recipient values (the *slots*) are
  replaced by sentinels, the general path runs once per template (cached in memory, and its
  quads on disk by :mod:`anchor.schemas.template_cache`, so a new process that meets a known
  template never imports pyld), and each document is then the template's quads with its values
  put back, canonicalized by precompiled RDFC-1.0 steps. ~tens of µs per credential. It falls
  back to the general path whenever it cannot be sure the answer is the same (property tests
  hold both to pyld byte for byte).

Contexts are served only from the pinned copies shipped in :mod:`anchor.schemas`, by exact URL;
anything else fails closed (InputError ``unknown_context``) and nothing is ever fetched.

| URL | file (sha256 prefix) | source |
|---|---|---|
| https://www.w3.org/ns/credentials/v2 | credentials_v2_context.jsonld (59955ced) | W3C, as served |
| https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json | ob_v3p0_context-3.0.3.json (ef2fa9c7) | 1EdTech/openbadges-specification@1af145ff ob_v3p0/ |
| https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json | ob_v3p0_context-3.0.2.json (00666ad0) | same |
| https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json | ob_v3p0_context-3.0.1.json (d582f356) | same |
| https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json | clr_v2p0_context-2.0.1.json (880f1902) | as served (openbadgeslib 4.6.3's pinned copy; the same JSON as 1EdTech's validator's) |
| https://purl.imsglobal.org/spec/ob/v3p0/extensions.json | ob_v3p0_extensions.json (87c06c81) | as served (openbadgeslib 4.6.3's pinned copy) |
| https://w3id.org/security/data-integrity/v2 | data_integrity_v2_context.jsonld (67f21e6e) | as served (openbadgeslib 4.6.3's pinned copy) |
| https://w3id.org/security/multikey/v1 | multikey_v1_context.jsonld (ba2c182d) | as served (openbadgeslib 4.6.3's pinned copy) |

(openbadgeslib pins a later revision of context-3.0.3.json that adds ``endorsementJwt`` and
``jti``; anchor ships the one in the 1EdTech repository and the workplace's standards. The two
give the same statements for every document that uses neither term.)

Safe mode: a proof covers the RDF statements, not the JSON, so a JSON member that produces no
statement would ride along unsigned. Every such case is an InputError: a term no pinned context
defines (``jsonld_dropped_term``), a relative or malformed IRI, a keyword-like id, a blank-node
predicate (``jsonld_dropped_statement``), ``null``, ``@index``/``@direction`` annotations, an
inline or nested ``@context`` (``jsonld_inline_context``; except a nested list of contexts the
top level already lists in the same order: an embedded credential's, as a CLR carries them). The canonical text must also be the
same under pyld and jsonld.js (``rdf_not_portable``, see :mod:`anchor.core.rdfc`).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Protocol

from anchor.core import rdfc
from anchor.core.errors import InputError
from anchor.core.rdfc import Quad

PINNED_CONTEXTS: Mapping[str, str] = {
    "https://www.w3.org/ns/credentials/v2": "credentials_v2_context.jsonld",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob_v3p0_context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "ob_v3p0_context-3.0.2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "ob_v3p0_context-3.0.1.json",
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "clr_v2p0_context-2.0.1.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob_v3p0_extensions.json",
    "https://w3id.org/security/data-integrity/v2": "data_integrity_v2_context.jsonld",
    "https://w3id.org/security/multikey/v1": "multikey_v1_context.jsonld",
}
MAX_CONTEXT_ENTRIES = 8

# pyld 3.3 resolves a relative IRI against this placeholder (jsonld.js keeps it relative and drops
# the statement): an IRI starting with it was relative in the document.
PYLD_DEFAULT_BASE = "http://example.org/base/"
# pyld's own absolute-IRI test: toRdf drops a statement whose subject, predicate or object fails it.
_RDF_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*|_):[^\s]*$")
_KEYWORD_LIKE = re.compile(r"^@[a-zA-Z]+$")
_XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"


# ----------------------------------------------------------------------------- contexts


def _shipped_file(name: str) -> bytes:
    """A file of :mod:`anchor.schemas`: read straight from its directory when the package is one
    (``importlib.resources``' first use imports ``zipfile`` and more: milliseconds of a
    cold verification), through ``importlib.resources`` otherwise (a zip)."""
    import anchor.schemas

    for location in anchor.schemas.__spec__.submodule_search_locations or ():
        try:
            with open(os.path.join(location, name), "rb") as f:
                return f.read()
        except OSError:
            continue
    from importlib import resources

    return resources.files("anchor.schemas").joinpath(name).read_bytes()


@cache
def _pinned(url: str) -> tuple[dict[str, Any], str]:
    name = PINNED_CONTEXTS.get(url)
    if name is None:
        raise InputError(f"JSON-LD context {url[:200]!r} is not one of the pinned contexts (contexts are never fetched)",
                         reason="unknown_context")
    raw = _shipped_file(name)
    document = json.loads(raw.decode("utf-8"))
    assert isinstance(document, dict)
    return document, hashlib.sha256(raw).hexdigest()


def pinned_context(url: str) -> dict[str, Any]:
    """The shipped context document for ``url``; InputError ``unknown_context`` for any other URL."""
    return _pinned(url)[0]


class ContextLoader:
    """A pyld ``documentLoader`` that serves pinned context documents by exact URL, and nothing
    else: no network, ever. ``extra`` adds documents for this loader only (tests: the W3C
    examples context). Each loader keeps its own cache of processed contexts, so two loaders
    never see each other's definitions (pyld's shared cache is not used)."""

    def __init__(self, extra: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._extra = {url: dict(doc) for url, doc in (extra or {}).items()}
        # pyld's resolved-context cache for this loader: keyed by the context URLs and the scoped
        # contexts inside them (inline contexts are refused), so it stays small.
        self.resolved: dict[str, Any] = {}

    def serves(self, url: str) -> bool:
        return url in self._extra or url in PINNED_CONTEXTS

    def document(self, url: str) -> dict[str, Any]:
        if url in self._extra:
            return self._extra[url]
        return pinned_context(url)

    def __call__(self, url: str, options: Any = None) -> dict[str, Any]:
        return {"contextUrl": None, "documentUrl": url, "document": self.document(url), "tag": "static"}

    @property
    def terms(self) -> frozenset[str]:
        """Every term any served context defines, scoped contexts included: an IRI whose scheme
        is one of these could be read as a compact IRI, so the template path leaves it to pyld."""
        found = getattr(self, "_terms", None)
        if found is None:
            names: set[str] = set()
            for url in [*PINNED_CONTEXTS, *self._extra]:
                _collect_terms(self.document(url), names)
            found = self._terms = frozenset(names)
        return found

    @property
    def fingerprint(self) -> str:
        """SHA-256 over every document this loader serves (URL and content): with pyld and the
        template, all a template's quads depend on (the key of the quads kept on disk)."""
        found: str | None = getattr(self, "_fingerprint", None)
        if found is None:
            served = [(url, hashlib.sha256(json.dumps(self._extra[url], sort_keys=True).encode("utf-8")).hexdigest())
                      if url in self._extra else (url, _pinned(url)[1]) for url in sorted({*PINNED_CONTEXTS, *self._extra})]
            found = self._fingerprint = hashlib.sha256(json.dumps(served).encode("utf-8")).hexdigest()
        return found


def _collect_terms(node: Any, names: set[str]) -> None:
    if isinstance(node, dict):
        ctx = node.get("@context")
        for ctx_item in ctx if isinstance(ctx, list) else [ctx]:
            if isinstance(ctx_item, dict):
                names.update(k for k in ctx_item if not k.startswith("@"))
        for value in node.values():
            _collect_terms(value, names)
    elif isinstance(node, list):
        for item in node:
            _collect_terms(item, names)


DEFAULT_LOADER = ContextLoader()

# pyld keeps process-wide state (initial contexts, caches) that is not safe to share between
# threads mid-operation; the general path is slow anyway, so it runs one document at a time.
_PYLD_LOCK = threading.RLock()


# ----------------------------------------------------------------------------- general path


def _check_json(document: Any, loader: ContextLoader) -> None:
    """What must hold before pyld sees the document: one JSON object whose ``@context`` names only
    served contexts; no other ``@context``; no ``null``; only JSON types; finite numbers."""
    if not isinstance(document, dict):
        raise InputError("a JSON-LD document must be a JSON object", reason="jsonld_invalid")
    context = document.get("@context")
    entries = [context] if isinstance(context, str) else context
    if not isinstance(entries, list) or not entries:
        raise InputError("the document needs an @context: a context URL or a list of them", reason="jsonld_invalid")
    if len(entries) > MAX_CONTEXT_ENTRIES:
        raise InputError(f"the @context lists {len(entries)} entries; at most {MAX_CONTEXT_ENTRIES} are accepted", reason="jsonld_invalid")
    for entry in entries:
        if not isinstance(entry, str):
            raise InputError("an inline @context object is not accepted: only pinned context URLs", reason="jsonld_inline_context")
        if not loader.serves(entry):
            raise InputError(f"JSON-LD context {entry[:200]!r} is not one of the pinned contexts (contexts are never fetched)",
                             reason="unknown_context")
    if len(set(entries)) != len(entries):
        raise InputError("the @context lists a context twice", reason="jsonld_invalid")
    stack: list[tuple[Any, bool]] = [(v, False) for k, v in document.items() if k != "@context"]
    while stack:
        value, in_graph = stack.pop()
        if isinstance(value, dict):
            if "@context" in value and not _repeats_top_level(value["@context"], entries):
                raise InputError("a nested @context is not accepted: only the top-level pinned contexts", reason="jsonld_inline_context")
            stack.extend((v, k == "@graph") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, in_graph) for v in value)
        elif value is None:
            raise InputError("null is not accepted in a signed document: it would be left out of what is signed", reason="jsonld_null")
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise InputError("a number must be finite", reason="jsonld_invalid")
        elif not isinstance(value, str | int):
            raise InputError(f"a {type(value).__name__} is not a JSON value", reason="jsonld_invalid")
        elif in_graph:
            raise InputError("a value directly in @graph is dropped by JSON-LD", reason="jsonld_dropped_statement")


def _repeats_top_level(nested: Any, top: list[Any]) -> bool:
    """A nested ``@context`` that only names contexts the document's own ``@context`` already
    lists, in the same order: an embedded credential's (a CLR's ``verifiableCredential``), which
    must keep its own ``@context`` to verify on its own. It can define no term the top level does
    not; anything else nested stays refused."""
    names = [nested] if isinstance(nested, str) else nested
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return False
    positions = [top.index(n) if n in top else -1 for n in names]
    return -1 not in positions and positions == sorted(positions) and len(set(names)) == len(names)


def _dropped(what: str) -> InputError:
    return InputError(f"{what}: the statement would be left out of what is signed", reason="jsonld_dropped_statement")


def _check_iri(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _RDF_IRI.match(value):
        raise _dropped(f"{what} {str(value)[:200]!r} is not an absolute IRI")
    if value.startswith(PYLD_DEFAULT_BASE):
        raise _dropped(f"{what} {value[:200]!r} is relative (or uses the reserved base {PYLD_DEFAULT_BASE})")


def _check_expanded(node: Any) -> None:
    """Walk pyld's expanded form: every id, type, datatype and property an absolute IRI (or a
    blank node where RDF allows one), no annotation RDF does not carry."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key in ("@index", "@direction"):
                raise InputError(f"{key} annotations are not signed (they produce no RDF statement)", reason="jsonld_dropped_statement")
            if key == "@id":
                if not (isinstance(value, str) and value.startswith("_:")):
                    _check_iri(value, "the id")
            elif key == "@type":
                if "@value" in item:
                    if value != "@json":
                        _check_iri(value, "the datatype")
                else:
                    for t in value if isinstance(value, list) else [value]:
                        if not (isinstance(t, str) and t.startswith("_:")):
                            _check_iri(t, "the type")
            elif key == "@value":
                if value is None:
                    raise _dropped("a null @value")
            elif key.startswith("@"):
                stack.append(value)
            else:
                if key.startswith("_:"):
                    raise _dropped(f"the blank-node property {key[:200]!r}")
                _check_iri(key, "the property")
                stack.append(value)


def _term(t: Mapping[str, Any]) -> str:
    kind = t["type"]
    if kind == "IRI":
        return "<" + str(t["value"]) + ">"
    if kind == "blank node":
        return str(t["value"])
    return rdfc.literal(t["value"], t["datatype"], t.get("language"))


def _unwrap(error: BaseException) -> InputError:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, InputError):
            return cause
        cause = cause.__cause__ or getattr(cause, "cause", None)
    detail = str(error) or type(error).__name__
    return InputError(f"the document is not valid JSON-LD: {detail[:300]}", reason="jsonld_invalid")


def to_quads(document: Any, *, loader: ContextLoader | None = None) -> list[Quad]:
    """The RDF dataset of a JSON-LD document (pyld 3.3 toRdf, as ``jsonld.normalize`` computes it),
    under safe mode: InputError for anything the dataset would leave out (see the module doc)."""
    from pyld.context_resolver import ContextResolver
    from pyld.identifier_issuer import IdentifierIssuer
    from pyld.jsonld import JsonLdProcessor

    loader = loader or DEFAULT_LOADER
    _check_json(document, loader)
    dropped: list[Any] = []
    processor = JsonLdProcessor(on_property_dropped=dropped.append)
    options: dict[str, Any] = {
        "base": "",
        "documentLoader": loader,
        "contextResolver": ContextResolver(loader.resolved, loader),
        "extractAllScripts": True,
        "processingMode": "json-ld-1.1",
        "produceGeneralizedRdf": False,
    }
    with _PYLD_LOCK:
        try:
            expanded = processor.expand(document, options)
            if dropped:
                names = ", ".join(sorted({repr(str(d))[:80] for d in dropped}))
                raise InputError(f"terms no pinned context defines would be left out of what is signed: {names}",
                                 reason="jsonld_dropped_term")
            _check_expanded(expanded)
            # pyld's to_rdf, after its expansion (JsonLdProcessor.to_rdf in pyld 3.3)
            issuer = IdentifierIssuer("_:b")
            node_map: dict[str, Any] = {"@default": {}}
            processor._create_node_map(expanded, node_map, "@default", issuer)
            quads: list[Quad] = []
            for graph_name, graph in sorted(node_map.items()):
                if graph_name != "@default" and not graph_name.startswith("_:"):
                    _check_iri(graph_name, "the graph name")
                g = "" if graph_name == "@default" else ("<" + graph_name + ">" if not graph_name.startswith("_:") else graph_name)
                for triple in processor._graph_to_rdf(graph, issuer, options):
                    quads.append((_term(triple["subject"]), _term(triple["predicate"]), _term(triple["object"]), g))
        except InputError:
            raise
        except RecursionError:
            raise InputError("the document is nested too deeply", reason="jsonld_invalid") from None
        except Exception as e:  # pyld's JsonLdError and what it wraps
            raise _unwrap(e) from None
    return quads


def to_nquads(document: Any, *, loader: ContextLoader | None = None) -> str:
    """Canonical N-Quads (RDFC-1.0) of a JSON-LD document, by the general path (pyld toRdf + rdfc),
    portable between pyld and jsonld.js. Equal to pyld's ``jsonld.normalize(document,
    {"algorithm": "URDNA2015", "format": "application/n-quads"})`` wherever it does not raise."""
    return rdfc.canonicalize(to_quads(document, loader=loader), portable=True)


# ----------------------------------------------------------------------------- template path

SlotKind = Literal["iri", "literal"]
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Slot:
    """A per-document value at ``path`` (keys and list indexes), a string that is either an
    absolute IRI (``iri``: an id, or a value of an ``@id``-typed term) or a literal."""

    path: Path
    kind: SlotKind


class _NotFast(Exception):
    """This document cannot take the template path (the general path decides)."""


_IRI_SENTINEL_NS = "urn:anchor-slot:"
_LITERAL_SENTINEL_MARK = "\U000f0000"  # supplementary private use: no real text has it
_IRI_SENTINEL = _IRI_SENTINEL_NS + "{:04d}"
_LITERAL_SENTINEL = _LITERAL_SENTINEL_MARK + "{:04d}\U000f0001"
# An IRI pyld keeps as it is: a scheme, then no whitespace and nothing RFC 3987 excludes (group 2:
# "//" after the scheme, which makes pyld skip compact-IRI expansion).
_FAST_IRI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(//)?[^\s\x00-\x20<>\"{}|^`\\]*")
_UNUSABLE = object()  # a template the fast path cannot serve: always the general path
_MAX_LABELS = 4096  # blank nodes a template may have and still be compiled
_C14N_LABELS: list[str] = []  # _:c14n0, _:c14n1, ... as many as the compiled templates need (only grows)
_LABELS_LOCK = threading.Lock()


def _need_labels(n: int) -> None:
    """Make :data:`_C14N_LABELS` at least ``n`` long (built on demand: all 4,096 would cost ~1 ms
    of every cold start). The list is replaced, never shortened, so readers need no lock."""
    global _C14N_LABELS
    with _LABELS_LOCK:
        have = len(_C14N_LABELS)
        if n > have:
            size = max(64, have * 2, n)
            _C14N_LABELS = [*_C14N_LABELS, *(f"{rdfc.C14N_PREFIX}{i}" for i in range(have, min(size, _MAX_LABELS)))]


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Template:
    """A template's quads with the slots marked, compiled for the per-document steps."""

    iri_slots: tuple[int, ...]
    literal_suffixes: tuple[tuple[int, str], ...]  # literal slots, and what follows the lexical form ("", ^^<dt>, @lang)
    quads: list[tuple[Any, Any, Any, Any]]  # terms: str constant, or int slot index
    reserved_iris: frozenset[str]  # IRIs in node positions (a slot value equal to one merges nodes), and terms
    const_astral: bool
    const_high: bool
    # compiled RDFC-1.0 (None when constant blank nodes collide: then the full algorithm runs)
    n_bnodes: int
    const_hashes: list[str] | None
    dyn_fixed: list[tuple[int, list[str]]]  # blank nodes whose first-degree hash varies: their constant lines
    dyn_lines: Callable[[list[str]], list[list[str]]]  # ... and their varying lines (slot terms -> lines)
    const_lines: list[str]
    out_lines: Callable[[list[str], list[str]], list[str]]  # (slot terms, canonical labels) -> varying lines
    # literal objects (slot, slot or constant term) whose equality would make two statements one
    may_coincide: list[tuple[int, int | str]]
    label_pad: list[str]  # room for the canonical labels after the slot terms


class QuadsStore(Protocol):
    """Where a :class:`Canonicalizer` keeps its templates' quads between processes (the machine's
    cache is :class:`anchor.schemas.template_cache.TemplateQuadsCache`): ``template`` is the
    template document's ``marshal`` bytes, ``contexts`` the loader's :attr:`~ContextLoader.fingerprint`.
    ``get`` answers exactly what ``put`` was given for the same arguments, or None; neither raises."""

    def get(self, template: bytes, contexts: str) -> list[Quad] | None: ...

    def put(self, template: bytes, contexts: str, quads: list[Quad]) -> None: ...


MACHINE_STORE: Literal["machine"] = "machine"


class BoundTemplate:
    """One template of a :class:`Canonicalizer`, compiled: ``canonical_nquads(values, document)``
    gives what ``canonicalizer.canonical_nquads(document)`` gives for the document that is this
    template filled with ``values`` (one per slot of the canonicalizer; None where the template
    has no such slot). ``document`` builds that document, and is called only when the fast path
    cannot be sure (then the general path decides, on the whole document)."""

    __slots__ = ("_canonicalizer", "_compiled", "present")

    def __init__(self, canonicalizer: Canonicalizer, compiled: Any, present: tuple[int, ...]) -> None:
        self._canonicalizer, self._compiled, self.present = canonicalizer, compiled, present

    def canonical_nquads(self, values: list[str | None], document: Callable[[], Any]) -> str:
        c = self._canonicalizer
        if [i for i, v in enumerate(values) if v is not None] != list(self.present) or len(values) != len(c.slots):
            raise ValueError("the values do not fill this template's slots")
        try:
            return c._fast_with(self._compiled, values)
        except _NotFast:
            c.stats["general"] += 1
            return to_nquads(document(), loader=c.loader)

    def canonical_hash(self, values: list[str | None], document: Callable[[], Any]) -> bytes:
        return hashlib.sha256(self.canonical_nquads(values, document).encode("utf-8")).digest()


class Canonicalizer:
    """Canonical N-Quads of documents that differ only in the values at ``slots``, fast.

    ``canonical_nquads(document)`` equals ``to_nquads(document)`` for every document (and raises
    the same InputError): the template path answers when it can prove the answer is the same,
    the general path otherwise. ``stats`` counts the paths taken.

    A template's quads (pyld's output, the one costly step of a new template) are also kept in
    ``quads_store``, by default the machine's cache directory
    (:func:`anchor.schemas.template_cache.machine_cache`, loaded on the first template), so a new
    process that meets a known template never imports pyld. None keeps them in memory only.
    """

    def __init__(self, slots: Iterable[Slot | tuple[Path, SlotKind]], *, loader: ContextLoader | None = None,
                 cache_size: int = 256, quads_store: QuadsStore | Literal["machine"] | None = MACHINE_STORE) -> None:
        self.slots = tuple(s if isinstance(s, Slot) else Slot(tuple(s[0]), s[1]) for s in slots)
        for slot in self.slots:
            if slot.kind not in ("iri", "literal") or not slot.path:
                raise ValueError(f"bad slot {slot!r}")
        self.loader = loader or DEFAULT_LOADER
        self._sentinels = [(_IRI_SENTINEL if s.kind == "iri" else _LITERAL_SENTINEL).format(i) for i, s in enumerate(self.slots)]
        self._trie: dict[Any, Any] = {}
        for i, slot in enumerate(self.slots):
            node = self._trie
            for step in slot.path[:-1]:
                child = node.setdefault(step, {})
                if not isinstance(child, dict):
                    raise ValueError(f"slot {slot.path} lies inside another slot")
                node = child
            if slot.path[-1] in node:
                raise ValueError(f"slot {slot.path} overlaps another slot")
            node[slot.path[-1]] = i
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._cache_size = cache_size
        self._quads_store = quads_store
        self._lock = threading.Lock()
        self.stats = {"fast": 0, "substituted": 0, "general": 0, "templates": 0}

    # -- public

    def canonical_nquads(self, document: Any) -> str:
        try:
            return self._fast(document)
        except _NotFast:
            self.stats["general"] += 1
            return to_nquads(document, loader=self.loader)

    def canonical_hash(self, document: Any) -> bytes:
        """SHA-256 of the canonical N-Quads (UTF-8)."""
        return hashlib.sha256(self.canonical_nquads(document).encode("utf-8")).digest()

    # -- template extraction

    def _swap(self, node: Any, trie: dict[Any, Any], values: list[str | None]) -> Any:
        if type(node) is dict:
            out = dict(node)
            for key, sub in trie.items():
                if type(key) is str and key in node:
                    child = node[key]
                    if type(sub) is int:
                        if type(child) is not str:
                            raise _NotFast
                        values[sub] = child
                        out[key] = self._sentinels[sub]
                    else:
                        out[key] = self._swap(child, sub, values)
            return out
        if type(node) is list:
            out_list = list(node)
            for key, sub in trie.items():
                if type(key) is int and 0 <= key < len(node):
                    child = node[key]
                    if type(sub) is int:
                        if type(child) is not str:
                            raise _NotFast
                        values[sub] = child
                        out_list[key] = self._sentinels[sub]
                    else:
                        out_list[key] = self._swap(child, sub, values)
            return out_list
        return node

    def _template_for(self, document: Any) -> tuple[Any, list[str | None]]:
        if type(document) is not dict:
            raise _NotFast
        values: list[str | None] = [None] * len(self.slots)
        template_doc = self._swap(document, self._trie, values)
        try:
            key = marshal.dumps(template_doc, 2)  # exact: types are told apart (true/1/1.0), no subclasses
        except ValueError:
            raise _NotFast from None
        with self._lock:
            compiled = self._cache.get(key)
            if compiled is not None:
                self._cache.move_to_end(key)
        if compiled is None:
            compiled = self._compile(template_doc, values, key)
            with self._lock:
                self._cache[key] = compiled
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if compiled is _UNUSABLE:
            raise _NotFast
        return compiled, values

    # -- a template bound ahead of time

    def bind(self, document: Any) -> BoundTemplate:
        """The template of ``document`` (and of every document that differs from it only in the
        values at the slots it has), for callers that build documents from a template themselves
        and know the values: :meth:`BoundTemplate.canonical_nquads` then skips parsing and
        template extraction. InputError (``template_unusable``) if the template cannot take the
        fast path (the caller then uses :meth:`canonical_nquads` on whole documents)."""
        try:
            compiled, values = self._template_for(document)
        except _NotFast:
            raise InputError("this document's template cannot take the fast path", reason="template_unusable") from None
        return BoundTemplate(self, compiled, tuple(i for i, v in enumerate(values) if v is not None))

    # -- per document

    def _fast(self, document: Any) -> str:
        t, values = self._template_for(document)
        return self._fast_with(t, values)

    def _fast_with(self, t: Any, values: list[str | None]) -> str:
        """The canonical N-Quads of the compiled template ``t`` filled with ``values``;
        :class:`_NotFast` when only the general path can be sure."""
        tpl: _Template = t
        terms: list[str] = [""] * len(self.slots)
        astral = tpl.const_astral
        high = tpl.const_high
        exact = True  # False: something needs the full algorithm on the substituted quads
        terms_set = self.loader.terms
        reserved = tpl.reserved_iris
        for i in tpl.iri_slots:
            v = values[i]
            assert v is not None
            m = _FAST_IRI.fullmatch(v)
            # not a compact IRI or a term pyld would expand, not relative, not another node's name
            if m is None or v in reserved or (m[1] in terms_set and m[2] is None) or v.startswith(PYLD_DEFAULT_BASE):
                raise _NotFast
            if not v.isascii():
                if not _utf8_ok(v):
                    raise _NotFast
                top = max(v)
                astral = astral or top >= "\U00010000"
                high = high or rdfc._HIGH_BMP.search(v) is not None
            terms[i] = "<" + v + ">"
        if len(tpl.iri_slots) > 1 and len({values[i] for i in tpl.iri_slots}) != len(tpl.iri_slots):
            raise _NotFast  # two slots naming one node: pyld merges them
        escape = rdfc.escape
        for i, suffix in tpl.literal_suffixes:
            v = values[i]
            assert v is not None
            if not v.isprintable() and rdfc._LITERAL_NOT_PORTABLE.search(v):
                exact = False  # control characters: the portable checks of the full algorithm decide
            if not v.isascii():
                top = max(v)
                if top >= "\ud800":
                    if not _utf8_ok(v):
                        exact = False  # a lone surrogate: the full algorithm refuses it
                    if top >= "\ue000":
                        astral = astral or top >= "\U00010000"
                        high = high or rdfc._HIGH_BMP.search(v) is not None
            terms[i] = '"' + escape(v) + '"' + suffix
        if astral and high:
            exact = False
        if exact and tpl.const_hashes is not None:
            text = self._compiled(tpl, terms)
            if text is not None:
                self.stats["fast"] += 1
                return text
        self.stats["substituted"] += 1
        quads = [tuple(terms[x] if type(x) is int else x for x in q) for q in tpl.quads]
        return rdfc.canonicalize(quads, portable=True)  # type: ignore[arg-type]

    @staticmethod
    def _compiled(tpl: _Template, terms: list[str]) -> str | None:
        """The precompiled RDFC-1.0 steps; None when blank nodes collide or statements coincide
        (then the full algorithm decides)."""
        hashes = list(tpl.const_hashes or ())
        sha256 = hashlib.sha256
        for (j, fixed_lines), lines in zip(tpl.dyn_fixed, tpl.dyn_lines(terms), strict=True):
            lines += fixed_lines
            lines.sort()
            hashes[j] = sha256("".join(lines).encode("utf-8")).hexdigest()
        n = tpl.n_bnodes
        if len(set(hashes)) != n:
            return None
        labels = tpl.label_pad.copy()
        for label, j in zip(_C14N_LABELS, sorted(range(n), key=hashes.__getitem__), strict=False):  # n <= len(labels)
            labels[j] = label
        for a, b in tpl.may_coincide:
            if terms[a] == (terms[b] if type(b) is int else b):
                return None  # two statements became one: the dataset is smaller than the template's
        out = tpl.out_lines(terms, labels)
        out += tpl.const_lines
        out.sort()
        return "".join(out)  # UTF-8 encodable: the constants were checked once, the values above

    # -- compiling a template

    def _store(self) -> QuadsStore | None:
        store = self._quads_store
        if isinstance(store, str):
            # the validator's pattern: the disk is reached through anchor.schemas, only when needed
            from anchor.schemas.template_cache import machine_cache

            store = self._quads_store = machine_cache()
        return store

    def _template_quads(self, template_doc: Any, key: bytes) -> list[Quad]:
        """pyld's quads of the template (InputError as :func:`to_quads`), from the store when it
        has them: what it returns is what :func:`to_quads` gave for this exact template document
        under a loader serving the same documents (the store's key pins pyld and the converter)."""
        store = self._store()
        if store is None:
            return to_quads(template_doc, loader=self.loader)
        contexts = self.loader.fingerprint
        quads = store.get(key, contexts)
        if quads is None:
            quads = to_quads(template_doc, loader=self.loader)
            store.put(key, contexts, quads)
        return quads

    def _compile(self, template_doc: Any, values: list[str | None], key: bytes) -> Any:
        self.stats["templates"] += 1
        present = [i for i, v in enumerate(values) if v is not None]
        # Each sentinel must come from its slot alone: a document that spells a sentinel anywhere
        # else (a value, a key) would have that text read as the slot's value in the quads, so
        # the template path would answer for another document (an extra node folded into a
        # slot's, a name replaced by a hash) and a signature would verify over altered content.
        spelled = json.dumps(template_doc, ensure_ascii=False)
        iri_present = sum(1 for i in present if self.slots[i].kind == "iri")
        if spelled.count(_IRI_SENTINEL_NS) != iri_present or spelled.count(_LITERAL_SENTINEL_MARK) != len(present) - iri_present:
            return _UNUSABLE
        try:
            quads = self._template_quads(template_doc, key)
        except InputError:
            return _UNUSABLE
        sentinel_terms: dict[str, int] = {}
        suffix: dict[int, str] = {}
        seen: dict[int, int] = dict.fromkeys(present, 0)
        marked: list[tuple[Any, Any, Any, Any]] = []
        for q in quads:
            row: list[Any] = []
            for pos, term in enumerate(q):
                index = sentinel_terms.get(term)
                if index is None:
                    index = self._sentinel_in(term, pos, present, suffix)
                    if index is not None:
                        sentinel_terms[term] = index
                if index is None:
                    row.append(term)
                else:
                    seen[index] += 1
                    row.append(index)
            marked.append((row[0], row[1], row[2], row[3]))
        if any(count == 0 for count in seen.values()) or "^^<" + _XSD_DOUBLE + ">" in suffix.values():
            return _UNUSABLE  # a value pyld drops or rewrites (xsd:double): only the general path knows
        # the sentinels must be exactly the terms marked, never inside another term (a predicate,
        # a datatype, a longer IRI or literal)
        const_text = "".join("".join(t for t in q if type(t) is str) for q in marked)
        if _IRI_SENTINEL_NS in const_text or _LITERAL_SENTINEL_MARK in const_text or not _utf8_ok(const_text):
            return _UNUSABLE  # (a lone surrogate: the general path refuses it)
        neutral = [tuple(("<urn:x>" if self.slots[t].kind == "iri" else '"x"') if type(t) is int else t for t in q) for q in marked]
        try:
            rdfc.check_portable(neutral)  # type: ignore[arg-type]
        except InputError:
            return _UNUSABLE  # the general path raises it
        fixed = frozenset(t[1:-1] for q in marked for t in (q[0], q[2], q[3]) if type(t) is str and t[:1] == "<")
        iri_slots = tuple(i for i in present if self.slots[i].kind == "iri")
        literal_suffixes = tuple((i, suffix[i]) for i in present if self.slots[i].kind == "literal")
        tpl = _Template(
            iri_slots=iri_slots, literal_suffixes=literal_suffixes, quads=marked, reserved_iris=fixed | self.loader.terms,
            const_astral=rdfc._ASTRAL.search(const_text) is not None, const_high=rdfc._HIGH_BMP.search(const_text) is not None,
            n_bnodes=0, const_hashes=None, dyn_fixed=[], dyn_lines=_no_lines, const_lines=[], out_lines=_no_lines,
            may_coincide=_may_coincide(marked), label_pad=[],
        )
        self._compile_rdfc(tpl, len(self.slots))
        return tpl

    def _sentinel_in(self, term: str, pos: int, present: list[int], suffix: dict[int, str]) -> int | None:
        if term.startswith("<" + _IRI_SENTINEL_NS):
            for i in present:
                if self.slots[i].kind == "iri" and term == "<" + self._sentinels[i] + ">":
                    if pos == 1:
                        return None  # a predicate: left as a constant, so the sentinel check refuses it
                    return i
        elif term.startswith('"' + _LITERAL_SENTINEL_MARK):
            for i in present:
                head = '"' + self._sentinels[i] + '"'
                if self.slots[i].kind == "literal" and term.startswith(head) and pos == 2:
                    suffix[i] = term[len(head):]
                    return i
        return None

    @staticmethod
    def _compile_rdfc(tpl: _Template, n_slots: int) -> None:
        """Precompute everything of RDFC-1.0 that does not depend on the slot values."""
        bnodes: dict[str, int] = {}
        for q in tpl.quads:
            for t in (q[0], q[2], q[3]):
                if type(t) is str and t[:2] == "_:" and t not in bnodes:
                    bnodes[t] = len(bnodes)
        n = len(bnodes)
        tpl.n_bnodes = n
        tpl.label_pad = [""] * n
        if n > _MAX_LABELS:
            return  # the full algorithm
        _need_labels(n)

        def parts_of(q: tuple[Any, Any, Any, Any], this: str | None) -> list[tuple[str, Any]]:
            """The quad's line as parts: ("c", text), ("t", slot) or ("L", blank node index). For
            a first-degree hash of ``this``, blank nodes are _:a (this one) and _:z (others)."""
            parts: list[tuple[str, Any]] = []
            for k, t in enumerate(q):
                if k == 3 and t == "":
                    break
                if k:
                    parts.append(("c", " "))
                if type(t) is int:
                    parts.append(("t", t))
                elif t[:2] != "_:":
                    parts.append(("c", t))
                elif this is not None:
                    parts.append(("c", "_:a" if t == this else "_:z"))
                else:
                    parts.append(("L", bnodes[t]))
            parts.append(("c", " .\n"))
            return parts

        def constant(parts: list[tuple[str, Any]]) -> str | None:
            return "".join(p[1] for p in parts) if all(p[0] == "c" for p in parts) else None

        # first-degree hashes: constant unless a slot occurs in one of the node's quads
        const_hashes: list[str] = [""] * n
        dyn_fixed: list[tuple[int, list[str]]] = []
        dyn_parts: list[list[list[tuple[str, Any]]]] = []
        occurrences: dict[str, list[tuple[Any, Any, Any, Any]]] = {node: [] for node in bnodes}
        for q in tpl.quads:
            for t in (q[0], q[2], q[3]):  # once per position, as RDFC-1.0 (and pyld) count them
                if type(t) is str and t[:2] == "_:":
                    occurrences[t].append(q)
        for node, j in bnodes.items():
            own = [parts_of(q, node) for q in occurrences[node]]
            fixed_lines = [line for line in map(constant, own) if line is not None]
            if len(fixed_lines) < len(own):
                dyn_fixed.append((j, fixed_lines))
                dyn_parts.append([parts for parts in own if constant(parts) is None])
            else:
                const_hashes[j] = hashlib.sha256("".join(sorted(fixed_lines)).encode("utf-8")).hexdigest()
        fixed = [h for h in const_hashes if h]
        if len(set(fixed)) != len(fixed):
            return  # constant blank nodes the first-degree hash cannot tell apart: full algorithm
        out_parts: list[list[tuple[str, Any]]] = []
        for q in tpl.quads:
            parts = parts_of(q, None)
            line = constant(parts)
            if line is None:
                out_parts.append(parts)
            else:
                tpl.const_lines.append(line)
        tpl.const_hashes = const_hashes
        tpl.dyn_fixed = dyn_fixed
        tpl.dyn_lines = _LazyLines(tpl, "dyn_lines", [line for lines in dyn_parts for line in lines], [len(lines) for lines in dyn_parts])
        tpl.out_lines = _LazyLines(tpl, "out_lines", out_parts, None)


def _no_lines(*args: Any) -> list[Any]:
    return []


# Documents a template serves before its line builders are generated as Python: a one-shot
# verification meets each template once, and compiling the generated source (~1 ms for a
# credential and its proof) would be most of its check; issuing thousands gets the fast builders.
_CODEGEN_AFTER = 8


def _merge_constants(parts: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    merged: list[tuple[str, Any]] = []
    for kind, value in parts:
        if kind == "c" and merged and merged[-1][0] == "c":
            merged[-1] = ("c", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return merged


class _LazyLines:
    """A template's line builder that joins the parts itself for the template's first
    :data:`_CODEGEN_AFTER` documents, then puts the generated one (:func:`_line_builder`, same
    lines, faster) in its place on the template."""

    __slots__ = ("_attr", "_calls", "_groups", "_lines", "_merged", "_tpl")

    def __init__(self, tpl: _Template, attr: str, lines: list[list[tuple[str, Any]]], groups: list[int] | None) -> None:
        self._tpl, self._attr, self._lines, self._groups = tpl, attr, lines, groups
        self._merged = [tuple(_merge_constants(parts)) for parts in lines]
        self._calls = 0

    def __call__(self, t: list[str], L: list[str] | None = None) -> Any:
        self._calls += 1
        if self._calls > _CODEGEN_AFTER:
            built = _line_builder(self._lines, self._groups)
            setattr(self._tpl, self._attr, built)  # atomic: a concurrent caller uses either, same lines
            return built(t) if self._groups is not None else built(t, L)
        rendered = ["".join([v if k == "c" else t[v] if k == "t" else L[v] for k, v in parts])  # type: ignore[index]
                    for parts in self._merged]
        if self._groups is None:
            return rendered
        split, at = [], 0
        for size in self._groups:
            split.append(rendered[at:at + size])
            at += size
        return split


def _line_builder(lines: list[list[tuple[str, Any]]], groups: list[int] | None) -> Any:
    """A function building ``lines`` from the per-document terms ``t`` (and canonical labels
    ``L``): generated Python whose f-strings join names bound to the parts, ~4x faster than
    %-formatting. No template text is ever part of the generated source, only names
    (``c_<n>`` for constants, ``t_<slot>``, ``L_<node>``), so no text can inject code."""
    namespace: dict[str, Any] = {}
    constants: dict[str, str] = {}
    used_t: set[int] = set()
    used_l: set[int] = set()
    rendered: list[str] = []
    for parts in lines:
        fields = []
        for kind, value in _merge_constants(parts):
            if kind == "c":
                name = constants.get(value)
                if name is None:
                    name = constants[value] = f"c_{len(constants)}"
                    namespace[name] = value
                fields.append("{" + name + "}")
            elif kind == "t":
                used_t.add(value)
                fields.append(f"{{t_{int(value)}}}")
            else:
                used_l.add(value)
                fields.append(f"{{L_{int(value)}}}")
        rendered.append('f"' + "".join(fields) + '"')
    body = [f"    t_{i} = t[{i}]" for i in sorted(used_t)] + [f"    L_{j} = L[{j}]" for j in sorted(used_l)]
    if groups is None:
        body.append("    return [" + ", ".join(rendered) + "]")
        source = "def build(t, L):\n" + "\n".join(body) + "\n"
    else:
        split, at = [], 0
        for size in groups:
            split.append("[" + ", ".join(rendered[at:at + size]) + "]")
            at += size
        body.append("    return [" + ", ".join(split) + "]")
        source = "def build(t):\n" + "\n".join(body) + "\n"
    exec(compile(source, "<anchor.core.jsonld template>", "exec"), namespace)
    return namespace["build"]


def _may_coincide(quads: list[tuple[Any, Any, Any, Any]]) -> list[tuple[int, int | str]]:
    """Pairs of template statements that become one statement for some slot values.

    Subjects and graphs are node names: constant, or IRI slots whose values are distinct from
    each other and from every constant IRI (checked per document), so they match only when they
    are the same constant or the same slot. Objects may also be literals: a literal slot matches
    another literal slot or a constant literal when the values are equal. Linear in the
    statements times the slots (a hostile template may have thousands of statements).
    """
    groups: dict[tuple[Any, Any, Any], list[Any]] = {}
    for s, p, o, g in quads:
        groups.setdefault((s, p, g), []).append(o)
    pairs: set[tuple[int, int | str]] = set()
    for objects in groups.values():
        for a in objects:
            if type(a) is not int:
                continue
            for b in objects:
                if b != a and (type(b) is int or b[:1] == '"'):
                    pairs.add((a, b))
    return sorted(pairs, key=repr)

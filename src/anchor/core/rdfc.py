"""RDF Dataset Canonicalization (RDFC-1.0, https://www.w3.org/TR/rdf-canon/) and N-Quads.

A Data Integrity proof (``eddsa-rdfc-2022``) signs the canonical N-Quads of the RDF dataset a
JSON-LD document denotes: blank nodes relabelled ``_:c14n0, _:c14n1, ...`` by a labelling that
depends only on the dataset, lines sorted. This module takes the dataset as quads and returns
that text, byte for byte what pyld 3.3 ``jsonld.normalize(..., {"algorithm": "URDNA2015"})``
returns (URDNA2015 is RDFC-1.0's earlier name, same output).

Terms are kept in their N-Quads spelling (``<iri>``, ``_:label``, ``"lexical"^^<datatype>``,
``"lexical"@lang``; the graph ``""`` is the default graph), escaped as pyld and jsonld.js
escape literals, so serializing a quad is string concatenation.

The input is hostile when verifying: RDFC-1.0 is factorial on groups of blank nodes that the
first-degree hash cannot tell apart. The Hash N-Degree Quads work is therefore metered
(``max_work`` units: one per call, related hash and permutation) and refused beyond it
(InputError ``canonicalization_too_complex``) before the next step runs.

``portable=True`` also refuses (InputError ``rdf_not_portable``) the datasets on which pyld
(and so openbadgeslib) and jsonld.js (rdf-canonize, hence @digitalbazaar/vc) produce different
canonical text, so that nothing anchor signs verifies under one and fails under the other:
control characters in literals and characters outside RFC 3987 in IRIs (pyld writes them raw,
rdf-canonize escapes them), a blank node related to itself (pyld counts that quad twice in the
blank node's hash, rdf-canonize once), and text whose code-point order differs from its UTF-16
order (rdf-canonize sorts by UTF-16 code units).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator

from anchor.core.errors import InputError

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

# subject, predicate, object, graph name ("" for the default graph), each in N-Quads spelling
Quad = tuple[str, str, str, str]

MAX_WORK = 100_000  # Hash N-Degree Quads units per canonicalization (a real credential needs 0)
MAX_DEPTH = 100  # nesting of Hash N-Degree Quads recursion

C14N_PREFIX = "_:c14n"


# ----------------------------------------------------------------------------- terms


def escape(value: str) -> str:
    """A literal's lexical form as pyld and jsonld.js write it in N-Quads (\\\\ \\t \\n \\r \\")."""
    if "\\" in value or '"' in value or "\n" in value or "\r" in value or "\t" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r").replace('"', '\\"')
    return value


def iri(value: str) -> str:
    return "<" + value + ">"


def literal(value: str, datatype: str = XSD_STRING, language: str | None = None) -> str:
    """The N-Quads term of a literal, spelled as pyld spells it (no suffix for xsd:string, and
    none for an rdf:langString without a language either)."""
    text = '"' + escape(value) + '"'
    if datatype == RDF_LANGSTRING:
        return text + "@" + language if language else text
    if datatype != XSD_STRING:
        return text + "^^<" + datatype + ">"
    return text


def is_blank(term: str) -> bool:
    return term[:2] == "_:"


def nquad(q: Quad) -> str:
    """One N-Quads line (with its newline)."""
    s, p, o, g = q
    return f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n"


def serialize(quads: Iterable[Quad]) -> str:
    """N-Quads text of ``quads`` in the order given."""
    return "".join(map(nquad, quads))


# ----------------------------------------------------------------------------- parsing

_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
# IRIREF: RFC 3987 excludes {}|^` too; they are accepted here because pyld writes them raw.
_IRIREF = rf"<((?:[^\x00-\x20<>\"\\]|{_UCHAR})*)>"
_BNODE = r"(_:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_\-])?)"
_STRING = rf"\"((?:[^\"\\\n\r]|\\[tbnrf\"'\\]|{_UCHAR})*)\""
_LANG = r"@([a-zA-Z]+(?:-[a-zA-Z0-9]+)*)"
_WS = r"[ \t]"
_LINE = re.compile(
    rf"{_WS}*(?:{_IRIREF}|{_BNODE}){_WS}+{_IRIREF}{_WS}+"
    rf"(?:{_IRIREF}|{_BNODE}|{_STRING}(?:\^\^{_IRIREF}|{_LANG})?){_WS}*"
    rf"(?:(?:{_IRIREF}|{_BNODE}){_WS}*)?\.{_WS}*(?:#[^\n\r]*)?"
)
_SKIP = re.compile(rf"{_WS}*(?:#[^\n\r]*)?")
_ESCAPES = re.compile(rf"\\[tbnrf\"'\\]|{_UCHAR}")
_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(0)
        if e[1] in "uU":
            cp = int(e[2:], 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise InputError(f"N-Quads escape {e} is not a Unicode scalar value", reason="bad_nquads")
            return chr(cp)
        return _ECHAR[e[1]]

    return _ESCAPES.sub(one, text) if "\\" in text else text


def parse(text: str) -> list[Quad]:
    """Quads of RDF 1.1 N-Quads text, each term re-spelled the way :func:`literal` and
    :func:`iri` spell it (so parsing then serializing yields pyld's spelling). Blank and
    comment lines are skipped. InputError ``bad_nquads`` on anything else."""
    quads: list[Quad] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        m = _LINE.fullmatch(line)
        if m is None:
            if _SKIP.fullmatch(line):
                continue
            raise InputError(f"N-Quads line {number} is malformed: {line[:200]!r}", reason="bad_nquads")
        s_iri, s_bn, p, o_iri, o_bn, lex, dt, lang, g_iri, g_bn = m.groups()
        s = iri(_unescape(s_iri)) if s_iri is not None else s_bn
        if o_iri is not None:
            o = iri(_unescape(o_iri))
        elif o_bn is not None:
            o = o_bn
        elif lang is not None:
            o = literal(_unescape(lex), RDF_LANGSTRING, lang)
        else:
            o = literal(_unescape(lex), _unescape(dt) if dt is not None else XSD_STRING)
        g = iri(_unescape(g_iri)) if g_iri is not None else (g_bn or "")
        quads.append((s, iri(_unescape(p)), o, g))
    return quads


# ----------------------------------------------------------------------------- portability

_IRI_NOT_PORTABLE = re.compile(r"[\x00-\x20<>\"{}|^`\\]")
_LITERAL_NOT_PORTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASTRAL = re.compile(r"[\U00010000-\U0010FFFF]")
_HIGH_BMP = re.compile(r"[\ue000-\uffff]")


def _utf16(line: str) -> bytes:
    return line.encode("utf-16-be", "surrogatepass")


def _check_term(term: str) -> None:
    if term[:1] == "<":
        bad = _IRI_NOT_PORTABLE.search(term, 1, len(term) - 1)
        what = "an IRI"
    elif term[:1] == '"':
        end = term.rfind('"')
        bad = _LITERAL_NOT_PORTABLE.search(term, 1, end)
        what = "a literal"
        if bad is None and term.startswith("^^<", end + 1):
            bad = _IRI_NOT_PORTABLE.search(term, end + 4, len(term) - 1)
            what = "a datatype IRI"
    else:
        return
    if bad is not None:
        raise InputError(
            f"{what} holds the character U+{ord(bad.group(0)):04X}, which JSON-LD processors write differently "
            f"in canonical N-Quads (the proof would verify with some and fail with others)",
            reason="rdf_not_portable",
        )


def check_portable(quads: Iterable[Quad]) -> bool:
    """Raise InputError ``rdf_not_portable`` for a dataset pyld and rdf-canonize canonicalize
    differently (see the module docstring). Returns whether code-point vs UTF-16 order must
    still be compared in the sorts (text with both astral characters and U+E000..U+FFFF)."""
    astral = high = False
    for s, p, o, g in quads:
        for term in (s, p, o, g):
            _check_term(term)
        if s[:2] == "_:" and (s == o or s == g) or o[:2] == "_:" and o == g:
            raise InputError(
                "a blank node is related to itself; JSON-LD processors hash that statement differently "
                "(the proof would verify with some and fail with others)",
                reason="rdf_not_portable",
            )
        if not (astral and high):
            text = s + p + o + g
            if not text.isascii():
                astral = astral or _ASTRAL.search(text) is not None
                high = high or _HIGH_BMP.search(text) is not None
    return astral and high


def _check_order(lines: list[str]) -> None:
    if sorted(lines, key=_utf16) != lines:
        raise InputError(
            "the canonical order of this text differs between JSON-LD processors (characters beyond U+FFFF "
            "next to characters U+E000..U+FFFF); the proof would verify with some and fail with others",
            reason="rdf_not_portable",
        )


# ----------------------------------------------------------------------------- RDFC-1.0


class _Issuer:
    """Identifier issuer (RDFC-1.0 section 4.3): issued identifiers in issue order."""

    __slots__ = ("ids", "prefix")

    def __init__(self, prefix: str, ids: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.ids: dict[str, str] = {} if ids is None else ids

    def issue(self, existing: str) -> str:
        issued = self.ids.get(existing)
        if issued is None:
            issued = self.ids[existing] = f"{self.prefix}{len(self.ids)}"
        return issued

    def copy(self) -> _Issuer:
        return _Issuer(self.prefix, dict(self.ids))


def _permutations(elements: list[str]) -> Iterator[tuple[str, ...]]:
    """Every permutation of ``elements``, in pyld's (and jsonld.js's) order: Steinhaus-Johnson-
    Trotter from the sorted list. The order decides which of two equal paths is kept, so it is
    the reference implementations' order, not itertools'."""
    elements = sorted(elements)
    left = dict.fromkeys(elements, True)
    length = len(elements)
    last = length - 1
    while True:
        yield tuple(elements)
        k: str | None = None
        pos = 0
        for i in range(length):
            e = elements[i]
            is_left = left[e]
            if (k is None or e > k) and (
                (is_left and i > 0 and e > elements[i - 1]) or (not is_left and i < last and e > elements[i + 1])
            ):
                k, pos = e, i
        if k is None:
            return
        swap = pos - 1 if left[k] else pos + 1
        elements[pos], elements[swap] = elements[swap], k
        for i in range(length):
            if elements[i] > k:
                left[elements[i]] = not left[elements[i]]


def _too_complex(detail: str) -> InputError:
    return InputError(f"refusing to canonicalize: {detail} (hostile or pathological blank nodes)", reason="canonicalization_too_complex")


def _require_utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the dataset holds text that is not valid Unicode (a lone surrogate)", reason="not_utf8") from None


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(_require_utf8(text)).hexdigest()


class _Canonicalizer:
    def __init__(self, quads: list[Quad], max_work: int, check_order: bool) -> None:
        self.quads = quads
        self.work_left = max_work
        self.check_order = check_order
        self.canonical = _Issuer(C14N_PREFIX)
        self.first_degree: dict[str, str] = {}
        # blank node -> the quads it occurs in, once per position it occurs at (as pyld counts)
        self.bnode_quads: dict[str, list[Quad]] = {}
        add = self.bnode_quads.setdefault
        for q in quads:
            s, _, o, g = q
            if s[:2] == "_:":
                add(s, []).append(q)
            if o[:2] == "_:":
                add(o, []).append(q)
            if g[:2] == "_:":
                add(g, []).append(q)

    def charge(self, units: int) -> None:
        self.work_left -= units
        if self.work_left < 0:
            raise _too_complex("the Hash N-Degree Quads work is over its budget")

    # 4.6 Hash First Degree Quads
    def hash_first_degree(self, bnode: str) -> str:
        cached = self.first_degree.get(bnode)
        if cached is not None:
            return cached
        lines = []
        for s, p, o, g in self.bnode_quads[bnode]:
            if s[:2] == "_:":
                s = "_:a" if s == bnode else "_:z"
            if o[:2] == "_:":
                o = "_:a" if o == bnode else "_:z"
            if g[:2] == "_:":
                g = "_:a" if g == bnode else "_:z"
            lines.append(f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n")
        lines.sort()
        if self.check_order:
            _check_order(lines)
        digest = self.first_degree[bnode] = _sha256_hex("".join(lines))
        return digest

    # 4.7 Hash Related Blank Node
    def hash_related(self, related: str, predicate: str, issuer: _Issuer, position: str) -> str:
        label = self.canonical.ids.get(related) or issuer.ids.get(related) or self.hash_first_degree(related)
        return _sha256_hex(position + (predicate if position != "g" else "") + label)

    # 4.8 Hash N-Degree Quads
    def hash_n_degree(self, bnode: str, issuer: _Issuer, depth: int) -> tuple[str, _Issuer]:
        if depth > MAX_DEPTH:
            raise _too_complex("the Hash N-Degree Quads recursion is too deep")
        self.charge(1)
        related_by_hash: dict[str, list[str]] = {}
        for s, p, o, g in self.bnode_quads[bnode]:
            for component, position in ((s, "s"), (o, "o"), (g, "g")):
                if component[:2] == "_:" and component != bnode:
                    self.charge(1)
                    related_by_hash.setdefault(self.hash_related(component, p, issuer, position), []).append(component)
        data = hashlib.sha256()
        for related_hash in sorted(related_by_hash):
            data.update(related_hash.encode("ascii"))
            blank_nodes = related_by_hash[related_hash]
            if math.factorial(min(len(set(blank_nodes)), 20)) > self.work_left:
                raise _too_complex(f"{len(blank_nodes)} blank nodes cannot be told apart")
            chosen_path = ""
            chosen_issuer: _Issuer | None = None
            for permutation in _permutations(blank_nodes):
                self.charge(1)
                issuer_copy = issuer.copy()
                path = ""
                recursion: list[str] = []
                for related in permutation:
                    label = self.canonical.ids.get(related)
                    if label is not None:
                        path += label
                    else:
                        if related not in issuer_copy.ids:
                            recursion.append(related)
                        path += issuer_copy.issue(related)
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        break
                else:
                    for related in recursion:
                        result_hash, result_issuer = self.hash_n_degree(related, issuer_copy, depth + 1)
                        path += issuer_copy.issue(related) + "<" + result_hash + ">"
                        issuer_copy = result_issuer
                        if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                            break
                    else:
                        if not chosen_path or path < chosen_path:
                            chosen_path = path
                            chosen_issuer = issuer_copy
            data.update(chosen_path.encode("ascii"))
            assert chosen_issuer is not None  # the first permutation is never skipped
            issuer = chosen_issuer
        return data.hexdigest(), issuer

    # 4.4 Canonicalization Algorithm
    def run(self) -> list[str]:
        canonical = self.canonical
        non_normalized = set(self.bnode_quads)
        simple = True
        hash_to_bnodes: dict[str, list[str]] = {}
        while simple:
            simple = False
            hash_to_bnodes = {}
            for bnode in sorted(non_normalized):
                hash_to_bnodes.setdefault(self.hash_first_degree(bnode), []).append(bnode)
            for digest in sorted(hash_to_bnodes):
                group = hash_to_bnodes[digest]
                if len(group) > 1:
                    continue
                canonical.issue(group[0])
                non_normalized.discard(group[0])
                del hash_to_bnodes[digest]
                simple = True
        for digest in sorted(hash_to_bnodes):
            results = []
            for bnode in hash_to_bnodes[digest]:
                if bnode in canonical.ids:
                    continue
                issuer = _Issuer("_:b")
                issuer.issue(bnode)
                results.append(self.hash_n_degree(bnode, issuer, 0))
            results.sort(key=lambda r: r[0])
            for _, issuer in results:
                for existing in issuer.ids:
                    canonical.issue(existing)
        ids = canonical.ids
        lines = []
        for s, p, o, g in self.quads:
            if s[:2] == "_:":
                s = ids[s]
            if o[:2] == "_:":
                o = ids[o]
            if g[:2] == "_:":
                g = ids[g]
            lines.append(f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n")
        lines.sort()
        if self.check_order:
            _check_order(lines)
        return lines


def canonical_lines(quads: Iterable[Quad], *, max_work: int = MAX_WORK, portable: bool = False) -> list[str]:
    """The sorted canonical N-Quads lines of the dataset ``quads`` (duplicates count once)."""
    unique = list(dict.fromkeys(quads))
    check_order = check_portable(unique) if portable else False
    try:
        return _Canonicalizer(unique, max_work, check_order).run()
    except RecursionError:  # MAX_DEPTH keeps clear of the limit, unless the caller is deep already
        raise _too_complex("the Hash N-Degree Quads recursion is too deep") from None


def canonicalize(quads: Iterable[Quad], *, max_work: int = MAX_WORK, portable: bool = False) -> str:
    """RDFC-1.0 canonical N-Quads of the dataset ``quads``. InputError ``canonicalization_too_complex``
    beyond ``max_work``; with ``portable``, InputError ``rdf_not_portable`` as described above."""
    text = "".join(canonical_lines(quads, max_work=max_work, portable=portable))
    if not text.isascii():
        _require_utf8(text)  # a lone surrogate is refused here, not in a caller's encode()
    return text


def canonicalize_nquads(text: str, *, max_work: int = MAX_WORK, portable: bool = False) -> str:
    """:func:`canonicalize` of N-Quads text."""
    return canonicalize(parse(text), max_work=max_work, portable=portable)

"""A canonicalization template's N-Quads kept on disk, so a new process need not run pyld again.

The template path of :mod:`anchor.core.jsonld` converts each template (a document with its
per-recipient values swapped for sentinels) to N-Quads with pyld once, then serves every document
of that shape without it. In a one-shot ``anchor verify`` that one conversion is almost all of
the signature check: importing pyld (~70 ms) and running it (~10 ms), for quads that are the
same on every run. They are kept here, under the schema validator's cache directory
(``$ANCHOR_CACHE_DIR``, default ``~/.cache/anchor``), one file per template.

The name of an entry is a SHA-256 of everything the quads depend on: the template document
(its exact ``marshal`` bytes, which tell ``true``, ``1`` and ``1.0`` apart), the documents the
context loader serves (URL and content), pyld's version, the Python version (pyld's IRI checks
use ``re``'s Unicode tables), the code of anchor's own conversion (``anchor.core.jsonld``, whose
``to_quads`` adds safe mode, and ``anchor.core.rdfc``, which spells literals) and :data:`FORMAT`.
Change any of them and the old entry is simply never asked for again.

What is read is checked, never trusted blindly: a header with the entry's name and the SHA-256 of
the body, then the body, the quads as a JSON array of 4-string arrays in N-Quads term spelling.
Anything else (unreadable, truncated, altered, another shape) is a miss: pyld runs and the entry
is written again, atomically (temporary file, then rename). At most :data:`MAX_ENTRIES` entries
are kept (the least recently used go first) and an entry over :data:`MAX_ENTRY_BYTES` is not
written, so documents from strangers (a verification service) cannot fill the disk. An
unwritable directory only costs the conversion.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchor.schemas.validator import cache_dir

FORMAT = 1
PREFIX = "template-quads-"
SUFFIX = ".json"
MAX_ENTRIES = 256
MAX_ENTRY_BYTES = 256 * 1024
# The modules whose code shapes the quads besides pyld: the cache forgets them when they change.
CONVERTER_MODULES = ("anchor.core.jsonld", "anchor.core.rdfc")

_VERSION = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.M)

Quad = tuple[str, str, str, str]


def installed_pyld_version() -> str | None:
    """pyld's ``__version__``, read from its ``__about__.py`` without importing pyld (importing it
    is what the cache saves); None when it cannot be read (then nothing is cached)."""
    try:
        spec = importlib.util.find_spec("pyld")  # finds the package, does not run it
        if spec is None or not spec.submodule_search_locations:
            return None
        for location in spec.submodule_search_locations:
            about = Path(location) / "__about__.py"
            if about.is_file():
                found = _VERSION.search(about.read_text("utf-8"))
                return found.group(1) if found else None
    except (ImportError, OSError, ValueError):
        pass
    return None


def converter_digest() -> str | None:
    """SHA-256 of the files of :data:`CONVERTER_MODULES` (source or bytecode, whatever was loaded);
    None when one cannot be read."""
    h = hashlib.sha256()
    try:
        for name in CONVERTER_MODULES:
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None) if module is not None else None
            if origin is None:
                spec = importlib.util.find_spec(name)
                origin = spec.origin if spec is not None else None
            if origin is None:
                return None
            data = Path(origin).read_bytes()
            h.update(b"%s %d\n" % (name.encode(), len(data)))
            h.update(data)
    except (ImportError, OSError, ValueError):
        return None
    return h.hexdigest()


def _shape_ok(quads: Any) -> bool:
    """A list of quads, each four strings in N-Quads term spelling (subject an IRI or a blank node,
    predicate an IRI, object an IRI, a blank node or a literal, graph "" or an IRI or a blank node)."""
    if type(quads) is not list:
        return False
    for q in quads:
        if type(q) is not list or len(q) != 4 or not all(type(t) is str for t in q):
            return False
        s, p, o, g = q
        if not (s[:1] == "<" and s[-1:] == ">" or s[:2] == "_:" and len(s) > 2):
            return False
        if not (p[:1] == "<" and p[-1:] == ">" and len(p) > 2):
            return False
        if not (o[:1] == "<" and o[-1:] == ">" or o[:2] == "_:" and len(o) > 2 or o[:1] == '"' and len(o) > 1):
            return False
        if not (g == "" or g[:1] == "<" and g[-1:] == ">" or g[:2] == "_:" and len(g) > 2):
            return False
    return True


class TemplateQuadsCache:
    """The template quads on disk (see the module doc). ``get``/``put`` never raise for I/O or
    bad entries; ``stats`` counts hits, misses (``bad``: an entry was there but refused) and writes.

    ``pyld_version`` and ``converter`` stand for the installed pyld's version and the digest of
    anchor's conversion code (read on first use when None): tests pass others to see the key move.
    """

    def __init__(self, directory: Path, *, pyld_version: str | None = None, converter: str | None = None,
                 max_entries: int = MAX_ENTRIES, max_entry_bytes: int = MAX_ENTRY_BYTES) -> None:
        self.directory = Path(directory)
        self.max_entries = max_entries
        self.max_entry_bytes = max_entry_bytes
        self._pyld_version = pyld_version
        self._converter = converter
        self._salt: bytes | None = None
        self._salt_read = False
        self.stats = {"hit": 0, "miss": 0, "bad": 0, "written": 0}

    def _key_salt(self) -> bytes | None:
        if not self._salt_read:
            pyld = self._pyld_version or installed_pyld_version()
            converter = self._converter or converter_digest()
            if pyld is not None and converter is not None:
                self._salt = json.dumps({"format": FORMAT, "pyld": pyld, "python": list(sys.version_info[:2]),
                                         "converter": converter}, sort_keys=True).encode()
            self._salt_read = True
        return self._salt

    def key(self, template: bytes, contexts: str) -> str | None:
        """The entry name for the template document's ``marshal`` bytes under the loader whose
        :attr:`~anchor.core.jsonld.ContextLoader.fingerprint` is ``contexts``; None: not cacheable."""
        salt = self._key_salt()
        if salt is None:
            return None
        h = hashlib.sha256()
        for part in (salt, contexts.encode("utf-8"), template):
            h.update(b"%d:" % len(part))
            h.update(part)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / f"{PREFIX}{key}{SUFFIX}"

    def get(self, template: bytes, contexts: str) -> list[Quad] | None:
        """The stored quads of the template, or None (no entry, or one that does not check out)."""
        key = self.key(template, contexts)
        if key is None:
            return None
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            self.stats["miss"] += 1
            return None
        quads = self._decode(data, key)
        if quads is None:
            self.stats["bad"] += 1
            return None
        self.stats["hit"] += 1
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        return quads

    @staticmethod
    def _decode(data: bytes, key: str) -> list[Quad] | None:
        head, newline, body = data.partition(b"\n")
        if not newline:
            return None
        try:
            header = json.loads(head)
            if (type(header) is not dict or header.get("format") != FORMAT or header.get("key") != key
                    or header.get("size") != len(body) or header.get("sha256") != hashlib.sha256(body).hexdigest()):
                return None
            quads = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return None
        if not _shape_ok(quads):
            return None
        return [(q[0], q[1], q[2], q[3]) for q in quads]

    def put(self, template: bytes, contexts: str, quads: Sequence[Quad]) -> None:
        """Store the quads pyld gave for the template (skipped when too large or unwritable)."""
        key = self.key(template, contexts)
        if key is None:
            return
        body = json.dumps([list(q) for q in quads], ensure_ascii=True, separators=(",", ":")).encode("ascii")
        if len(body) > self.max_entry_bytes:
            return
        header = json.dumps({"format": FORMAT, "key": key, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()},
                            sort_keys=True).encode("ascii")
        tmp_name: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix="." + PREFIX, suffix=".tmp", delete=False) as tmp:
                tmp_name = tmp.name
                tmp.write(header + b"\n" + body)
            os.replace(tmp_name, self.path(key))
            tmp_name = None
            self.stats["written"] += 1
        except OSError:
            return  # read-only cache: pyld runs each time
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
        self._prune()

    def _prune(self) -> None:
        """Keep the :attr:`max_entries` most recently used entries."""
        try:
            entries = []
            with os.scandir(self.directory) as it:
                for entry in it:
                    if entry.name.startswith(PREFIX) and entry.name.endswith(SUFFIX):
                        try:
                            entries.append((entry.stat().st_mtime_ns, entry.path))
                        except OSError:
                            continue
        except OSError:
            return
        if len(entries) <= self.max_entries:
            return
        entries.sort()
        for _, path in entries[:len(entries) - self.max_entries]:
            try:
                os.unlink(path)
            except OSError:
                pass  # another process pruned it first


_machine: dict[Path, TemplateQuadsCache] = {}


def machine_cache() -> TemplateQuadsCache:
    """The cache in this machine's cache directory (``$ANCHOR_CACHE_DIR`` or ``~/.cache/anchor``,
    as the schema validator's), one object per directory."""
    directory = cache_dir()
    found = _machine.get(directory)
    if found is None:
        found = _machine.setdefault(directory, TemplateQuadsCache(directory))
    return found

"""The official OB 3.0 JSON Schema compiled to Python once, and the compiled code cached.

``fastjsonschema.compile`` generates ~800 kB of Python from the schema and compiles it: ~0.4 s,
more than everything else a one-shot ``anchor verify`` does. The compiled code object is kept
like a ``.pyc``: marshalled under ``$ANCHOR_CACHE_DIR`` (default ``~/.cache/anchor``), named by the
SHA-256 of the generated source and the Python version, so a changed schema, fastjsonschema or
interpreter never loads stale code. An unwritable cache only costs the compile.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_FILE = "ob_v3p0_achievementcredential_schema.json"


def cache_dir() -> Path:
    """Where anchor keeps what it computes once per machine (this validator, template quads)."""
    explicit = os.environ.get("ANCHOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anchor"


def compiled_validator() -> Callable[[Any], Any]:
    """The fastjsonschema ``validate`` function for the shipped OB 3.0 schema."""
    import fastjsonschema

    schema = json.loads(resources.files("anchor.schemas").joinpath(SCHEMA_FILE).read_text())
    key = hashlib.sha256(json.dumps(schema, sort_keys=True).encode() + fastjsonschema.VERSION.encode()
                         + sys.version.encode()).hexdigest()[:32]
    path = cache_dir() / f"ob3-validator-{key}.marshal"
    cached: tuple[str, Any] | None = None
    try:
        cached = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    if cached is None:
        source = fastjsonschema.compile_to_code(schema)
        entry = re.search(r"^def (\w+)\(", source, re.M)
        assert entry is not None, "fastjsonschema generated no function"
        cached = (entry.group(1), compile(source, "<ob3 schema validator>", "exec"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(marshal.dumps(cached))
            os.replace(tmp.name, path)
        except OSError:
            pass  # read-only home: compile each time
    name, code = cached
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # our own generated validator, run as an import of it would be
    return namespace[name]  # type: ignore[no-any-return]

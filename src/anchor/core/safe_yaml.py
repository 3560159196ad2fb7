"""Parse untrusted YAML (achievement files) without letting it crash or exhaust the process.

A "billion laughs" alias bomb is a few hundred bytes that expand to gigabytes: anchors and aliases
are refused outright, as are tags outside the YAML core schema, duplicate keys and nesting past
:data:`~anchor.core.safe_input.MAX_DEPTH`. Refusals are :class:`~anchor.core.errors.InputError`
with reasons ``yaml_alias``, ``yaml_tag``, ``duplicate_key``, ``too_deep``, ``too_large``,
``not_utf8`` or ``invalid_yaml`` (see :mod:`anchor.core.safe_input` for JSON). Kept apart from the
JSON half so that reading a badge never imports PyYAML. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any, NoReturn

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, Event, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node

from anchor.core.safe_input import MAX_DEPTH, MAX_YAML_BYTES, _refuse, _to_bytes_and_str

_YAML = "tag:yaml.org,2002:"
#: Tags that may be written explicitly (``!!str 5``): the YAML core schema, plus the
#: non-specific ``!``.
_CORE_TAGS = frozenset({"!", *(_YAML + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))})
#: Tags a node may end up with after implicit resolution: the core schema, plus the plain
#: timestamps (``2024-05-01``) that :func:`yaml.safe_load` also resolves.
_RESOLVED_TAGS = _CORE_TAGS | {_YAML + "timestamp"}


def _at(mark: Any) -> str:
    if mark is None:
        return "at an unknown position"
    return f"at line {mark.line + 1}, column {mark.column + 1}"


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]  # (Any without types-PyYAML)
    """SafeLoader that refuses anchors, aliases, non-core tags, duplicate keys and deep nesting."""

    def __init__(self, stream: str, *, max_depth: int, what: str) -> None:
        super().__init__(stream)
        self._max_depth = max_depth
        self._what = what
        self._depth = 0

    def _too_deep(self, mark: Any) -> NoReturn:
        _refuse(
            f"{self._what} nests sequences/mappings too deeply: found more than {self._max_depth} levels "
            f"{_at(mark)}, expected at most {self._max_depth}",
            "too_deep",
        )

    # Scanner: stop a long run of "[[[[..." at the first level too many, instead of tokenizing
    # the whole flow first (each flow level is a collection, so this never refuses what the
    # composer would accept).
    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= self._max_depth:
            self._too_deep(self.get_mark())
        super().fetch_flow_collection_start(token_class)

    # Composer: every node passes through here before its children are composed.
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.check_event()  # = peek_event(), which types-PyYAML leaves untyped
        event: Event | None = self.current_event
        if isinstance(event, AliasEvent):
            _refuse(
                f"{self._what} uses the YAML alias *{event.anchor} {_at(event.start_mark)}; expected plain "
                "values (anchors and aliases are refused: they can expand to gigabytes)",
                "yaml_alias",
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            _refuse(
                f"{self._what} uses the YAML anchor &{event.anchor} {_at(event.start_mark)}; expected plain "
                "values (anchors and aliases are refused: they can expand to gigabytes)",
                "yaml_alias",
            )
        tag = event.tag if isinstance(event, (ScalarEvent, CollectionStartEvent)) else None
        if tag is not None and tag not in _CORE_TAGS:
            _refuse(
                f"{self._what} uses the YAML tag {tag} {_at(event.start_mark if event else None)}; expected only "
                "core-schema types (str, int, float, bool, null, seq, map)",
                "yaml_tag",
            )
        nested = isinstance(event, CollectionStartEvent)
        if nested:
            self._depth += 1
            if self._depth > self._max_depth:
                self._too_deep(event.start_mark if event is not None else None)
        try:
            node = super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1
        if node is not None and node.tag not in _RESOLVED_TAGS:
            merge = node.tag == _YAML + "merge"
            found = "the merge key <<" if merge else f"a plain scalar that resolves to {node.tag}"
            _refuse(
                f"{self._what} uses {found} {_at(node.start_mark)}; expected only core-schema types "
                "(str, int, float, bool, null, seq, map) or a plain timestamp",
                "yaml_tag",
            )
        return node

    # Constructor: a repeated key would silently overwrite the first value.
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeConstructor refuses it ("found unhashable key")
            if key in seen:
                shown = json.dumps(key) if isinstance(key, str) else repr(key)
                _refuse(
                    f"{self._what} has a duplicate key {shown} {_at(key_node.start_mark)}: expected each key "
                    "at most once per mapping",
                    "duplicate_key",
                )
            seen.add(key)
        mapping: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_yaml(
    text: str,
    *,
    max_bytes: int = MAX_YAML_BYTES,
    max_depth: int = MAX_DEPTH,
    what: str = "document",
) -> Any:
    """Parse one untrusted YAML document like :func:`yaml.safe_load`, minus its dangers.

    Refused: more than ``max_bytes`` bytes of UTF-8 (``too_large``); text UTF-8 cannot encode
    (``not_utf8``); any anchor or alias (``yaml_alias``); explicit tags outside the core schema
    and implicit merge keys (``yaml_tag``); repeated mapping keys (``duplicate_key``); nesting
    deeper than ``max_depth`` (``too_deep``, found while composing, so nothing deeper is ever
    built); anything else PyYAML rejects (``invalid_yaml``, with line and column). Plain
    timestamps still become :mod:`datetime` values, as with ``yaml.safe_load``.
    """
    _to_bytes_and_str(text, max_bytes, what)
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text, max_depth=max_depth, what=what)  # checks printable characters
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        context, problem = exc.context or "", exc.problem or ""
        if context and problem:  # "while parsing a flow sequence, expected ',' or ']', but got ..."
            problem = context + (" " if problem.startswith("but ") else ", ") + problem
        problem = problem or context or "malformed YAML"
        _refuse(f"{what} is not valid YAML: {problem} {_at(exc.problem_mark or exc.context_mark)}", "invalid_yaml")
    except yaml.reader.ReaderError as exc:
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        _refuse(
            f"{what} is not valid YAML: found the character #x{char:04x} at offset {exc.position}, "
            "expected printable text",
            "invalid_yaml",
        )
    except yaml.YAMLError as exc:
        _refuse(f"{what} is not valid YAML: {exc}", "invalid_yaml")
    finally:
        if loader is not None:
            loader.dispose()

"""The OpenAPI 3.1 document, generated from the routes themselves.

Each view carries its operation metadata (``@operation(...)``); :func:`build` walks the app's URL
map, so a route without documentation, or documentation without a route, cannot exist (a test
checks both directions). No schema library sits on the request path: this costs nothing per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from anchor import __version__
from anchor.api.limits import MAX_BODY_BYTES, MAX_URL_BYTES

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM = {"$ref": "#/components/schemas/Problem"}


# (description, schema) answered as JSON (problem+json for PROBLEM), or (description, schema, media types).
ResponseSpec = tuple[str, dict[str, Any] | None] | tuple[str, dict[str, Any] | None, tuple[str, ...]]


def operation(*, summary: str, tag: str, responses: dict[int, ResponseSpec],
              parameters: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
              description: str | None = None) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary, "tag": tag, "responses": responses, "parameters": parameters or [],
            "body": body, "description": description,
        }
        return fn

    return mark


def path_param(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def query_param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or {"type": "string"}}


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def documented_rules(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if spec is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((_path(rule.rule), method.lower(), spec))
    return out


def build(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, spec in documented_rules(app):
        op: dict[str, Any] = {"summary": spec["summary"], "tags": [spec["tag"]], "operationId": f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", "")}
        if spec["description"]:
            op["description"] = spec["description"]
        if spec["parameters"]:
            op["parameters"] = spec["parameters"]
        if spec["body"]:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec["body"]}}}
        op["responses"] = {}
        responses = {**spec["responses"], 414: (f"Request target (path and query) over {MAX_URL_BYTES:,} bytes", PROBLEM)}
        for status, (description, schema, *media) in sorted(responses.items()):
            types = media[0] if media else ("application/problem+json" if schema is PROBLEM else "application/json",)
            entry: dict[str, Any] = {"description": description}
            if schema is not None:
                entry["content"] = {m: {"schema": schema} for m in types}
            op["responses"][str(status)] = entry
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "anchor verification service",
            "version": __version__,
            "description": "Proofs, status and verification of Open Badges 3.0 credentials anchored in a CredentialRegistry. "
                           "Every answer can be re-checked against the chain with `anchor verify`. "
                           f"Limits: a request target (path and query string, as sent) of at most {MAX_URL_BYTES:,} bytes "
                           f"(else 414), a request body of at most {MAX_BODY_BYTES:,} bytes (else 413). Every error is an "
                           "RFC 9457 problem document (application/problem+json) with a stable `reason` code.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": SCHEMAS},
    }


_HEX32 = {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}
_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "instance": {"type": "string"},
                       "reason": {"type": "string", "pattern": "^[a-z0-9_]+$",
                                  "description": "A stable snake_case code for clients to match on"}},
        "required": ["type", "title", "status", "detail", "reason"],
    },
    "AnchorReceipt": {
        "type": "object",
        "description": "The decoded proofValue of the anchor proof: where the credential is anchored and its Merkle path",
        "properties": {
            "chainId": {"type": "integer"}, "registry": _ADDRESS, "issuerAddress": _ADDRESS, "merkleRoot": _HEX32,
            "leafIndex": {"type": "integer", "minimum": 0}, "leafCount": {"type": "integer", "minimum": 1},
            "path": {"type": "array", "maxItems": 64, "items": {"type": "object", "maxProperties": 1, "minProperties": 1,
                     "additionalProperties": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}},
            "transactionHash": _HEX32, "blockNumber": {"type": "integer"},
        },
        "required": ["chainId", "registry", "issuerAddress", "merkleRoot", "leafIndex", "leafCount", "path"],
    },
    "AnchorProof": {
        "type": "object",
        "description": "The proof-set entry badges carry: a DataIntegrityProof with cryptosuite anchor-merkle-2026",
        "properties": {
            "type": {"const": "DataIntegrityProof"}, "cryptosuite": {"const": "anchor-merkle-2026"},
            "created": {"type": "string"}, "verificationMethod": {"type": "string"},
            "proofPurpose": {"const": "assertionMethod"}, "proofValue": {"type": "string", "pattern": "^u[A-Za-z0-9_-]+$"},
        },
        "required": ["type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"],
    },
    "ProofResponse": {
        "type": "object",
        "properties": {"credentialId": {"type": "string"}, "proof": {"$ref": "#/components/schemas/AnchorProof"},
                       "receipt": {"$ref": "#/components/schemas/AnchorReceipt"}},
        "required": ["credentialId", "proof", "receipt"],
    },
    "Check": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "status": {"enum": ["passed", "failed", "skipped"]},
                       "reason": {"type": ["string", "null"]}, "message": {"type": "string"}},
        "required": ["name", "status", "reason", "message"],
    },
    "VerificationReport": {
        "type": "object",
        "properties": {
            "verdict": {"enum": ["valid", "invalid", "revoked", "expired", "not_yet_valid", "pending", "untrusted_registry", "unknown"]},
            "summary": {"type": "string"},
            "headline": {"type": "string", "description": "The verdict in one plain sentence, dates in words: \"Verified: issued by "
                         "Demo University on 28 November 2026, recorded on chain 31337, not revoked\", \"Revoked on 2 December 2026 "
                         "(reason: issued in error)\", \"Not valid: this badge was altered after it was issued\""},
            "credentialId": {"type": ["string", "null"]}, "checkedAt": {"type": "string"},
            "checks": {"type": "array", "items": {"$ref": "#/components/schemas/Check"}},
            "anchor": {"type": ["object", "null"]}, "revocation": {"type": ["object", "null"]},
            "notes": {"type": "array", "items": {"type": "string"}},
            "format": {"enum": ["json", "jwt", "png", "svg", None],
                       "description": "The form the badge was read from: JSON, VC-JWT, baked PNG or baked SVG"},
        },
        "required": ["verdict", "summary", "headline", "checks", "checkedAt", "format"],
    },
    "StackVerificationReport": {
        "type": "object",
        "description": "The report on a stacked badge sent with its components (a VerifiablePresentation): the stack's own "
                       "report, each component's (matched by id, checked against the digest the stack pins, verified on chain), "
                       "and the combined verdict (a revoked component makes the stack `revoked`; `reason` names why)",
        "properties": {
            "verdict": {"enum": ["valid", "invalid", "revoked", "expired", "not_yet_valid", "pending", "untrusted_registry", "unknown"]},
            "summary": {"type": "string"}, "headline": {"type": "string"}, "reason": {"type": ["string", "null"]},
            "stack": {"$ref": "#/components/schemas/VerificationReport"},
            "components": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "digestMultibase": {"type": "string"},
                "status": {"type": "string"}, "verdict": {"type": ["string", "null"]}, "message": {"type": "string"},
                "report": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/VerificationReport"}]}},
                "required": ["id", "status", "message"]}},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["verdict", "summary", "headline", "stack", "components"],
    },
    "CredentialStatus": {
        "type": "object",
        "properties": {
            "credentialId": {"type": "string"},
            "status": {"enum": ["active", "revoked", "expired", "not_yet_valid", "pending", "not_on_chain"]},
            "validFrom": {"type": "string"}, "validUntil": {"type": ["string", "null"]},
            "anchor": {"type": ["object", "null"]}, "revocation": {"type": ["object", "null"]},
            "checkedAt": {"type": "string"}, "block": {"type": ["integer", "null"]},
        },
        "required": ["credentialId", "status"],
    },
    "Batch": {
        "type": "object",
        "properties": {
            "merkleRoot": _HEX32, "issuer": _ADDRESS, "leafCount": {"type": "integer"}, "anchoredAt": {"type": "string"},
            "blockNumber": {"type": "integer"}, "revoked": {"type": "boolean"}, "revokedAt": {"type": ["string", "null"]},
            "chainId": {"type": "integer"}, "registry": _ADDRESS,
        },
        "required": ["merkleRoot", "issuer", "leafCount", "blockNumber", "revoked"],
    },
    "Issuer": {
        "type": "object",
        "properties": {"address": _ADDRESS, "id": {"type": "integer"}, "active": {"type": "boolean"}, "profileURI": {"type": "string"},
                       "addedAt": {"type": "string"}, "removedAt": {"type": ["string", "null"]}},
        "required": ["address", "id", "active", "profileURI"],
    },
    "Issuers": {"type": "object", "properties": {"issuers": {"type": "array", "items": {"$ref": "#/components/schemas/Issuer"}},
                                                 "registry": _ADDRESS, "chainId": {"type": "integer"}}},
    "Liveness": {"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]},
    "DependencyCheck": {
        "type": "object",
        "description": "One dependency's readiness; `reason` (when not ok) is a stable code such as "
                       "database_unavailable, schema_missing, schema_version_mismatch, chain_unavailable, registry_code_mismatch",
        "properties": {"ok": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["ok"],
    },
    "Readiness": {
        "type": "object",
        "properties": {"status": {"const": "ready"}, "database": {"$ref": "#/components/schemas/DependencyCheck"},
                       "chain": {"$ref": "#/components/schemas/DependencyCheck"}, "tookMs": {"type": "number"}},
        "required": ["status", "database", "chain"],
    },
    "NotReady": {
        "allOf": [{"$ref": "#/components/schemas/Problem"}],
        "type": "object",
        "properties": {"failed": {"type": "array", "items": {"enum": ["database", "chain"]}, "minItems": 1},
                       "checks": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/DependencyCheck"}}},
        "required": ["failed", "checks"],
    },
    "Credential": {"type": "object", "description": "An Open Badges 3.0 AchievementCredential with its anchor proof"},
    "StatusListCredential": {
        "type": "object",
        "description": "A W3C BitstringStatusListCredential (Bitstring Status List v1.0) with a Data Integrity proof",
        "properties": {
            "@context": {"type": "array", "items": {"type": "string"}}, "id": {"type": "string"},
            "type": {"type": "array", "items": {"type": "string"}, "contains": {"const": "BitstringStatusListCredential"}},
            "issuer": {"type": ["string", "object"]}, "validFrom": {"type": "string"}, "validUntil": {"type": "string"},
            "credentialSubject": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "type": {"const": "BitstringStatusList"},
                               "statusPurpose": {"const": "revocation"}, "encodedList": {"type": "string", "pattern": "^u[A-Za-z0-9_-]+$"}},
                "required": ["type", "statusPurpose", "encodedList"],
            },
            "proof": {"type": ["object", "array"]},
        },
        "required": ["@context", "id", "type", "issuer", "credentialSubject"],
    },
}

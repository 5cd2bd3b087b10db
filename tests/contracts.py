"""Check concrete requests and responses against LaunchDarkly's and Sentry's OpenAPI 3.0 documents.

The documents are the trimmed copies in tests/contracts/ (the operations ldsentry's clients and its
emulator use, and the schemas they reference), generated from the vendors' full documents by
scripts/trim_contracts.py; tests/test_contracts_fresh.py checks that they are current. They are
loaded and translated once.

OpenAPI 3.0 schemas are not quite JSON Schema: `nullable` has no JSON Schema meaning and
`example`/`discriminator` are annotations. `json_schema()` translates them and rewrites
`#/components/schemas/X` references to `#/definitions/X`, then jsonschema's Draft 4 validator
(the dialect OpenAPI 3.0 builds on: boolean `exclusiveMinimum`, `$ref` siblings ignored) checks
instances.

Usage:
    op = validate_request("launchdarkly", "GET", "/api/v2/metrics/default", {"limit": "50"})
    validate_response("sentry", "GET", "/api/0/organizations/acme/projects/", 200, body)
    validate_httpx_request("launchdarkly", respx_call.request)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
from jsonschema.exceptions import best_match
from support import load_script

NO_BODY: Any = object()  # "the request has no body", distinct from a JSON null body

# OpenAPI-only schema keywords that JSON Schema does not know (annotations; dropped).
_ANNOTATIONS = frozenset({"nullable", "example", "examples", "discriminator", "xml", "externalDocs"})


trim_contracts = load_script("trim_contracts")  # it writes the trimmed documents


class ContractError(AssertionError):
    """A request or response does not match the OpenAPI document."""


@functools.cache
def load_spec(name: str) -> dict[str, Any]:
    """The parsed OpenAPI document `launchdarkly` or `sentry` (cached)."""
    files: dict[str, str] = trim_contracts.SPEC_FILES
    if name not in files:
        raise ValueError(f"unknown contract {name!r}; expected one of {sorted(files)}")
    path: Path = trim_contracts.TARGET_DIR / files[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run {trim_contracts.SCRIPT} to generate it")
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def json_schema(node: Any) -> Any:
    """Translate one OpenAPI 3.0 schema into JSON Schema (Draft 4), recursively."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = trim_contracts.map_subschemas(node, json_schema, _ANNOTATIONS.__contains__)
    if isinstance(out.get("$ref"), str):
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if node.get("nullable") is True:
        # OpenAPI 3.0 `nullable: true` = "this schema, or null"; wrapping also covers $ref/allOf/oneOf
        # nodes, where adding "null" to `type` would not be enough.
        return {"anyOf": [{"type": "null"}, out]}
    return out


@functools.cache
def _definitions(name: str) -> dict[str, Any]:
    schemas = load_spec(name).get("components", {}).get("schemas", {})
    return {key: json_schema(value) for key, value in schemas.items()}


def _resolve(name: str, node: Any) -> Any:
    """Follow a local `$ref` (parameters, requestBodies, responses) inside the document."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
        pointer = node["$ref"]
        if not pointer.startswith("#/"):
            raise ContractError(f"unsupported external $ref {pointer!r}")
        target: Any = load_spec(name)
        for part in pointer[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
        seen += 1
    return node


_validators: dict[tuple[str, int], Any] = {}


def validate_schema(name: str, schema: Mapping[str, Any], instance: Any, what: str) -> None:
    """Validate an instance against an OpenAPI schema from document `name`; raise ContractError."""
    key = (name, id(schema))
    validator = _validators.get(key)
    if validator is None:
        root = {"allOf": [json_schema(dict(schema))], "definitions": _definitions(name)}
        validator = jsonschema.Draft4Validator(root)
        _validators[key] = validator
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise ContractError(f"{what}: {error.message} at {where}")


@dataclass(frozen=True)
class Operation:
    """One matched operation: its template, operationId, merged parameters and path values."""

    spec: str
    method: str
    template: str
    operation: Mapping[str, Any]
    parameters: tuple[Mapping[str, Any], ...]
    path_values: Mapping[str, str]

    @property
    def operation_id(self) -> str:
        """The operation's `operationId` (or its method and template when it has none)."""
        return str(self.operation.get("operationId", f"{self.method} {self.template}"))

    def query_parameters(self) -> dict[str, Mapping[str, Any]]:
        """Declared query parameters by name."""
        return {p["name"]: p for p in self.parameters if p.get("in") == "query"}


@functools.cache
def _templates(name: str) -> tuple[tuple[str, re.Pattern[str], tuple[str, ...], int], ...]:
    compiled = []
    for template in load_spec(name)["paths"]:
        names = tuple(re.findall(r"{([^}/]+)}", template))
        pattern = "".join(
            "([^/]+)" if re.fullmatch(r"{[^}/]+}", part) else re.escape(part)
            for part in re.split(r"({[^}/]+})", template)
        )
        literal = len(re.sub(r"{[^}/]+}", "", template))
        compiled.append((template, re.compile(pattern + r"\Z"), names, literal))
    return tuple(compiled)


def match_operation(name: str, method: str, path: str) -> Operation:
    """The operation for a concrete method and URL path; prefers the most literal template."""
    candidates = []
    for template, pattern, names, literal in _templates(name):
        found = pattern.match(path)
        if found:
            candidates.append(
                (len(names), -literal, template, dict(zip(names, map(unquote, found.groups()), strict=True)))
            )
    if not candidates:
        raise ContractError(f"{name}: no path template matches {path!r}")
    candidates.sort(key=lambda c: (c[0], c[1]))
    for _, _, template, values in candidates:
        item = load_spec(name)["paths"][template]
        operation = item.get(method.lower())
        if operation is None:
            continue
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in [*item.get("parameters", []), *operation.get("parameters", [])]:
            param = _resolve(name, raw)
            merged[(param["name"], param["in"])] = param
        return Operation(name, method.upper(), template, operation, tuple(merged.values()), values)
    templates = ", ".join(c[2] for c in candidates)
    raise ContractError(f"{name}: {method.upper()} is not an operation of {templates}")


def _coerce(raw: str, schema: Mapping[str, Any]) -> Any:
    """Turn a query-string value into the JSON type its parameter schema expects (best effort)."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    for keyword in ("anyOf", "oneOf"):
        for option in schema.get(keyword, []):
            value = _coerce(raw, option)
            if value is not raw and not isinstance(value, str):
                return value
    return raw


def _query_items(query: Mapping[str, Any] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if query is None:
        return []
    if isinstance(query, Mapping):
        items: list[tuple[str, str]] = []
        for key, value in query.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            items.extend((key, str(v)) for v in values)
        return items
    return [(str(k), str(v)) for k, v in query]


def _request_body_schema(name: str, operation: Operation) -> tuple[Mapping[str, Any] | None, bool]:
    body = _resolve(name, operation.operation.get("requestBody"))
    if not isinstance(body, dict):
        return None, False
    content = body.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), {})
    return media.get("schema"), bool(body.get("required"))


def validate_request(
    name: str,
    method: str,
    path: str,
    query: Mapping[str, Any] | Iterable[tuple[str, str]] | None = None,
    body: Any = NO_BODY,
) -> Operation:
    """Check path, method, query parameter names/values and JSON body; return the operation."""
    op = match_operation(name, method, path)
    label = f"{name} {op.method} {op.template} ({op.operation_id})"
    for param in op.parameters:
        if param.get("in") == "path" and "schema" in param:
            value = op.path_values.get(param["name"])
            validate_schema(name, param["schema"], value, f"{label}: path parameter {param['name']!r}")
    declared = op.query_parameters()
    grouped: dict[str, list[str]] = {}
    for key, value in _query_items(query):
        grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        param = declared.get(key)
        if param is None:
            raise ContractError(f"{label}: query parameter {key!r} is not declared (declared: {sorted(declared)})")
        schema = param.get("schema", {})
        if schema.get("type") == "array":
            instance: Any = [_coerce(v, schema.get("items", {})) for v in values]
        elif len(values) > 1:
            raise ContractError(f"{label}: query parameter {key!r} is repeated but is not an array")
        else:
            instance = _coerce(values[0], schema)
        validate_schema(name, schema, instance, f"{label}: query parameter {key!r}")
    missing = [key for key, p in declared.items() if p.get("required") and key not in grouped]
    if missing:
        raise ContractError(f"{label}: required query parameters missing: {missing}")
    schema, required = _request_body_schema(name, op)
    if body is NO_BODY:
        if required:
            raise ContractError(f"{label}: a request body is required")
    elif schema is None:
        raise ContractError(f"{label}: sends a body but the operation declares none")
    else:
        validate_schema(name, schema, body, f"{label}: request body")
    return op


def validate_httpx_request(name: str, request: Any) -> Operation:
    """Validate an `httpx.Request` (as captured by respx) against document `name`."""
    content = request.content
    body = json.loads(content) if content else NO_BODY
    return validate_request(name, request.method, request.url.path, request.url.params.multi_items(), body)


def response_schema(name: str, method: str, path: str, status: int) -> Mapping[str, Any] | None:
    """The JSON schema declared for a response status (exact, `2XX`-style or `default`), or None."""
    op = match_operation(name, method, path)
    responses = op.operation.get("responses", {})
    declared = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if declared is None:
        raise ContractError(
            f"{name} {op.method} {op.template}: status {status} is not declared (declared: {sorted(responses)})"
        )
    declared = _resolve(name, declared)
    content = declared.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return media.get("schema") if isinstance(media, dict) else None


def validate_response(name: str, method: str, path: str, status: int, body: Any) -> None:
    """Validate a response body against the declared schema for its status (no schema: anything goes)."""
    schema = response_schema(name, method, path, status)
    if schema is not None:
        op = match_operation(name, method, path)
        validate_schema(name, schema, body, f"{name} {op.method} {op.template} response {status}")


def validate_all(name: str, requests: Sequence[Any], allow: Iterable[tuple[str, str]] = ()) -> list[Operation]:
    """Validate captured requests; `allow` lists (METHOD, path) pairs known to be outside the document."""
    allowed = set(allow)
    return [
        validate_httpx_request(name, request)
        for request in requests
        if (request.method, request.url.path) not in allowed
    ]

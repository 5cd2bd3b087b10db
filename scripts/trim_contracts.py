"""Generate tests/contracts/*-openapi.json, the trimmed OpenAPI documents the contract tests read.

    python scripts/trim_contracts.py           # rewrite tests/contracts/{launchdarkly,sentry}-openapi.json
    python scripts/trim_contracts.py --check   # exit 1 when a committed copy is out of date (tests do this)

Input: LaunchDarkly's and Sentry's full OpenAPI 3.0 documents (2-4 MB each), `launchdarkly-openapi.json`
and `sentry-openapi.json` in the folder named by LDSENTRY_CONTRACTS_DIR, else `../shared/contracts/`
beside the repository. A fresh clone does not have them and does not need them: the tests read the
trimmed copies committed under tests/contracts/.

What a trimmed copy keeps:
- the operations listed in tests/contracts/operations.toml (service, method, path template, reason), with
  their `operationId`, parameters, request body and responses;
- every component (schema, parameter, request body, response) they reference, transitively, plus the
  schemas operations.toml lists by name for tests that use them directly;
- the first example of each 2xx response: tests use the vendors' own sample responses as fixtures.
Descriptions, summaries, titles, tags, security, servers, examples, `deprecated`, `discriminator`,
`externalDocs`, `xml` and `x-` extensions go: validation does not read them. A property that happens to
be named like one of them (MetricPost's `description`) stays.

The overlay, tests/contracts/overlay.json, is merged into each full document before trimming (so the
committed copies already hold it and tests/contracts.py needs no merge step). It holds what the APIs
gained after the copied documents were published (e.g. MetricPost's `analysisUnits`), each entry with
the source that shows it: {"service", "path": a JSON pointer, "add": {new keys} or "append": [new list
values], "source"}. When a newer full document already has an entry's key or value, trimming fails
and says which to delete from the overlay.

Output is deterministic (sorted keys, one-space indentation, UTF-8, trailing newline) so that
tests/test_contracts_fresh.py can compare bytes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

ROOT = Path(__file__).resolve().parents[1]
TARGET_DIR = ROOT / "tests" / "contracts"
MANIFEST = TARGET_DIR / "operations.toml"
OVERLAY = TARGET_DIR / "overlay.json"
SPEC_FILES = {"launchdarkly": "launchdarkly-openapi.json", "sentry": "sentry-openapi.json"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCRIPT = "python scripts/trim_contracts.py"

# Schema keywords that only annotate (validation does not read them).
_SCHEMA_ANNOTATIONS = frozenset(
    {"description", "title", "example", "examples", "externalDocs", "xml", "deprecated", "discriminator"}
)
# Schema keywords whose value is one subschema, a list of them, or a map of names to them.
_SCHEMA_KEYWORDS = ("items", "additionalProperties", "not", "additionalItems")
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")
_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "definitions")
_PARAMETER_KEYS = ("name", "in", "required", "schema", "style", "explode", "allowReserved", "allowEmptyValue")
_COMPONENT_KINDS = ("schemas", "parameters", "requestBodies", "responses")


class TrimError(Exception):
    """The manifest, the overlay or a full document does not fit together."""


@dataclass(frozen=True)
class Wanted:
    """What operations.toml asks to keep from one service's document."""

    operations: tuple[tuple[str, str], ...]  # (lower-case method, path template)
    schemas: tuple[str, ...]


def full_documents_dir() -> Path:
    """LDSENTRY_CONTRACTS_DIR, else `../shared/contracts` beside the repository."""
    override = os.environ.get("LDSENTRY_CONTRACTS_DIR")
    if override:
        return Path(override)
    return ROOT.parent / "shared" / "contracts"


def load_manifest(text: str) -> dict[str, Wanted]:
    """Parse operations.toml: per service, the operations (and extra schemas) to keep."""
    data = tomlkit.parse(text).unwrap()
    extra = data.pop("schemas", {})
    unknown = sorted((set(data) | set(extra)) - set(SPEC_FILES))
    if unknown:
        raise TrimError(f"operations.toml: unknown service {unknown[0]!r}; expected one of {sorted(SPEC_FILES)}")
    wanted = {}
    for service in SPEC_FILES:
        operations = []
        for entry in data.get(service, []):
            method, path, reason = entry.get("method", ""), entry.get("path", ""), entry.get("reason", "")
            if method.lower() not in HTTP_METHODS or not path.startswith("/") or not reason.strip():
                raise TrimError(f"operations.toml: {service} entry {entry!r} needs a method, a path and a reason")
            operations.append((method.lower(), path))
        schemas = []
        for entry in extra.get(service, []):
            if not entry.get("name") or not entry.get("reason", "").strip():
                raise TrimError(f"operations.toml: schemas.{service} entry {entry!r} needs a name and a reason")
            schemas.append(entry["name"])
        wanted[service] = Wanted(tuple(operations), tuple(schemas))
    return wanted


def _pointer_parts(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise TrimError(f"overlay.json: {pointer!r} is not a JSON pointer")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def apply_overlay(document: dict[str, Any], entries: list[Mapping[str, Any]]) -> None:
    """Merge overlay entries into a full document in place (see the module docstring)."""
    for entry in entries:
        pointer = str(entry.get("path", ""))
        if not str(entry.get("source", "")).strip() or ("add" in entry) == ("append" in entry):
            raise TrimError(f"overlay.json: the entry for {pointer!r} needs a source and one of 'add' or 'append'")
        target: Any = document
        for part in _pointer_parts(pointer):
            try:
                target = target[int(part)] if isinstance(target, list) else target[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise TrimError(f"overlay.json: {pointer!r}: the document has no {part!r}") from None
        if "add" in entry:
            if not isinstance(target, dict) or not isinstance(entry["add"], dict):
                raise TrimError(f"overlay.json: {pointer!r}: 'add' needs an object on both sides")
            for key, value in entry["add"].items():
                if key in target:
                    raise TrimError(
                        f"overlay.json: the document already has {pointer}/{key}; delete it from the overlay"
                    )
                target[key] = copy.deepcopy(value)
        else:
            if not isinstance(target, list) or not isinstance(entry["append"], list):
                raise TrimError(f"overlay.json: {pointer!r}: 'append' needs a list on both sides")
            for value in entry["append"]:
                if value in target:
                    raise TrimError(f"overlay.json: {pointer} already holds {value!r}; delete it from the overlay")
                target.append(copy.deepcopy(value))


def map_subschemas(node: Mapping[str, Any], each: Callable[[Any], Any], drop: Callable[[str], bool]) -> dict[str, Any]:
    """A copy of one schema object without the keys `drop` names, with `each` applied to its direct subschemas.

    Property names are names, not keywords: a property called `description` is kept whatever `drop` says.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if drop(key):
            continue
        if key in _SCHEMA_KEYWORDS and isinstance(value, dict):
            out[key] = each(value)
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [each(item) for item in value]
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: each(item) for name, item in value.items()}
        else:
            out[key] = value
    return out


def _is_annotation(key: str) -> bool:
    return key in _SCHEMA_ANNOTATIONS or key.startswith("x-")


def trim_schema(node: Any) -> Any:
    """One schema without its annotations, recursively (property names are kept whatever they are)."""
    if not isinstance(node, dict):
        return node
    return map_subschemas(node, trim_schema, _is_annotation)


def _trim_parameter(node: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return {"$ref": node["$ref"]}
    out = {key: node[key] for key in _PARAMETER_KEYS if key in node}
    if "schema" in out:
        out["schema"] = trim_schema(out["schema"])
    return out


def _trim_media(content: Mapping[str, Any], keep_example: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for media_type, media in content.items():
        kept: dict[str, Any] = {}
        if "schema" in media:
            kept["schema"] = trim_schema(media["schema"])
        examples = media.get("examples")
        if keep_example and isinstance(examples, dict) and examples:
            name, example = next(iter(examples.items()))
            if isinstance(example, dict) and "value" in example:
                kept["examples"] = {name: {"value": example["value"]}}
        out[media_type] = kept
    return out


def _trim_request_body(node: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return {"$ref": node["$ref"]}
    out: dict[str, Any] = {"content": _trim_media(node.get("content", {}), keep_example=False)}
    if "required" in node:
        out["required"] = node["required"]
    return out


def _trim_response(status: str, node: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return {"$ref": node["$ref"]}
    # `description` is the one required field of an OpenAPI response object; it is short.
    out: dict[str, Any] = {"description": node.get("description", "")}
    if "content" in node:
        out["content"] = _trim_media(node["content"], keep_example=status.startswith("2"))
    return out


def _trim_operation(node: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "operationId" in node:
        out["operationId"] = node["operationId"]
    if "parameters" in node:
        out["parameters"] = [_trim_parameter(p) for p in node["parameters"]]
    if "requestBody" in node:
        out["requestBody"] = _trim_request_body(node["requestBody"])
    out["responses"] = {status: _trim_response(status, r) for status, r in node.get("responses", {}).items()}
    return out


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _trim_component(kind: str, node: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "schemas":
        return dict(trim_schema(node))
    if kind == "parameters":
        return _trim_parameter(node)
    if kind == "requestBodies":
        return _trim_request_body(node)
    return _trim_response("", node)


def trim(document: Mapping[str, Any], wanted: Wanted) -> dict[str, Any]:
    """The trimmed document: the wanted operations and everything they reference."""
    paths: dict[str, dict[str, Any]] = {}
    for method, template in wanted.operations:
        item = document.get("paths", {}).get(template)
        if item is None or method not in item:
            raise TrimError(f"operations.toml names {method.upper()} {template}, which the full document does not have")
        kept = paths.setdefault(template, {})
        if "parameters" in item:
            kept["parameters"] = [_trim_parameter(p) for p in item["parameters"]]
        kept[method] = _trim_operation(item[method])
    components: dict[str, dict[str, Any]] = {}
    pending = [f"#/components/schemas/{name}" for name in wanted.schemas]
    pending.extend(_refs(paths))
    while pending:
        ref = pending.pop()
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"] or parts[2] not in _COMPONENT_KINDS:
            raise TrimError(f"unsupported $ref {ref!r}")
        kind, name = parts[2], parts[3]
        if name in components.get(kind, {}):
            continue
        source = document.get("components", {}).get(kind, {}).get(name)
        if source is None:
            raise TrimError(f"$ref {ref!r} points to nothing in the full document")
        components.setdefault(kind, {})[name] = trimmed = _trim_component(kind, source)
        pending.extend(_refs(trimmed))
    info = document.get("info", {})
    out = {
        "openapi": document["openapi"],
        "info": {"title": info.get("title", ""), "version": info.get("version", "")},
        "paths": paths,
    }
    if components:
        out["components"] = components
    return out


def render(document: Mapping[str, Any]) -> str:
    """The deterministic text of a trimmed document."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def generate(full_dir: Path, manifest_text: str, overlay_text: str) -> dict[str, str]:
    """The text of each trimmed document by file name, from the full documents in `full_dir`."""
    wanted = load_manifest(manifest_text)
    entries = json.loads(overlay_text).get("entries", [])
    unknown = sorted({str(entry.get("service")) for entry in entries} - set(SPEC_FILES))
    if unknown:
        raise TrimError(f"overlay.json: unknown service {unknown[0]!r}; expected one of {sorted(SPEC_FILES)}")
    out = {}
    for service, file_name in SPEC_FILES.items():
        raw = (full_dir / file_name).read_bytes()
        document = json.loads(raw)
        mine = [entry for entry in entries if entry["service"] == service]
        apply_overlay(document, mine)
        trimmed = trim(document, wanted[service])
        # Provenance: which full document (by hash) and which overlay entries made this copy.
        trimmed["x-ldsentry-trimmed"] = {
            "from": file_name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "by": SCRIPT,
            "overlay": [entry["path"] for entry in mine],
        }
        out[file_name] = render(trimmed)
    return out


def generate_from_repository(full_dir: Path) -> dict[str, str]:
    """`generate` with the committed operations.toml and overlay.json."""
    return generate(full_dir, MANIFEST.read_text(encoding="utf-8"), OVERLAY.read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    """Write the trimmed documents, or with --check report whether the committed ones are current."""
    full_dir = full_documents_dir()
    missing = [name for name in SPEC_FILES.values() if not (full_dir / name).is_file()]
    if missing:
        print(
            f"{full_dir / missing[0]} is missing: put the full OpenAPI documents there "
            "or set LDSENTRY_CONTRACTS_DIR to their folder",
            file=sys.stderr,
        )
        return 2
    try:
        texts = generate_from_repository(full_dir)
    except TrimError as error:
        print(error, file=sys.stderr)
        return 2
    stale = [name for name, text in texts.items() if _read(TARGET_DIR / name) != text]
    if "--check" in argv:
        for name in stale:
            print(f"tests/contracts/{name} is out of date: run {SCRIPT}", file=sys.stderr)
        return 1 if stale else 0
    for name, text in texts.items():
        (TARGET_DIR / name).write_text(text, encoding="utf-8", newline="\n")
        print(f"tests/contracts/{name}: {len(text.encode('utf-8')):,} bytes", file=sys.stderr)
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The trimmed contracts in tests/contracts/ are current, and scripts/trim_contracts.py trims as it says.

The freshness check needs the vendors' full OpenAPI documents (LDSENTRY_CONTRACTS_DIR, else
../shared/contracts/ beside the repository) and is skipped without them; the other tests run on a
fresh clone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from contracts import ContractError, load_spec, trim_contracts, validate_schema

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "tests" / "contracts"


def test_committed_contracts_match_the_full_documents() -> None:
    full_dir = trim_contracts.full_documents_dir()
    missing = [name for name in trim_contracts.SPEC_FILES.values() if not (full_dir / name).is_file()]
    if missing:
        pytest.skip(
            f"the full OpenAPI documents are not in {full_dir} (no {missing[0]}); set LDSENTRY_CONTRACTS_DIR "
            "to their folder to check that tests/contracts/ is current"
        )
    generated = trim_contracts.generate_from_repository(full_dir)
    stale = sorted(name for name, text in generated.items() if (CONTRACTS / name).read_bytes() != text.encode())
    assert not stale, f"tests/contracts/{stale[0]} is out of date: run python scripts/trim_contracts.py"


def test_the_committed_copies_hold_exactly_the_manifest_operations() -> None:
    wanted = trim_contracts.load_manifest((CONTRACTS / "operations.toml").read_text(encoding="utf-8"))
    for service in trim_contracts.SPEC_FILES:
        kept = {
            (method, template)
            for template, item in load_spec(service)["paths"].items()
            for method in item
            if method in trim_contracts.HTTP_METHODS
        }
        assert kept == set(wanted[service].operations), f"{service}: run python scripts/trim_contracts.py"


def test_the_overlay_is_in_the_committed_copies() -> None:
    metric_post = load_spec("launchdarkly")["components"]["schemas"]["MetricPost"]
    body = {
        "key": "sentry-errors",
        "kind": "custom",
        "analysisUnits": ["user"],
        "eventDefault": {"disabled": False, "value": 0},
        "dataSource": {"key": "launchdarkly-hosted"},
        "unitAggregationType": "count_distinct",
        "unitAggregationField": "user_id",
    }
    validate_schema("launchdarkly", metric_post, body, "MetricPost")
    with pytest.raises(ContractError, match=r"^MetricPost: 'user' is not of type 'array' at analysisUnits$"):
        validate_schema("launchdarkly", metric_post, {**body, "analysisUnits": "user"}, "MetricPost")
    overlay = json.loads((CONTRACTS / "overlay.json").read_text(encoding="utf-8"))
    paths = [entry["path"] for entry in overlay["entries"] if entry["service"] == "launchdarkly"]
    assert load_spec("launchdarkly")["x-ldsentry-trimmed"]["overlay"] == paths
    assert all(entry["source"].strip() for entry in overlay["entries"])


# --- the trimming itself, on a tiny document ---------------------------------------------------------

FULL: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "T", "version": "1", "description": "long prose"},
    "servers": [{"url": "https://example.test"}],
    "tags": [{"name": "things"}],
    "paths": {
        "/things/{key}": {
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "operationId": "getThing",
                "summary": "Get a thing",
                "description": "Prose.",
                "tags": ["things"],
                "security": [{"ApiKey": []}],
                "parameters": [
                    {
                        "name": "expand",
                        "in": "query",
                        "description": "What to expand",
                        "example": "all",
                        "schema": {"type": "string", "example": "all"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "headers": {"X-Ratelimit-Reset": {"schema": {"type": "integer"}}},
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Thing"},
                                "examples": {"First": {"value": {"key": "a"}}, "Second": {"value": {"key": "b"}}},
                            }
                        },
                    },
                    "404": {
                        "description": "Missing",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Error"},
                                "examples": {"Only": {"value": {"code": "not_found"}}},
                            }
                        },
                    },
                },
            },
            "delete": {"operationId": "deleteThing", "responses": {"204": {"description": "Gone"}}},
        },
        "/others": {"get": {"operationId": "getOthers", "responses": {"200": {"description": "OK"}}}},
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "description": "A thing",
                "x-extension": True,
                "required": ["key"],
                "properties": {
                    "key": {"type": "string", "example": "a", "title": "Key"},
                    "description": {"type": "string", "description": "a property named like a keyword"},
                    "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                },
            },
            "Part": {"nullable": True, "allOf": [{"$ref": "#/components/schemas/Base"}], "deprecated": True},
            "Base": {"type": "object", "additionalProperties": {"type": "integer", "example": 1}},
            "Error": {"type": "object", "properties": {"code": {"type": "string"}}},
            "Unused": {"type": "string"},
        },
        "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}},
    },
}

TRIMMED: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "T", "version": "1"},
    "paths": {
        "/things/{key}": {
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "operationId": "getThing",
                "parameters": [{"name": "expand", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Thing"},
                                "examples": {"First": {"value": {"key": "a"}}},
                            }
                        },
                    },
                    "404": {
                        "description": "Missing",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                },
            },
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "required": ["key"],
                "properties": {
                    "key": {"type": "string"},
                    "description": {"type": "string"},
                    "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                },
            },
            "Part": {"nullable": True, "allOf": [{"$ref": "#/components/schemas/Base"}]},
            "Base": {"type": "object", "additionalProperties": {"type": "integer"}},
            "Error": {"type": "object", "properties": {"code": {"type": "string"}}},
        }
    },
}


def _wanted(*operations: tuple[str, str], schemas: tuple[str, ...] = ()) -> Any:
    return trim_contracts.Wanted(operations, schemas)


def test_trim_keeps_the_operation_and_what_it_references_without_annotations() -> None:
    assert trim_contracts.trim(FULL, _wanted(("get", "/things/{key}"))) == TRIMMED


def test_trim_keeps_schemas_the_manifest_names_and_their_references() -> None:
    schemas = TRIMMED["components"]["schemas"]
    trimmed = trim_contracts.trim(FULL, _wanted(("get", "/others"), schemas=("Part",)))
    assert trimmed["components"] == {"schemas": {"Part": schemas["Part"], "Base": schemas["Base"]}}
    assert trim_contracts.trim(FULL, _wanted(("get", "/others"))) == {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {"/others": {"get": {"operationId": "getOthers", "responses": {"200": {"description": "OK"}}}}},
    }


def test_trim_names_an_operation_the_document_lacks() -> None:
    with pytest.raises(
        trim_contracts.TrimError,
        match=r"^operations.toml names POST /things/\{key\}, which the full document does not have$",
    ):
        trim_contracts.trim(FULL, _wanted(("post", "/things/{key}")))


def test_render_is_sorted_indented_and_ends_with_a_newline() -> None:
    assert trim_contracts.render({"b": [1], "a": {"é": None}}) == '{\n "a": {\n  "é": null\n },\n "b": [\n  1\n ]\n}\n'


def test_overlay_adds_new_keys_and_list_values() -> None:
    document = json.loads(json.dumps(FULL))
    trim_contracts.apply_overlay(
        document,
        [
            {"path": "/components/schemas/Thing/properties", "add": {"units": {"type": "array"}}, "source": "s"},
            {"path": "/paths/~1things~1{key}/get/parameters/0/schema", "add": {"enum": ["a"]}, "source": "s"},
            {"path": "/components/schemas/Thing/required", "append": ["units"], "source": "s"},
        ],
    )
    thing = document["components"]["schemas"]["Thing"]
    assert thing["properties"]["units"] == {"type": "array"}
    assert thing["required"] == ["key", "units"]
    assert document["paths"]["/things/{key}"]["get"]["parameters"][0]["schema"]["enum"] == ["a"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"path": "/components/schemas/Thing/properties", "add": {"key": {}}, "source": "s"},
            "overlay.json: the document already has /components/schemas/Thing/properties/key; "
            "delete it from the overlay",
        ),
        (
            {"path": "/components/schemas/Thing/required", "append": ["key"], "source": "s"},
            "overlay.json: /components/schemas/Thing/required already holds 'key'; delete it from the overlay",
        ),
        (
            {"path": "/components/schemas/Gone/properties", "add": {"a": {}}, "source": "s"},
            "overlay.json: '/components/schemas/Gone/properties': the document has no 'Gone'",
        ),
        (
            {"path": "/components/schemas/Thing/properties", "add": {"a": {}}, "source": " "},
            "overlay.json: the entry for '/components/schemas/Thing/properties' needs a source and one of 'add' or "
            "'append'",
        ),
    ],
    ids=["key-exists", "value-exists", "no-parent", "no-source"],
)
def test_overlay_refuses_what_the_document_already_has_or_lacks(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(trim_contracts.TrimError) as caught:
        trim_contracts.apply_overlay(json.loads(json.dumps(FULL)), [entry])
    assert str(caught.value) == message


def test_manifest_entries_need_a_reason() -> None:
    with pytest.raises(trim_contracts.TrimError, match=r"needs a method, a path and a reason$"):
        trim_contracts.load_manifest('sentry = [{ method = "GET", path = "/api/0/x/", reason = " " }]')
    with pytest.raises(trim_contracts.TrimError, match=r"^operations.toml: unknown service 'github'"):
        trim_contracts.load_manifest('github = [{ method = "GET", path = "/x", reason = "r" }]')


def test_the_script_without_full_documents_exits_2_and_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LDSENTRY_CONTRACTS_DIR", str(tmp_path))
    before = {path.name: path.read_bytes() for path in CONTRACTS.iterdir()}
    assert trim_contracts.main([]) == 2
    assert capsys.readouterr().err == (
        f"{tmp_path / 'launchdarkly-openapi.json'} is missing: put the full OpenAPI documents there "
        "or set LDSENTRY_CONTRACTS_DIR to their folder\n"
    )
    assert {path.name: path.read_bytes() for path in CONTRACTS.iterdir()} == before

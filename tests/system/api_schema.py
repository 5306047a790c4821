"""A small JSON Schema checker and an OpenAPI 3.1 structure check, for the API tests.

The project has neither ``jsonschema`` nor ``openapi-spec-validator``; the API's schemas use a
small part of JSON Schema 2020-12 (type, enum, properties, required, additionalProperties,
items, $ref, anyOf, allOf, min/max length and items, minimum/maximum, format date-time/date),
and this checks exactly that part — and refuses a schema using any other keyword, so a schema
cannot silently go unchecked.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

__all__ = ["check_openapi", "operation_for", "schema_errors"]

KNOWN = {"type", "enum", "properties", "required", "additionalProperties", "items", "$ref", "anyOf",
         "allOf", "minLength", "maxLength", "maxItems", "minimum", "maximum", "format", "description",
         "default"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
METHODS = {"get", "post", "put", "patch", "delete"}


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def schema_errors(schema: dict[str, Any], value: Any, root: dict[str, Any], where: str = "$") -> list[str]:
    """What is wrong with ``value`` against ``schema`` ([] if nothing)."""
    unknown = set(schema) - KNOWN
    assert not unknown, f"{where}: the checker does not know {unknown}"
    if "$ref" in schema:
        return schema_errors(_resolve(root, schema["$ref"]), value, root, where)
    errors: list[str] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(k, value) for k in kinds):
            return [f"{where}: expected {kinds}, got {value!r:.80}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "anyOf" in schema and all(schema_errors(s, value, root, where) for s in schema["anyOf"]):
        errors.append(f"{where}: matches none of anyOf")
    for sub in schema.get("allOf", []):
        errors += schema_errors(sub, value, root, where)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            errors.append(f"{where}: length {len(value)} out of bounds")
        fmt = schema.get("format")
        try:
            if fmt == "date-time":
                if datetime.fromisoformat(value).tzinfo is None:
                    errors.append(f"{where}: date-time without a zone: {value}")
            elif fmt == "date":
                date.fromisoformat(value)
        except ValueError:
            errors.append(f"{where}: not a {fmt}: {value!r}")
    if _is("number", value) and not schema.get("minimum", -10**18) <= value <= schema.get("maximum", 10**18):
        errors.append(f"{where}: {value} out of bounds")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 10**9):
            errors.append(f"{where}: too many items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += schema_errors(schema["items"], item, root, f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}: missing {name}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                errors += schema_errors(props[name], item, root, f"{where}.{name}")
            elif extra is False:
                errors.append(f"{where}: unexpected property {name}")
            elif isinstance(extra, dict):
                errors += schema_errors(extra, item, root, f"{where}.{name}")
    return errors


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _schema_keywords_ok(schema: Any, where: str) -> list[str]:
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    problems = [f"{where}: unknown keyword {k}" for k in set(schema) - KNOWN]
    for name, sub in schema.get("properties", {}).items():
        problems += _schema_keywords_ok(sub, f"{where}.{name}")
    for key in ("items",):
        if key in schema:
            problems += _schema_keywords_ok(schema[key], f"{where}.{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += _schema_keywords_ok(schema["additionalProperties"], f"{where}.additionalProperties")
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            problems += _schema_keywords_ok(sub, f"{where}.{key}[{i}]")
    for name in schema.get("required", []):
        if "properties" in schema and name not in schema["properties"]:
            problems.append(f"{where}: required {name} is not a property")
    return problems


def check_openapi(doc: dict[str, Any]) -> list[str]:
    """Structural problems of an OpenAPI 3.1 document ([] if none)."""
    problems = []
    if not str(doc.get("openapi", "")).startswith("3.1."):
        problems.append("openapi: not 3.1.x")
    info = doc.get("info", {})
    if not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        problems.append("info: title and version are required strings")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for requirement in doc.get("security", []):
        problems += [f"security: undefined scheme {n}" for n in requirement if n not in schemes]
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        problems += _schema_keywords_ok(schema, f"schemas.{name}")
    ids = []
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        return [*problems, "paths: none"]
    for path, item in paths.items():
        if not path.startswith("/"):
            problems.append(f"{path}: must start with /")
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if method not in METHODS:
                problems.append(f"{where}: unknown method")
                continue
            ids.append(op.get("operationId"))
            responses = op.get("responses")
            if not responses:
                problems.append(f"{where}: no responses")
                continue
            for status, response in responses.items():
                if not re.fullmatch(r"[1-5]\d\d", status) or not isinstance(response.get("description"), str):
                    problems.append(f"{where} {status}: bad status or no description")
                if "application/json" not in response.get("content", {}):
                    problems.append(f"{where} {status}: no application/json schema")
            params = op.get("parameters", [])
            declared = {p["name"] for p in params if p.get("in") == "path"}
            if declared != templated:
                problems.append(f"{where}: path parameters {declared} != {templated}")
            for p in params:
                if p.get("in") not in ("path", "query", "header", "cookie") or "schema" not in p:
                    problems.append(f"{where}: parameter {p.get('name')} malformed")
                if p.get("in") == "path" and p.get("required") is not True:
                    problems.append(f"{where}: path parameter {p['name']} must be required")
    if len(ids) != len(set(ids)) or None in ids:
        problems.append("operationIds missing or not unique")
    for ref in _refs(doc):
        try:
            _resolve(doc, ref)
        except (KeyError, AssertionError):
            problems.append(f"unresolvable $ref {ref}")
    return problems


def operation_for(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented operation serving ``method path`` (a concrete path), with its template."""
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    return None

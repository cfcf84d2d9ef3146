"""YAML configuration files validated against JSON schemas shipped in ``geo_almaty/schemas``.

Layer catalogs, facility profiles, map recipes and the flow-table companions
(Sankey layouts, consistency checks) are all declarative YAML. This module is the
one place that reads them and turns schema violations into one-line errors.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from . import settings
from .errors import InputError


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """The JSON schema ``geo_almaty/schemas/<name>.schema.json``."""
    path = settings.schemas_dir() / f"{name}.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def schema_registry() -> Registry:
    """All shipped schemas, so that one can ``$ref`` another by file name."""
    resources = []
    for path in sorted(settings.schemas_dir().glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((path.name, Resource.from_contents(contents)))
    return Registry().with_resources(resources)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (PyYAML would keep the last one silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; the base constructor reports it
            break
        if duplicate:
            first = seen[key].start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {first.line + 1}); YAML would silently keep only the last one",
                key_node.start_mark)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def parse_yaml(text: str) -> Any:
    """Parse YAML text like ``yaml.safe_load``, but refuse duplicate keys (``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | Path, error_cls: type[InputError] = InputError) -> Any:
    """Parse a YAML file; a missing or malformed file, or a repeated key, raises ``error_cls`` with one line."""
    path = Path(path)
    if not path.is_file():
        raise error_cls("file not found", file=path, expected="an existing YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error_cls(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=path, expected="UTF-8 text") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error_cls(f"invalid YAML{where}: {problem}", file=path, expected="well-formed YAML") from None


def validate(document: Any, schema_name: str, *, file: str | Path, error_cls: type[InputError] = InputError, layer: str | None = None) -> None:
    """Validate ``document`` against a named schema; raise ``error_cls`` describing the first problem."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_name), registry=schema_registry())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return
    location = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    expected = _expected_from(error)
    raise error_cls(_short(error.message), file=file, layer=layer, column=location, expected=expected)


def named_yaml(name: str | Path, folder: Path) -> Path:
    """A YAML file given by name (``composting_hub`` → ``folder/composting_hub.yaml``) or by path."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return folder / f"{name}.yaml"


def yaml_names(folder: Path) -> list[str]:
    """Names of the YAML files shipped in ``folder`` (sorted)."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_validated_yaml(path: str | Path, schema_name: str, error_cls: type[InputError] = InputError) -> Any:
    """Read a YAML file and validate it against ``schema_name``."""
    document = read_yaml(path, error_cls)
    validate(document, schema_name, file=path, error_cls=error_cls)
    return document


def _short(message: str, limit: int = 200) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _expected_from(error: jsonschema.ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "description" in schema:
        return _short(str(schema["description"]), 160)
    if error.validator == "enum":
        return "one of " + ", ".join(map(str, error.validator_value))
    if error.validator == "type":
        return f"type {error.validator_value}"
    if error.validator == "required":
        return "keys " + ", ".join(map(str, error.validator_value))
    if error.validator == "additionalProperties":
        allowed = sorted((schema.get("properties") or {}).keys())
        return "only the keys " + ", ".join(allowed) if allowed else None
    return None

"""The declarative OSM tag mapping (``tags.yaml``) and its validation against the catalog."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from ..catalog import Catalog, LayerSpec, load_catalog
from ..config import load_validated_yaml
from ..errors import OSMError

log = logging.getLogger(__name__)

#: The tag mapping shipped with geo_almaty.
MAPPING_PATH = Path(__file__).resolve().with_name("tags.yaml")
#: Mapping value meaning "any value of this key".
ANY = "*"
Values = tuple[str, ...] | None  # None: any value


@dataclass(frozen=True)
class TagRule:
    """One mapping rule: the class given to objects whose tags satisfy ``match`` and not ``unless``."""

    cls: str | None
    match: dict[str, Values]
    unless: dict[str, Values]
    only_materials: frozenset[str] | None = None


@dataclass(frozen=True)
class MaterialRule:
    """How ``recycling:<suffix>=yes`` tags become a ';'-separated materials list."""

    column: str
    prefix: str
    values: dict[str, tuple[str, ...]]
    default: tuple[str, ...]

    def tag_keys(self) -> list[str]:
        """Every OSM key this rule reads."""
        return [self.prefix + suffix for suffixes in self.values.values() for suffix in suffixes]


@dataclass(frozen=True)
class LayerRules:
    """The rules of one catalog layer and how its columns are filled."""

    spec: LayerSpec
    rules: tuple[TagRule, ...]
    columns: dict[str, tuple[str, ...]]
    defaults: dict[str, Any]
    inside_area: bool = False
    materials: MaterialRule | None = None


@dataclass(frozen=True)
class DriveFilter:
    """Which ways are drivable: they have ``require`` and no tag value of ``exclude``."""

    require: str
    exclude: dict[str, frozenset[str]]

    def drivable(self, tags: dict[str, str]) -> bool:
        """True when a way with ``tags`` belongs to the drive network."""
        if self.require not in tags:
            return False
        return not any(_parts(tags[key]) & values for key, values in self.exclude.items() if key in tags)


@dataclass(frozen=True)
class OSMMapping:
    """The validated tag mapping, checked against a layer catalog."""

    path: Path
    accuracy_m: float
    names: dict[str, tuple[str, ...]]
    unnamed_ru: str
    drive: DriveFilter
    layers: dict[str, LayerRules]

    def query_tags(self) -> dict[str, bool | list[str]]:
        """The osmnx/Overpass tag filter: each rule's first (anchor) key with its values."""
        tags: dict[str, bool | set[str]] = {}
        for layer in self.layers.values():
            for rule in layer.rules:
                key, values = next(iter(rule.match.items()))
                if values is None or tags.get(key) is True:
                    tags[key] = True
                else:
                    tags[key] = set(tags.get(key) or set()) | set(values)  # type: ignore[arg-type]
        return {k: v if v is True else sorted(v) for k, v in tags.items()}  # type: ignore[misc]

    def tag_keys(self) -> list[str]:
        """Every OSM key the mapping reads (rules, names, columns, materials)."""
        keys: dict[str, None] = {}
        for layer in self.layers.values():
            for rule in layer.rules:
                keys.update(dict.fromkeys([*rule.match, *rule.unless]))
            for sources in layer.columns.values():
                keys.update(dict.fromkeys(sources))
            if layer.materials:
                keys.update(dict.fromkeys(layer.materials.tag_keys()))
        for sources in self.names.values():
            keys.update(dict.fromkeys(sources))
        return list(keys)


def load_mapping(path: str | Path | None = None, catalog: Catalog | None = None) -> OSMMapping:
    """Load the OSM tag mapping (the shipped one by default) and check it against the catalog."""
    path = Path(path).resolve() if path else MAPPING_PATH
    document = load_validated_yaml(path, "osm_tags", OSMError)
    catalog = catalog or load_catalog()
    layers = {name: _layer_rules(name, entry, catalog, path) for name, entry in document["layers"].items()}
    drive = document["drive_graph"]
    return OSMMapping(
        path=path,
        accuracy_m=float(document.get("accuracy_m", 10.0)),
        names={col: tuple(keys) for col, keys in document["names"].items()},
        unnamed_ru=document.get("unnamed_ru", "без названия"),
        drive=DriveFilter(drive["require"], {k: frozenset(v) for k, v in drive.get("exclude", {}).items()}),
        layers=layers,
    )


def _layer_rules(name: str, entry: dict[str, Any], catalog: Catalog, path: Path) -> LayerRules:
    if name not in catalog.layers or catalog.layers[name].kind != "vector":
        raise OSMError("not a vector layer of the catalog", file=path, layer=name, expected="one of " + ", ".join(
            n for n, s in catalog.layers.items() if s.kind == "vector"))
    spec = catalog.layers[name]
    materials = _material_rule(entry.get("materials"), spec, path)
    rules = tuple(_tag_rule(rule, spec, materials, path) for rule in entry["rules"])
    for column in [*entry.get("columns", {}), *entry.get("defaults", {})]:
        if column not in spec.columns:
            raise OSMError("not a column of the catalog layer", file=path, layer=name, column=column, expected="one of " + ", ".join(spec.columns))
    return LayerRules(
        spec=spec,
        rules=rules,
        columns={col: tuple(keys) for col, keys in entry.get("columns", {}).items()},
        defaults=dict(entry.get("defaults", {})),
        inside_area=bool(entry.get("inside_area", False)),
        materials=materials,
    )


def _tag_rule(entry: dict[str, Any], spec: LayerSpec, materials: MaterialRule | None, path: Path) -> TagRule:
    cls = entry.get("class")
    if spec.class_column and cls not in spec.classes:
        raise OSMError(f"unknown class '{cls}'" if cls else "rule without a class", file=path, layer=spec.name, column="class",
                       expected="one of " + ", ".join(spec.classes))
    if not spec.class_column and cls is not None:
        raise OSMError(f"class '{cls}' given but the layer has no classes", file=path, layer=spec.name, column="class", expected="no class")
    only = entry.get("only_materials")
    if only is not None:
        known = set(materials.values) if materials else set()
        if not set(only) <= known:
            raise OSMError(f"only_materials {', '.join(sorted(set(only) - known))} not in the layer's materials", file=path,
                           layer=spec.name, column="only_materials", expected="materials listed under materials.values")
    return TagRule(cls, _condition(entry["match"]), _condition(entry.get("unless", {})), frozenset(only) if only else None)


def _condition(entry: dict[str, str | list[str]]) -> dict[str, Values]:
    condition: dict[str, Values] = {}
    for key, value in entry.items():
        values = (value,) if isinstance(value, str) else tuple(value)
        condition[key] = None if ANY in values else values
    return condition


def _material_rule(entry: dict[str, Any] | None, spec: LayerSpec, path: Path) -> MaterialRule | None:
    if entry is None:
        return None
    allowed = spec.list_values.get(entry["column"])
    if allowed is None:
        raise OSMError("not a list column of the catalog layer", file=path, layer=spec.name, column=entry["column"],
                       expected="a column under list_values in the catalog")
    default = tuple(entry.get("default", ()))
    unknown = sorted((set(entry["values"]) | set(default)) - set(allowed))
    if unknown:
        raise OSMError(f"unknown material(s) {', '.join(unknown)}", file=path, layer=spec.name, column=entry["column"],
                       expected="one of " + ", ".join(allowed))
    ordered = {m: tuple(entry["values"][m]) for m in allowed if m in entry["values"]}  # the catalog's order
    return MaterialRule(entry["column"], entry["prefix"], ordered, default)


def _parts(value: str) -> set[str]:
    """The items of an OSM value list ('a;b' -> {'a', 'b'})."""
    return {part.strip() for part in value.split(";")}

"""Layer catalogs: what each layer must look like and where its data lives.

The embedded catalog (``layers/catalog.yaml``) defines every layer: geometry,
columns, class values and role, plus the embedded starter data. A user catalog
says ``extends: embedded`` and points any layer at the user's own file with a
column mapping and a value mapping; no code changes are needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import settings
from .config import load_validated_yaml
from .errors import CatalogError

GEOMETRY_FAMILIES = {
    "point": ("Point", "MultiPoint"),
    "line": ("LineString", "MultiLineString"),
    "polygon": ("Polygon", "MultiPolygon"),
}


@dataclass(frozen=True)
class ColumnSpec:
    """A column a layer has: its type and whether every feature must have it."""

    name: str
    type: str
    required: bool = False
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Where a layer's data is and how to map the file onto the catalog's columns."""

    path: Path
    layer: str | None = None
    x: str | None = None
    y: str | None = None
    crs: str | None = None
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    band: int = 1
    osm_graph: Path | None = None
    licence: str | None = None
    attribution: dict[str, str] = field(default_factory=dict)
    #: How road lines of this file become a network (``snap_tolerance_m``, ``split_crossings``).
    topology: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerSpec:
    """A catalog layer: its definition and (optionally) its source."""

    name: str
    title: dict[str, str]
    role: str
    kind: str = "vector"
    geometry: str | None = None
    id_column: str | None = None
    class_column: str | None = None
    classes: tuple[str, ...] = ()
    classes_from: str | None = None
    list_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    optional: bool = False
    extent: str = "study_area"
    units: str | None = None
    source: SourceSpec | None = None

    def display_title(self, lang: str) -> str:
        """Title in ``lang`` (falls back to the layer name)."""
        return self.title.get(lang) or self.title.get("en") or self.name


@dataclass(frozen=True)
class Catalog:
    """A validated catalog: layer specs by name, and the file it came from."""

    path: Path
    name: str
    layers: dict[str, LayerSpec]
    title: dict[str, str] = field(default_factory=dict)
    disclaimer: dict[str, str] = field(default_factory=dict)

    def layer(self, name: str) -> LayerSpec:
        """The spec of layer ``name``; raises :class:`CatalogError` if the catalog has none."""
        if name not in self.layers:
            raise CatalogError(f"no layer '{name}'", file=self.path, layer=name, expected="one of " + ", ".join(self.layers))
        return self.layers[name]

    def with_sources(self) -> list[LayerSpec]:
        """Layers that have data (a ``source``)."""
        return [spec for spec in self.layers.values() if spec.source is not None]

    def has_data(self, name: str) -> bool:
        """True when layer ``name`` exists and points at data."""
        return name in self.layers and self.layers[name].source is not None


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load a catalog (the embedded one by default), resolving ``extends``."""
    path = Path(path).resolve() if path else settings.default_catalog_path()
    return _load(path, seen=())


def _load(path: Path, seen: tuple[Path, ...]) -> Catalog:
    if path in seen:
        raise CatalogError("catalog extends itself", file=path, column="extends", expected="a chain of catalogs without cycles")
    document = load_validated_yaml(path, "catalog", CatalogError)
    base: Catalog | None = None
    if "extends" in document:
        target = document["extends"]
        base_path = settings.default_catalog_path() if target == "embedded" else (path.parent / target).resolve()
        base = _load(base_path, seen + (path,))
    layers: dict[str, LayerSpec] = dict(base.layers) if base else {}
    for name, entry in document["layers"].items():
        layers[name] = _merge_layer(name, entry, layers.get(name), path)
        if "crs" in entry.get("source", {}):
            _check_crs(entry["source"]["crs"], path, name)
    return Catalog(
        path=path,
        name=document.get("name", base.name if base else path.stem),
        layers=layers,
        title=document.get("title") or (base.title if base else {}),
        disclaimer=document.get("disclaimer") or (base.disclaimer if base else {}),
    )


def with_layer_sources(catalog: Catalog, sources: dict[str, dict[str, Any]], base_file: Path) -> Catalog:
    """``catalog`` with the ``source`` of some existing layers replaced, in memory (paths relative to ``base_file``'s folder).

    Used by scenarios (``catalog: layers: {name: {source: ...}}``); the layer's definition stays.
    """
    layers = dict(catalog.layers)
    for name, entry in sources.items():
        layers[name] = _merge_layer(name, {"source": entry}, catalog.layer(name), Path(base_file))
        if "crs" in entry:
            _check_crs(entry["crs"], Path(base_file), name)
    return replace(catalog, layers=layers)


def _merge_layer(name: str, entry: dict[str, Any], base: LayerSpec | None, path: Path) -> LayerSpec:
    source = _source(entry["source"], path) if "source" in entry else None
    if base is not None:
        spec = replace(base, **_spec_fields(name, entry, path, partial=True))
        return replace(spec, source=source) if source is not None else spec
    return LayerSpec(**_spec_fields(name, entry, path, partial=False), source=source)


def _spec_fields(name: str, entry: dict[str, Any], path: Path, *, partial: bool) -> dict[str, Any]:
    kind = entry.get("kind", "vector")
    if not partial:
        for key in ("title", "role"):
            if key not in entry:
                raise CatalogError(f"new layer lacks '{key}'", file=path, layer=name, column=key, expected="a full definition for a layer the base catalog does not have")
        if kind == "vector" and "geometry" not in entry:
            raise CatalogError("new vector layer lacks 'geometry'", file=path, layer=name, column="geometry", expected="point, line or polygon")
    fields: dict[str, Any] = {}
    if not partial:
        fields["name"] = name
    simple = ("title", "role", "kind", "geometry", "id_column", "class_column", "classes_from", "optional", "extent", "units")
    for key in simple:
        if key in entry:
            fields[key] = entry[key]
    if "classes" in entry:
        fields["classes"] = tuple(entry["classes"])
    if "list_values" in entry:
        fields["list_values"] = {k: tuple(v) for k, v in entry["list_values"].items()}
    if "columns" in entry:
        fields["columns"] = {col: ColumnSpec(col, **spec) for col, spec in entry["columns"].items()}
    if fields.get("class_column") and not (fields.get("classes") or partial):
        raise CatalogError("class_column without classes", file=path, layer=name, column="classes", expected="the list of allowed class values")
    return fields


def _check_crs(value: str, path: Path, layer: str) -> None:
    """Refuse a ``source.crs`` that PROJ does not know (e.g. EPSG:999999) when the catalog is read."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(value)
    except CRSError:
        raise CatalogError(f"unknown CRS '{value}'", file=path, layer=layer, column="source.crs", expected="a CRS PROJ knows, such as EPSG:4326 or EPSG:32643") from None
    if not (crs.is_geographic or crs.is_projected):
        raise CatalogError(f"CRS '{value}' is neither geographic nor projected", file=path, layer=layer, column="source.crs",
                           expected="a 2-D CRS such as EPSG:4326 (lon/lat) or EPSG:32643 (UTM 43N)")


def _source(entry: dict[str, Any], catalog_path: Path) -> SourceSpec:
    base = catalog_path.parent
    return SourceSpec(
        path=(base / entry["path"]).resolve(),
        layer=entry.get("layer"),
        x=entry.get("x"),
        y=entry.get("y"),
        crs=entry.get("crs"),
        encoding=entry.get("encoding"),
        columns=dict(entry.get("columns", {})),
        values={col: {str(k): v for k, v in mapping.items()} for col, mapping in entry.get("values", {}).items()},
        defaults=dict(entry.get("defaults", {})),
        band=int(entry.get("band", 1)),
        osm_graph=(base / entry["osm_graph"]).resolve() if "osm_graph" in entry else None,
        licence=entry.get("licence"),
        attribution=dict(entry.get("attribution", {})),
        topology=dict(entry.get("topology", {})),
    )


def catalog_attributions(catalog: Catalog, layer_names: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """The credit lines (``{ru, kk, en, licence}``) that a map drawing ``layer_names`` must show.

    A source's ``attribution`` may hold several credits separated by ``"; "`` (with as
    many ``"; "``-separated ``licence`` parts); each credit is listed once, in the order
    of ``layer_names``. Layers the catalog lacks, or whose source names no attribution,
    add nothing.
    """
    seen: dict[str, dict[str, str]] = {}
    for name in layer_names:
        spec = catalog.layers.get(name)
        if spec is None or spec.source is None or not spec.source.attribution:
            continue
        texts = {lang: spec.source.attribution[lang].split("; ") for lang in ("ru", "kk", "en")}
        licences = (spec.source.licence or "").split("; ")
        for i, en in enumerate(texts["en"]):
            entry = {lang: (parts[i] if i < len(parts) else parts[-1]) for lang, parts in texts.items()}
            entry["licence"] = licences[i] if i < len(licences) else licences[-1]
            seen.setdefault(en, entry)
    return list(seen.values())

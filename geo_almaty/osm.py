"""OpenStreetMap import: OSM extracts or Overpass -> catalog layers, a drive graph, a GeoPackage.

The tag mapping is declarative (``geo_almaty/osm_tags.yaml``, validated against
``schemas/osm_tags.schema.json`` and the layer catalog). Both the offline path
(``.osm`` XML through osmnx, ``.osm.pbf`` through GDAL's OSM driver) and the
online path (:func:`fetch_osm`) feed one conversion, :func:`features_to_layers`,
which takes features in EPSG:4326 and returns frames with the catalog's columns,
still in EPSG:4326 (geo_almaty reprojects on reading).

Bad input raises a one-line :class:`~geo_almaty.errors.OSMError`.
"""
from __future__ import annotations

import bz2
import gzip
import logging
import os
import re
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.sax import SAXException

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyogrio
import requests
import shapely
import yaml
from pyogrio.errors import DataLayerError, DataSourceError

from . import settings
from .atomic import atomic_path, write_text_atomic
from .catalog import Catalog, LayerSpec, load_catalog
from .config import load_validated_yaml
from .errors import OSMError
from .progress import progress_bar

log = logging.getLogger(__name__)

#: The tag mapping shipped with geo_almaty.
MAPPING_PATH = Path(__file__).resolve().with_name("osm_tags.yaml")
#: Mapping value meaning "any value of this key".
ANY = "*"
#: Layers of GDAL's OSM driver read from a .osm.pbf, with the element type of their rows.
_PBF_LAYERS = (("points", "node"), ("lines", "way"), ("multipolygons", None))
_OSM_FILES = "an OpenStreetMap extract (.osm, .osm.gz, .osm.bz2 or .osm.pbf)"
_MAPPED = "an extract with land use, roads, amenities or other objects the OSM tag mapping knows"
_POINT, _LINE, _POLYGON, _MULTILINE, _MULTIPOLYGON = 0, 1, 3, 5, 6

Values = tuple[str, ...] | None  # None: any value


# --- the mapping ---------------------------------------------------------------------------

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


# --- conversion ----------------------------------------------------------------------------

def features_to_layers(features: gpd.GeoDataFrame, mapping: OSMMapping | None = None, *,
                       area: shapely.Geometry | None = None, progress: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """Map OSM features onto catalog layers; layers without features are left out.

    ``features`` holds one row per OSM object with one column per tag key and
    its element type and id either as the (element, id) index osmnx returns or
    as ``element``/``id`` columns. ``area`` (EPSG:4326) restricts the layers the
    mapping marks ``inside_area``. The result is in EPSG:4326.
    """
    mapping = mapping or load_mapping()
    tags = _TagIndex(_prepare(features, mapping.tag_keys()))
    layers: dict[str, gpd.GeoDataFrame] = {}
    for rules in progress_bar(list(mapping.layers.values()), desc="OSM layers", unit="layer", enabled=progress):
        frame = _convert_layer(tags, rules, mapping, area)
        log.info("OSM layer %s: %d features", rules.spec.name, len(frame))
        if len(frame):
            layers[rules.spec.name] = frame
    return layers


def _prepare(features: gpd.GeoDataFrame, keys: list[str]) -> gpd.GeoDataFrame:
    """Features with element/id columns, EPSG:4326, and the mapping's tag columns as text or None."""
    if "element" not in features.columns and "element" in (features.index.names or []):
        features = features.reset_index()
    if not {"element", "id"} <= set(features.columns):
        raise ValueError("OSM features need 'element' and 'id' (as columns or as the osmnx index)")
    if features.crs is None:
        features = features.set_crs(settings.GEOGRAPHIC_CRS)
    elif features.crs.to_epsg() != 4326:
        features = features.to_crs(settings.GEOGRAPHIC_CRS)
    present = [key for key in keys if key in features.columns and key not in ("element", "id", features.geometry.name)]
    tags = pd.DataFrame({key: _text(features[key]) for key in present}, index=features.index)
    base = features[["element", "id"]].reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat([base, tags.reset_index(drop=True)], axis=1),
                            geometry=features.geometry.reset_index(drop=True), crs=features.crs)


def _text(values: pd.Series) -> pd.Series:
    """Tag values as an object column of text, None where absent or empty."""
    text = values.astype(object)
    return text.where(text.notna() & (text != ""), None)


def _convert_layer(tags: _TagIndex, rules: LayerRules, mapping: OSMMapping,
                   area: shapely.Geometry | None) -> gpd.GeoDataFrame:
    features = tags.features
    spec = rules.spec
    hits = [_rule_mask(tags, rule) for rule in rules.rules]
    candidates = np.logical_or.reduce(hits) if hits else np.zeros(len(features), bool)
    subset = features[candidates].reset_index(drop=True)
    hits = [hit[candidates] for hit in hits]
    held = _materials_held(subset, rules.materials) if rules.materials else None
    classes, taken = _classify(rules.rules, hits, held)
    subset, classes = subset[taken].reset_index(drop=True), classes[taken]
    held = held[taken].reset_index(drop=True) if held is not None else None

    original = np.asarray(subset.geometry.values)
    geoms, keep = _to_family(original, spec.geometry)
    if area is not None and rules.inside_area:
        keep &= _inside(geoms, area)
    if not keep.any():
        return gpd.GeoDataFrame(geometry=[], crs=settings.GEOGRAPHIC_CRS)
    subset, geoms, original = subset[keep].reset_index(drop=True), geoms[keep], original[keep]
    columns = _columns(subset, rules, mapping, classes[keep], held[keep].reset_index(drop=True) if held is not None else None)
    if "accuracy_m" in spec.columns:
        columns["accuracy_m"] = _accuracy(geoms, original, mapping.accuracy_m)
    order = [c for c in spec.columns if c in columns]
    return gpd.GeoDataFrame({c: columns[c] for c in order}, geometry=geoms, crs=settings.GEOGRAPHIC_CRS)


def _classify(rules: tuple[TagRule, ...], hits: list[np.ndarray], held: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The class of the first matching rule per object, and which objects matched any rule."""
    n = len(hits[0]) if hits else 0
    classes = np.full(n, None, dtype=object)
    taken = np.zeros(n, bool)
    for rule, hit in zip(rules, hits):
        if rule.only_materials is not None and held is not None:
            hit = hit & _only(held, rule.only_materials)
        new = hit & ~taken
        classes[new] = rule.cls
        taken |= new
    return classes, taken


class _TagIndex:
    """The features' tag columns, with OSM value lists ('a;b') split once for all rules."""

    def __init__(self, features: pd.DataFrame) -> None:
        self.features = features
        self._lists: dict[str, tuple[np.ndarray, pd.Series]] = {}

    def holds(self, key: str, values: Values) -> np.ndarray:
        """Objects whose ``key`` has one of ``values`` (any value if None); lists match by any part."""
        tag = _tag(self.features, key)
        if values is None:
            return tag.notna().to_numpy()
        result = tag.isin(values).to_numpy(bool, copy=True)
        rows, parts = self._split(key)
        if len(rows):
            result[rows] |= parts.isin(values).groupby(level=0, sort=True).any().to_numpy()
        return result

    def _split(self, key: str) -> tuple[np.ndarray, pd.Series]:
        """Positions of the objects whose ``key`` is a list, and the list items indexed by position."""
        if key not in self._lists:
            tag = _tag(self.features, key)
            listed = tag.notna() & tag.str.contains(";", regex=False).fillna(False).astype(bool)
            rows = np.flatnonzero(listed.to_numpy())
            parts = pd.Series(tag.to_numpy()[rows], index=rows).str.split(";").explode().str.strip()
            self._lists[key] = rows, parts
        return self._lists[key]


def _rule_mask(tags: _TagIndex, rule: TagRule) -> np.ndarray:
    mask = np.ones(len(tags.features), bool)
    for key, values in rule.match.items():
        mask &= tags.holds(key, values)
    for key, values in rule.unless.items():
        mask &= ~tags.holds(key, values)
    return mask


def _tag(features: pd.DataFrame, key: str) -> pd.Series:
    """The values of tag ``key`` (text or None); all None when no object has the key."""
    if key not in features.columns:
        return pd.Series(None, index=features.index, dtype=object)
    return features[key]


def _first(features: pd.DataFrame, keys: tuple[str, ...]) -> pd.Series:
    result = _tag(features, keys[0])
    for key in keys[1:]:
        result = result.where(result.notna(), _tag(features, key))
    return result


def _materials_held(features: pd.DataFrame, rule: MaterialRule) -> pd.DataFrame:
    """One boolean column per material: some recycling:<suffix> of it is 'yes'."""
    held = {}
    for material, suffixes in rule.values.items():
        yes = np.zeros(len(features), bool)
        for suffix in suffixes:
            yes |= (_tag(features, rule.prefix + suffix).str.lower() == "yes").fillna(False).to_numpy(bool)
        held[material] = yes
    return pd.DataFrame(held, index=features.index)


def _only(held: pd.DataFrame, allowed: frozenset[str]) -> np.ndarray:
    inside = [m for m in held.columns if m in allowed]
    outside = [m for m in held.columns if m not in allowed]
    some = held[inside].any(axis=1).to_numpy() if inside else np.zeros(len(held), bool)
    other = held[outside].any(axis=1).to_numpy() if outside else np.zeros(len(held), bool)
    return some & ~other


def _materials_text(held: pd.DataFrame, default: tuple[str, ...]) -> pd.Series:
    text = pd.Series("", index=held.index, dtype=object)
    for material in held.columns:
        text = text + np.where(held[material].to_numpy(), material + ";", "")
    text = text.str.rstrip(";")
    return text.where(text != "", ";".join(default) or None)


def _columns(subset: pd.DataFrame, rules: LayerRules, mapping: OSMMapping, classes: np.ndarray,
             held: pd.DataFrame | None) -> dict[str, Any]:
    spec = rules.spec
    element = subset["element"].astype(str)
    ident = subset["id"].astype("int64").astype(str)
    columns: dict[str, Any] = {}
    if spec.id_column:
        columns[spec.id_column] = ("osm_" + element + "_" + ident).to_numpy()
    if spec.class_column:
        columns[spec.class_column] = classes
    for column, keys in mapping.names.items():
        if column in spec.columns:
            columns[column] = _first(subset, keys)
    for column, keys in rules.columns.items():
        columns[column] = _typed(_first(subset, keys), spec.columns[column].type)
    if rules.materials and held is not None:
        columns[rules.materials.column] = _materials_text(held, rules.materials.default)
    for column, value in rules.defaults.items():
        columns[column] = columns[column].where(columns[column].notna(), value) if column in columns else value
    reference = element + "/" + ident
    name_spec = spec.columns.get("name_ru")
    if name_spec is not None and name_spec.required:
        name = columns.get("name_ru", pd.Series(None, index=subset.index, dtype=object))
        columns["name_ru"] = name.where(name.notna(), mapping.unnamed_ru + " (OSM " + reference + ")")
    if "source" in spec.columns:
        columns["source"] = ("OpenStreetMap " + reference).to_numpy()
    return columns


def _typed(values: pd.Series, kind: str) -> pd.Series:
    """OSM text as the catalog type; unparsable numbers become empty (e.g. population '≈1 млн')."""
    if kind == "str":
        return values
    if kind == "bool":
        return values.str.lower().map({"yes": True, "no": False}).astype(object)
    numbers = pd.to_numeric(values.str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", "."), errors="coerce")
    if kind == "int":
        return numbers.where(numbers % 1 == 0).astype("Int64")
    return numbers.astype(float)


def _to_family(geoms: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Geometries as the catalog family (closed ways closed into polygons), and which ones fit."""
    if family != "line":
        geoms = _close_rings(geoms)
    types = shapely.get_type_id(geoms)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if family == "polygon":
        return geoms, usable & np.isin(types, [_POLYGON, _MULTIPOLYGON])
    if family == "line":
        return geoms, usable & np.isin(types, [_LINE, _MULTILINE])
    points = geoms.copy()
    points[usable] = shapely.point_on_surface(geoms[usable])
    return points, usable


def _close_rings(geoms: np.ndarray) -> np.ndarray:
    """Closed LineStrings (OSM closed ways osmnx/GDAL left as lines) as Polygons."""
    lines = np.flatnonzero(shapely.get_type_id(geoms) == _LINE)
    closed = lines[shapely.is_closed(geoms[lines]) & (shapely.get_num_coordinates(geoms[lines]) >= 4)]
    if not len(closed):
        return geoms
    coords, index = shapely.get_coordinates(geoms[closed], return_index=True)
    polygons = shapely.polygons(shapely.linearrings(coords, indices=index))
    invalid = ~shapely.is_valid(polygons)
    polygons[invalid] = shapely.make_valid(polygons[invalid], method="structure", keep_collapsed=False)
    geoms = geoms.copy()
    geoms[closed] = polygons
    return geoms


def _inside(geoms: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    shapely.prepare(area)
    inside = np.zeros(len(geoms), bool)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    inside[ok] = shapely.within(shapely.point_on_surface(geoms[ok]), area)
    return inside


def _accuracy(geoms: np.ndarray, original: np.ndarray, base_m: float) -> np.ndarray:
    """``base_m``, or for a point placed on an area the farthest distance to the area (m)."""
    accuracy = np.full(len(geoms), float(base_m))
    moved = (shapely.get_type_id(geoms) == _POINT) & (shapely.get_type_id(original) != _POINT)
    if moved.any():
        metric = gpd.GeoSeries(np.concatenate([geoms[moved], original[moved]]), crs=settings.GEOGRAPHIC_CRS).to_crs(settings.ANALYSIS_CRS)
        arr = np.asarray(metric.values)
        spread = shapely.hausdorff_distance(arr[: moved.sum()], arr[moved.sum():])
        accuracy[moved] = np.maximum(accuracy[moved], np.ceil(spread))
    return accuracy


# --- reading files -------------------------------------------------------------------------

def read_osm_file(path: str | Path, mapping: OSMMapping | None = None, *, area: shapely.Geometry | None = None,
                  progress: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """Read an OSM extract (.osm XML, optionally .gz/.bz2, or .osm.pbf) into catalog layers in EPSG:4326."""
    path = Path(path)
    mapping = mapping or load_mapping()
    features = read_osm_features(path, mapping)
    layers = features_to_layers(features, mapping, area=area, progress=progress)
    if not layers:
        raise OSMError("no object fits a catalog layer", file=path, expected=_MAPPED)
    return layers


def read_osm_features(path: str | Path, mapping: OSMMapping) -> gpd.GeoDataFrame:
    """The objects of an OSM extract that the mapping may use: element, id, tag columns, geometry (EPSG:4326)."""
    path = Path(path)
    if _osm_kind(path) == "pbf":
        return _read_pbf(path, mapping)
    return _read_xml(path, mapping)


def _osm_kind(path: Path) -> str:
    """'xml' or 'pbf'; refuses a missing file or one that is not OpenStreetMap data."""
    if not path.is_file():
        raise OSMError("file not found", file=path, expected=_OSM_FILES)
    if path.stat().st_size == 0:
        raise OSMError("empty file", file=path, expected=_OSM_FILES)
    with path.open("rb") as raw:
        head = raw.read(64)
    if b"OSMHeader" in head:
        return "pbf"
    if path.name.lower().endswith(".pbf"):
        raise OSMError("not an OSM PBF file (no OSMHeader block)", file=path, expected="an .osm.pbf extract, e.g. from Geofabrik or osmium")
    root = _xml_root(path)
    if root != "osm":
        raise OSMError(f"not OpenStreetMap XML: the root element is <{root}>", file=path, expected="OSM XML whose root element is <osm>")
    return "xml"


@contextmanager
def _open_binary(path: Path) -> Iterator[IO[bytes]]:
    suffix = path.suffix.lower()
    opener = gzip.open if suffix == ".gz" else bz2.open if suffix == ".bz2" else open
    with opener(path, "rb") as handle:
        yield handle


def _xml_root(path: Path) -> str:
    try:
        with _open_binary(path) as handle:
            for _, element in ET.iterparse(handle, events=("start",)):
                return element.tag
    except (ET.ParseError, OSError, EOFError) as exc:
        raise OSMError(f"not XML ({_one_line(exc)})", file=path, expected=_OSM_FILES) from None
    raise OSMError("empty file", file=path, expected=_OSM_FILES)


def _read_xml(path: Path, mapping: OSMMapping) -> gpd.GeoDataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            features = ox.features_from_xml(path, tags=mapping.query_tags())
    except ox._errors.InsufficientResponseError:
        raise OSMError("no object with a tag the mapping uses", file=path, expected=_MAPPED) from None
    except (ET.ParseError, SAXException, EOFError) as exc:
        raise OSMError(f"truncated or malformed OSM XML ({_one_line(exc)})", file=path, expected="a complete OSM XML file") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise OSMError(f"unexpected OSM XML content ({type(exc).__name__}: {_one_line(exc)})", file=path, expected="OSM XML version 0.6") from None
    return features.reset_index()


def _read_pbf(path: Path, mapping: OSMMapping) -> gpd.GeoDataFrame:
    frames = [_read_pbf_layer(path, layer, element, mapping) for layer, element in _PBF_LAYERS]
    features = pd.concat(frames, ignore_index=True)
    if not len(features):
        raise OSMError("no object with a tag the mapping uses", file=path, expected=_MAPPED)
    features["id"] = pd.to_numeric(features["id"], errors="coerce").astype("int64")
    return gpd.GeoDataFrame(features, geometry="geometry", crs=settings.GEOGRAPHIC_CRS)


def _read_pbf_layer(path: Path, layer: str, element: str | None, mapping: OSMMapping) -> pd.DataFrame:
    """The objects of one GDAL OSM layer with an anchor tag: element, id, a column per mapped key, geometry.

    Keys GDAL has no field for are parsed from its ``other_tags`` hstore text:
    first the anchor keys for every object, then the rest for the kept ones.
    """
    anchors = mapping.query_tags()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fields = [str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]]
            wanted = [c for c in fields if c in mapping.tag_keys() or c in ("osm_id", "osm_way_id", "other_tags")]
            frame = pyogrio.read_dataframe(path, layer=layer, columns=wanted)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise OSMError(f"cannot read OSM PBF layer '{layer}' ({_one_line(exc)})", file=path, expected="a complete .osm.pbf extract") from None
    other = frame.pop("other_tags") if "other_tags" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    frame = _with_hstore_keys(frame, other, [key for key in anchors if key not in frame.columns])
    index = _TagIndex(frame)
    keep = np.logical_or.reduce([index.holds(key, None if v is True else tuple(v)) for key, v in anchors.items()])
    frame, other = frame[keep].reset_index(drop=True), other[keep].reset_index(drop=True)
    frame = _with_hstore_keys(frame, other, [key for key in mapping.tag_keys() if key not in frame.columns])
    if element is None:  # multipolygons: relations have osm_id, closed ways osm_way_id
        relation = frame["osm_id"].notna().to_numpy()
        frame["element"] = np.where(relation, "relation", "way")
        frame["id"] = frame["osm_id"].where(relation, frame["osm_way_id"])
    else:
        frame["element"] = element
        frame["id"] = frame["osm_id"]
    return frame.drop(columns=[c for c in ("osm_id", "osm_way_id") if c in frame.columns])


def _with_hstore_keys(frame: pd.DataFrame, other_tags: pd.Series, keys: list[str]) -> pd.DataFrame:
    """``frame`` plus one column per key (None where absent), parsed from GDAL's hstore text.

    ``other_tags`` reads '"k"=>"v","k2"=>"v2"' with '"' and backslashes escaped
    by a backslash; one regex scan per object extracts every wanted key at once.
    """
    if not keys:
        return frame
    table = pd.DataFrame({key: pd.Series(None, index=frame.index, dtype=object) for key in keys})
    text = other_tags.astype(object).dropna()
    if len(text):
        alternatives = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
        pairs = text.str.extractall(r'(?:^|,)"(?P<key>' + alternatives + r')"=>"(?P<value>(?:[^"\\]|\\.)*)"')
        if len(pairs):
            values = pairs["value"].str.replace(r"\\(.)", r"\1", regex=True).to_numpy(object)
            rows = pairs.index.get_level_values(0)
            found = pd.Series(values, index=pd.MultiIndex.from_arrays([rows, pairs["key"].to_numpy()])).unstack()
            table.loc[found.index, list(found.columns)] = found
    return pd.concat([frame, table.astype(object).where(table.notna(), None)], axis=1)


def _parts(value: str) -> set[str]:
    """The items of an OSM value list ('a;b' -> {'a', 'b'})."""
    return {part.strip() for part in value.split(";")}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


# --- the drive graph -----------------------------------------------------------------------

def drive_graph_from_file(path: str | Path, mapping: OSMMapping | None = None) -> nx.MultiDiGraph:
    """The drivable road network of an OSM XML extract (EPSG:4326, simplified, all components).

    Only ways the mapping's ``drive_graph`` filter accepts (osmnx's "drive"
    network) and their nodes are passed to ``osmnx.graph_from_xml``. PBF
    extracts are refused; ``osmium tags-filter in.osm.pbf w/highway -o highways.osm``
    gives a small XML file of the roads.
    """
    path = Path(path)
    mapping = mapping or load_mapping()
    if _osm_kind(path) == "pbf":
        raise OSMError("the drive graph is built from OSM XML, not PBF", file=path,
                       expected="an .osm file; extract one with: osmium tags-filter FILE.osm.pbf w/highway -o highways.osm")
    with tempfile.TemporaryDirectory(prefix="geo_almaty_osm_") as folder:
        subset = Path(folder) / "drive.osm"
        ways = _write_drive_subset(path, subset, mapping.drive)
        if ways == 0:
            raise OSMError("no drivable road in the file", file=path, expected="ways tagged highway=* that cars may use")
        try:
            graph = ox.graph_from_xml(subset, simplify=True, retain_all=True)
        except ox._errors.InsufficientResponseError:
            raise OSMError("no drivable road in the file", file=path, expected="ways tagged highway=* whose nodes are in the file") from None
    log.info("drive graph of %s: %d ways, %d nodes, %d edges", path.name, ways, graph.number_of_nodes(), graph.number_of_edges())
    return graph


def _write_drive_subset(source: Path, target: Path, drive: DriveFilter) -> int:
    """Copy the drivable ways of an OSM XML file and the nodes they use to ``target``; return the way count.

    Two streaming passes: the first keeps the drivable ways, the second their
    nodes (stopping at the first way when, as usual, nodes come first).
    """
    ways: list[bytes] = []
    nodes: set[str] = set()
    nodes_first, seen_way = True, False
    for element in _iter_elements(source, ("node", "way")):
        if element.tag == "node":
            nodes_first &= not seen_way
            continue
        seen_way = True
        if drive.drivable({tag.get("k", ""): tag.get("v", "") for tag in element.iterfind("tag")}):
            nodes.update(nd.get("ref", "") for nd in element.iterfind("nd"))
            element.tail = "\n"
            ways.append(ET.tostring(element, encoding="utf-8", xml_declaration=False))
    if not ways:
        return 0
    with target.open("wb") as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="geo_almaty">\n')
        for element in _iter_elements(source, ("node", "way")):
            if element.tag == "way":
                if nodes_first:
                    break
                continue
            if element.get("id") in nodes:
                element.tail = "\n"
                out.write(ET.tostring(element, encoding="utf-8", xml_declaration=False))
        out.writelines(ways)
        out.write(b"</osm>\n")
    return len(ways)


def _iter_elements(path: Path, tags: tuple[str, ...]) -> Iterator[ET.Element]:
    """Stream the top-level OSM elements named ``tags``, freeing each after use."""
    try:
        with _open_binary(path) as handle:
            context = ET.iterparse(handle, events=("start", "end"))
            _, root = next(context)
            for event, element in context:
                if event == "end" and element.tag in ("node", "way", "relation"):
                    if element.tag in tags:
                        yield element
                    root.clear()
    except (ET.ParseError, OSError, EOFError) as exc:
        raise OSMError(f"truncated or malformed OSM XML ({_one_line(exc)})", file=path, expected="a complete OSM XML file") from None


def save_drive_graph(graph: nx.MultiDiGraph, path: str | Path) -> Path:
    """Write ``graph`` as GraphML (osmnx format) atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ox.save_graphml(graph, tmp)
    log.info("drive graph written to %s", path)
    return path


# --- online --------------------------------------------------------------------------------

def fetch_osm(place: str, mapping: OSMMapping | None = None, *, progress: bool = False) -> tuple[dict[str, gpd.GeoDataFrame], nx.MultiDiGraph]:
    """Download the catalog layers and the drive graph of ``place`` (e.g. "Almaty, Kazakhstan").

    Geocodes the place once (Nominatim), then asks Overpass for the mapped
    features and osmnx's "drive" network inside it. Needs network access.
    """
    mapping = mapping or load_mapping()
    try:
        area = ox.geocode_to_gdf(place).geometry.iloc[0]
        features = ox.features_from_polygon(area, mapping.query_tags())
        graph = ox.graph_from_polygon(area, network_type="drive", retain_all=True)
    except ox._errors.InsufficientResponseError as exc:
        raise OSMError(f"OpenStreetMap returned no data for '{place}' ({_one_line(exc)})",
                       expected="a place Nominatim knows, e.g. 'Almaty, Kazakhstan'") from None
    except (TypeError, ValueError) as exc:
        raise OSMError(f"cannot use '{place}' ({_one_line(exc)})", expected="a place that geocodes to an area, e.g. 'Almaty, Kazakhstan'") from None
    except (ox._errors.ResponseStatusCodeError, requests.RequestException) as exc:
        raise OSMError(f"cannot download from OpenStreetMap ({_one_line(exc)})", expected="network access to Nominatim and Overpass, or an OSM file") from None
    layers = features_to_layers(features, mapping, area=area, progress=progress)
    if not layers:
        raise OSMError(f"no object in '{place}' fits a catalog layer", expected="a place in or around Almaty")
    return layers, graph


# --- writing -------------------------------------------------------------------------------

def write_osm_catalog(layers: dict[str, gpd.GeoDataFrame], gpkg_path: str | Path, graph_path: str | Path | None = None, *,
                      progress: bool = False) -> Path:
    """Write the layers to one GeoPackage and a catalog ``<stem>.catalog.yaml`` beside it; return the catalog path.

    The catalog ``extends: embedded`` and points each written layer at the
    GeoPackage; roads also get ``osm_graph`` when ``graph_path`` (an existing
    GraphML file) is given. Both files are written atomically.
    """
    gpkg_path = Path(gpkg_path)
    written = {name: frame for name, frame in layers.items() if len(frame)}
    if not written:
        raise OSMError("no layer has features", file=gpkg_path, expected="at least one OSM layer to write")
    if graph_path is not None and not Path(graph_path).is_file():
        raise OSMError("graph file not found", file=graph_path, expected="a GraphML file written by save_drive_graph")
    with atomic_path(gpkg_path) as tmp:
        for name, frame in progress_bar(list(written.items()), desc="GeoPackage", unit="layer", enabled=progress):
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    catalog_path = gpkg_path.with_name(f"{gpkg_path.stem}.catalog.yaml")
    write_text_atomic(catalog_path, _catalog_text(list(written), gpkg_path, Path(graph_path) if graph_path else None))
    log.info("OSM layers %s written to %s, catalog %s", ", ".join(written), gpkg_path, catalog_path)
    return catalog_path


def _catalog_text(names: list[str], gpkg_path: Path, graph_path: Path | None) -> str:
    layers: dict[str, Any] = {}
    for name in names:
        source: dict[str, str] = {"path": gpkg_path.name, "layer": name}
        if name == "roads" and graph_path is not None:
            source["osm_graph"] = _relative(graph_path, gpkg_path.parent)
        layers[name] = {"source": source}
    if graph_path is not None and "roads" not in names:
        log.warning("no OSM roads layer: the drive graph %s is not referenced by the catalog", graph_path)
    header = (
        "# Layers imported from OpenStreetMap by geo_almaty; the other layers come from the embedded catalog.\n"
        "# Map data (c) OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).\n"
    )
    attribution = "© OpenStreetMap contributors (ODbL 1.0)"
    document = {
        "version": 1, "extends": "embedded",
        "disclaimer": {"ru": f"Слои OSM: {attribution}; остальные — эскиз geo_almaty.", "kk": f"OSM қабаттары: {attribution}; қалғандары — geo_almaty эскизі.",
                       "en": f"OSM layers: {attribution}; the rest is the geo_almaty sketch."},
        "layers": layers,
    }
    return header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when possible (absolute across Windows drives), with '/'."""
    try:
        return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    except ValueError:
        return path.resolve().as_posix()


# --- one call for the command line -----------------------------------------------------------

def import_osm(gpkg_path: str | Path, *, place: str | None = None, osm_file: str | Path | None = None,
               progress: bool = False) -> Path:
    """Import OSM data for ``place`` (online) or from ``osm_file`` (offline); return the catalog path.

    Writes ``<stem>.gpkg``, the drive graph ``<stem>.drive.graphml`` and
    ``<stem>.catalog.yaml`` side by side. When a file yields no graph (a
    .osm.pbf extract, or no drivable road) a warning is logged and roads are
    written without ``osm_graph``.
    """
    if (place is None) == (osm_file is None):
        raise OSMError("give either a place or an OSM file", expected="exactly one of place and osm_file")
    gpkg_path = Path(gpkg_path)
    mapping = load_mapping()
    graph: nx.MultiDiGraph | None
    if place is not None:
        layers, graph = fetch_osm(place, mapping, progress=progress)
    else:
        source = Path(str(osm_file))
        layers = read_osm_file(source, mapping, progress=progress)
        try:
            graph = drive_graph_from_file(source, mapping)
        except OSMError as exc:
            log.warning("no drive graph: %s", exc)
            graph = None
    graph_path = save_drive_graph(graph, gpkg_path.with_name(f"{gpkg_path.stem}.drive.graphml")) if graph is not None else None
    return write_osm_catalog(layers, gpkg_path, graph_path, progress=progress)

"""Tagged OSM features (EPSG:4326) to catalog layers: classes, materials, columns, geometry families."""
from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from ..progress import progress_bar
from .mapping import LayerRules, MaterialRule, OSMMapping, TagRule, Values, load_mapping

log = logging.getLogger(__name__)

_POINT, _LINE, _POLYGON, _MULTILINE, _MULTIPOLYGON = 0, 1, 3, 5, 6
_MAPPED = "an extract with land use, roads, amenities or other objects the OSM tag mapping knows"


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

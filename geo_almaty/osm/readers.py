"""Reading OSM extracts offline: ``.osm`` XML (optionally gz/bz2) through osmnx, ``.osm.pbf`` through GDAL."""
from __future__ import annotations

import bz2
import gzip
import logging
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from xml.sax import SAXException

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from .. import settings
from ..errors import OSMError
from .convert import _TagIndex, features_to_layers
from .mapping import OSMMapping, load_mapping

log = logging.getLogger(__name__)

#: Layers of GDAL's OSM driver read from a .osm.pbf, with the element type of their rows.
_PBF_LAYERS = (("points", "node"), ("lines", "way"), ("multipolygons", None))
_OSM_FILES = "an OpenStreetMap extract (.osm, .osm.gz, .osm.bz2 or .osm.pbf)"
_MAPPED = "an extract with land use, roads, amenities or other objects the OSM tag mapping knows"


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
    """Mapped objects of a .osm.pbf; objects GDAL builds broken geometries for are dropped and counted.

    Real extracts always hold a few (a multipolygon ring of two points, a way
    whose nodes are cut off by the extract): the count and the first ids are
    logged as a warning and kept in ``attrs["broken_objects"]``.
    """
    frames, broken = [], []
    for layer, element in _PBF_LAYERS:
        frame, dropped = _read_pbf_layer(path, layer, element, mapping)
        frames.append(frame)
        broken += dropped
    features = pd.concat(frames, ignore_index=True)
    if not len(features):
        raise OSMError("no object with a tag the mapping uses", file=path, expected=_MAPPED)
    features["id"] = pd.to_numeric(features["id"], errors="coerce").astype("int64")
    result = gpd.GeoDataFrame(features, geometry="geometry", crs=settings.GEOGRAPHIC_CRS)
    result.attrs["broken_objects"] = broken
    if broken:
        log.warning("%s: %d OSM object(s) with a broken geometry dropped (e.g. %s)", path.name, len(broken), ", ".join(broken[:5]))
    return result


def _read_pbf_layer(path: Path, layer: str, element: str | None, mapping: OSMMapping) -> tuple[pd.DataFrame, list[str]]:
    """The objects of one GDAL OSM layer with an anchor tag: element, id, a column per mapped key, geometry.

    Keys GDAL has no field for are parsed from its ``other_tags`` hstore text:
    first the anchor keys for every object, then the rest for the kept ones.
    Geometries are decoded from WKB here, so that one GEOS cannot build (a ring
    of fewer than 4 points) drops that object instead of the whole import; the
    second value lists the dropped objects ('way/27105968').
    """
    anchors = mapping.query_tags()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fields = [str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]]
            wanted = [c for c in fields if c in mapping.tag_keys() or c in ("osm_id", "osm_way_id", "other_tags")]
            meta, _, wkb, values = pyogrio.raw.read(path, layer=layer, columns=wanted)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise OSMError(f"cannot read OSM PBF layer '{layer}' ({_one_line(exc)})", file=path, expected="a complete .osm.pbf extract") from None
    geometry = shapely.from_wkb(wkb, on_invalid="ignore")
    frame = pd.DataFrame({str(name): column for name, column in zip(meta["fields"], values)})
    broken = shapely.is_missing(geometry) & pd.notna(pd.Series(wkb)).to_numpy()
    dropped = [_reference(frame.iloc[i], element) for i in np.flatnonzero(broken)]
    frame = frame[~broken].reset_index(drop=True)
    frame["geometry"] = geometry[~broken]
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
    return frame.drop(columns=[c for c in ("osm_id", "osm_way_id") if c in frame.columns]), dropped


def _reference(row: pd.Series, element: str | None) -> str:
    """'way/123' or 'relation/456' for a row of a GDAL OSM layer."""
    if element is None:
        relation = pd.notna(row.get("osm_id"))
        return f"{'relation' if relation else 'way'}/{row.get('osm_id') if relation else row.get('osm_way_id')}"
    return f"{element}/{row.get('osm_id')}"


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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__

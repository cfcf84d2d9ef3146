"""Read, validate, repair and reproject the spatial layers of a catalog.

Vector layers are read with pyogrio (GeoPackage, Shapefile, GeoJSON,
FlatGeobuf) or pandas (CSV with lon/lat columns), mapped onto the catalog's
columns and classes, checked, repaired and reprojected to EPSG:32643. Bad
input raises a one-line :class:`~geo_almaty.errors.LayerError` that names the
file, the layer and the column.
"""
from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from . import settings
from .catalog import GEOMETRY_FAMILIES, Catalog, LayerSpec, SourceSpec
from .crs import check_near_almaty, check_within_extent, parse_crs, study_extent, to_analysis_crs
from .errors import InputError, LayerError
from .progress import progress_bar
from .textsafe import is_missing_text

log = logging.getLogger(__name__)

_TRUE = {"true", "1", "yes", "y", "t", "да", "иә"}
_FALSE = {"false", "0", "no", "n", "f", "нет", "жоқ", ""}


@dataclass
class LayerReport:
    """What reading one layer found: counts, CRS, repairs and problems."""

    name: str
    kind: str
    source: str
    features: int = 0
    geometry: str = ""
    crs: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when the layer can be used (no fatal problem)."""
        return not self.problems


@dataclass
class LoadedLayer:
    """A layer in EPSG:32643 with the catalog's columns, and its report."""

    spec: LayerSpec
    frame: gpd.GeoDataFrame
    report: LayerReport


def read_layer(spec: LayerSpec, *, extent: shapely.Geometry | None = None) -> LoadedLayer:
    """Read and validate one vector layer; raise :class:`LayerError` if it is unusable.

    ``extent`` (EPSG:32643; the study area grown by its margin, see
    :func:`geo_almaty.crs.study_extent`) is where every feature must touch; a layer
    marked ``extent: region``, or any layer when ``extent`` is None, must lie
    within :data:`settings.REGION_RADIUS_M` or :data:`settings.MAX_DISTANCE_FROM_CENTRE_M`
    of the centre instead.
    """
    if spec.kind != "vector":
        raise LayerError("not a vector layer", layer=spec.name, expected="a vector layer (rasters are read by geo_almaty.raster)")
    if spec.source is None:
        raise LayerError("the catalog gives no source", layer=spec.name, column="source", expected="source.path pointing at a file")
    source = spec.source
    file = str(source.path)
    report = LayerReport(spec.name, spec.kind, _source_label(source))
    frame = _read_file(spec, source, report)
    report.crs = frame.crs.to_string() if frame.crs is not None else ""
    if len(frame) == 0:
        raise LayerError("the layer is empty", file=file, layer=spec.name, expected="at least one feature")
    frame = _map_columns(frame, spec, source)
    frame = _clean_geometries(frame, spec, file, report)
    frame = to_analysis_crs(frame, file=file, layer=spec.name)
    frame = _check_ids(frame, spec, file, report)
    if spec.extent == "region":
        check_near_almaty(frame, id_column=spec.id_column, file=file, layer=spec.name, max_distance_m=settings.REGION_RADIUS_M)
    elif extent is not None:
        check_within_extent(frame, extent, id_column=spec.id_column, file=file, layer=spec.name)
    else:
        check_near_almaty(frame, id_column=spec.id_column, file=file, layer=spec.name)
    frame = _check_columns(frame, spec, file)
    frame = _check_classes(frame, spec, source, file)
    report.features = len(frame)
    report.geometry = ", ".join(f"{t} ×{n}" for t, n in Counter(frame.geom_type).most_common())
    for note in report.notes:
        log.info("layer %s: %s", spec.name, note)
    return LoadedLayer(spec, frame.reset_index(drop=True), report)


def load_layers(catalog: Catalog, names: list[str] | None = None, *, progress: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """Read the catalog's vector layers that have data (or ``names``), all in EPSG:32643.

    The study area is read first; every other layer must touch it (plus its margin).
    """
    from .study_area import study_area_geometry

    specs = [catalog.layer(n) for n in names] if names else [s for s in catalog.with_sources() if s.kind == "vector"]
    area_layer = read_layer(catalog.layer("study_area")).frame if catalog.has_data("study_area") else None
    extent = study_extent(study_area_geometry(catalog, {"study_area": area_layer} if area_layer is not None else None))
    result = {}
    for spec in progress_bar(specs, desc="layers", unit="layer", enabled=progress):
        result[spec.name] = area_layer if spec.name == "study_area" else read_layer(spec, extent=extent).frame
    return result


def validate_catalog(catalog: Catalog, *, progress: bool = False) -> list[LayerReport]:
    """Try every layer of the catalog and report, without raising, what each one holds."""
    from .raster import raster_report

    from .study_area import study_area_geometry

    reports = []
    try:
        extent = study_extent(study_area_geometry(catalog))
    except InputError:
        extent = None  # the study_area layer's own report below says why; the others get the centre-distance check
    for spec in progress_bar(list(catalog.layers.values()), desc="validate", unit="layer", enabled=progress):
        if spec.source is None and spec.kind == "network" and catalog.has_data("roads"):
            try:
                report = _network_report(spec, catalog)
            except InputError as exc:
                report = LayerReport(spec.name, spec.kind, "roads", problems=[exc.short()])
            reports.append(report)
            continue
        if spec.source is None:
            # Not a problem by itself: the run's checks (geo_almaty.validate) say whether a profile needs it.
            note = "optional layer without data" if spec.optional else "no data in this catalog"
            reports.append(LayerReport(spec.name, spec.kind, "(none)", notes=[note]))
            continue
        try:
            if spec.kind == "raster":
                report = raster_report(spec, catalog)
            elif spec.kind == "network":
                report = _network_report(spec, catalog)
            else:
                report = read_layer(spec, extent=None if spec.name == "study_area" else extent).report
        except InputError as exc:
            report = LayerReport(spec.name, spec.kind, _source_label(spec.source), problems=[exc.short()])
        reports.append(report)
    return reports


def _network_report(spec: LayerSpec, catalog: Catalog) -> LayerReport:
    """Build the catalog's road network (GraphML, or the roads layer) and report its size."""
    from .network import load_network

    network = load_network(catalog)
    label = _source_label(spec.source) if spec.source is not None else "built from roads"
    report = LayerReport(spec.name, spec.kind, label, features=network.n_links, geometry=f"{network.n_nodes:,} nodes",
                         crs=settings.ANALYSIS_CRS)
    report.notes.append(network.report.summary())
    return report


def _source_label(source: SourceSpec) -> str:
    text = source.path.name
    return f"{text}:{source.layer}" if source.layer else text


def _read_file(spec: LayerSpec, source: SourceSpec, report: LayerReport) -> gpd.GeoDataFrame:
    path, file = source.path, str(source.path)
    if not path.exists():
        raise LayerError("file not found", file=file, layer=spec.name, expected="an existing GIS file (GeoPackage, Shapefile, GeoJSON, FlatGeobuf or CSV)")
    if path.suffix.lower() in (".csv", ".txt"):
        return _read_csv_points(spec, source)
    if source.layer is not None:
        try:
            available = [str(name) for name, _ in pyogrio.list_layers(path)]
        except (DataSourceError, DataLayerError, OSError) as exc:
            raise LayerError(f"cannot open: {_gdal_message(exc)}", file=file, layer=spec.name, expected="a readable GIS file") from None
        if source.layer not in available:
            raise LayerError(f"no layer '{source.layer}' in the file (it has: {', '.join(available) or 'none'})", file=file, layer=spec.name,
                             column="source.layer", expected="the name of a layer in the file")
    encoding = source.encoding
    if encoding is None and path.suffix.lower() == ".shp":
        guess = guess_dbf_encoding(path)
        if guess is not None:
            encoding = guess
            report.notes.append(f"no .cpg beside the Shapefile: attribute text read as {guess} (guessed from the bytes; "
                                f"set source.encoding to override)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
            frame = pyogrio.read_dataframe(path, layer=source.layer, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise LayerError(f"attributes are not {source.encoding or 'UTF-8'} ({exc.reason} at byte {exc.start})", file=file, layer=spec.name,
                         expected="UTF-8 attributes, or source.encoding naming the file's encoding (e.g. cp1251)") from None
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise LayerError(f"cannot read: {_gdal_message(exc)}", file=file, layer=spec.name, expected="a complete, uncorrupted GIS file") from None
    if not isinstance(frame, gpd.GeoDataFrame) or "geometry" not in frame:
        raise LayerError("the file has no geometry", file=file, layer=spec.name, column="geometry", expected=f"{spec.geometry} features")
    _check_text_decoding(frame, spec, source)
    return _declared_crs(frame, spec, source, report)


def _declared_crs(frame: gpd.GeoDataFrame, spec: LayerSpec, source: SourceSpec, report: LayerReport) -> gpd.GeoDataFrame:
    """The catalog's ``source.crs`` wins over the file's CRS (GDAL reports EPSG:4326 for every GeoJSON); say when they differ."""
    file = str(source.path)
    if source.crs is None:
        if frame.crs is None:
            raise LayerError("no CRS", file=file, layer=spec.name, expected="a file with a CRS (.prj, GeoPackage SRS), or source.crs in the catalog")
        return frame
    declared = parse_crs(source.crs, file=file, layer=spec.name)
    if frame.crs is not None and not declared.equals(frame.crs, ignore_axis_order=True):
        note = f"source.crs {source.crs} overrides the file's CRS {_crs_name(frame.crs)}"
        report.notes.append(note)
        log.warning("layer %s (%s): %s", spec.name, source.path.name, note)
    return frame.set_crs(declared, allow_override=True)


def _crs_name(crs) -> str:  # noqa: ANN001 - a pyproj CRS
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def guess_dbf_encoding(shp: Path) -> str | None:
    """The text encoding of a Shapefile's attributes when nothing declares it (no .cpg, no DBF language byte).

    Returns None when the file declares its encoding or its text is plain ASCII
    (GDAL then reads it right). Otherwise 'UTF-8' when every text field decodes
    as UTF-8, else the Cyrillic code page (CP1251, RK1048 i.e. KZ-1048, CP866, KOI8-R) whose
    decoding reads most like Russian or Kazakh text; None for Latin text.
    """
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.is_file()), None)
    if dbf is None or any(p.is_file() for p in (shp.with_suffix(".cpg"), shp.with_suffix(".CPG"))):
        return None
    texts = _dbf_texts(dbf)
    if texts is None:
        return None
    try:
        for text in texts:
            text.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    scores = {codec: _cyrillic_score(texts, codec) for codec in _CYRILLIC_CODECS}
    best = max(scores, key=scores.get)  # ties keep the first: CP1251
    return best if scores[best] > 0 else None


_CYRILLIC_CODECS = ("CP1251", "RK1048", "CP866", "KOI8-R")  # names both Python and GDAL (iconv) know
#: Letter frequencies of Russian text (and rough ones for the Kazakh letters): the right code page decodes
#: the bytes to frequent letters, a wrong one to a permutation of them or to symbols.
_LETTER_FREQUENCY = dict(zip(
    "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё" "іқәңұүғөһ",
    (.1097, .0845, .0801, .0735, .0670, .0626, .0547, .0473, .0454, .0440, .0349, .0321, .0298, .0281, .0262, .0201, .0190,
     .0174, .0170, .0165, .0159, .0144, .0121, .0097, .0094, .0073, .0064, .0048, .0036, .0032, .0026, .0004, .0004,
     .030, .020, .015, .012, .012, .010, .008, .008, .001)))


def _dbf_texts(dbf: Path, max_records: int = 5000) -> list[bytes] | None:
    """Non-ASCII values of the character fields of the first ``max_records`` records; None if declared or all ASCII."""
    data = dbf.read_bytes()
    if len(data) < 32 or data[29] != 0:  # byte 29: the language driver id, which GDAL honours
        return None
    records, header, size = int.from_bytes(data[4:8], "little"), int.from_bytes(data[8:10], "little"), int.from_bytes(data[10:12], "little")
    fields, offset = [], 1  # each record starts with a deletion flag
    for pos in range(32, header - 1, 32):
        if data[pos] == 0x0D:
            break
        length = data[pos + 16]
        if chr(data[pos + 11]) == "C":
            fields.append((offset, length))
        offset += length
    texts = []
    for r in range(min(records, max_records)):
        start = header + r * size
        for field_offset, length in fields:
            value = data[start + field_offset:start + field_offset + length].rstrip(b" \x00")
            if any(b >= 0x80 for b in value):
                texts.append(value)
    return texts or None


def _cyrillic_score(texts: list[bytes], codec: str) -> float:
    """Mean letter frequency of the non-ASCII characters decoded with ``codec``; 0 when most letters are Latin."""
    decoded = "".join(t.decode(codec, errors="replace") for t in texts).lower()
    letters = [c for c in decoded if c.isalpha()]
    cyrillic = [c for c in letters if c in _LETTER_FREQUENCY]
    if len(cyrillic) < 0.5 * max(len(letters), 1):
        return 0.0
    wide = [c for c in decoded if ord(c) >= 0x80]
    return sum(_LETTER_FREQUENCY.get(c, 0.0) for c in wide) / max(len(wide), 1)


def _read_csv_points(spec: LayerSpec, source: SourceSpec) -> gpd.GeoDataFrame:
    file = str(source.path)
    try:
        table = pd.read_csv(source.path, encoding=source.encoding or "utf-8", dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise LayerError(f"not {source.encoding or 'UTF-8'} ({exc.reason} at byte {exc.start})", file=file, layer=spec.name,
                         expected="UTF-8 text, or source.encoding naming the file's encoding") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LayerError(f"cannot read CSV: {' '.join(str(exc).split())}", file=file, layer=spec.name, expected="comma-separated values with a header") from None
    x_col, y_col = source.x or "lon", source.y or "lat"
    coords = []
    for col, key in ((x_col, "source.x"), (y_col, "source.y")):
        if col not in table.columns:
            raise LayerError(f"no coordinate column '{col}'", file=file, layer=spec.name, column=col, expected=f"{key} naming the file's {'longitude' if key.endswith('x') else 'latitude'} column")
        values = pd.to_numeric(table[col].str.replace(",", ".", regex=False), errors="coerce")
        if values.isna().any():
            bad = table.loc[values.isna(), col].iloc[0]
            raise LayerError(f"not a number: '{bad}'", file=file, layer=spec.name, column=col, row=int(values.isna().idxmax()) + 2, expected="decimal degrees")
        coords.append(values.to_numpy(float))
    if spec.geometry != "point":
        raise LayerError("a CSV gives points", file=file, layer=spec.name, column="geometry", expected=f"{spec.geometry} features (use a GIS file)")
    crs = parse_crs(source.crs, file=file, layer=spec.name) if source.crs else settings.GEOGRAPHIC_CRS
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(coords[0], coords[1]), crs=crs)


def _gdal_message(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _check_text_decoding(frame: gpd.GeoDataFrame, spec: LayerSpec, source: SourceSpec) -> None:
    """GDAL may replace undecodable bytes by U+FFFD instead of failing; refuse such attributes."""
    for column in frame.columns:
        if column == frame.geometry.name or frame[column].dtype != object:
            continue
        values = frame[column].dropna()
        bad = values[values.map(lambda v: isinstance(v, str) and "\ufffd" in v)]
        if len(bad):
            raise LayerError(f"attribute text is not valid {source.encoding or 'UTF-8'} (e.g. '{bad.iloc[0][:40]}')", file=str(source.path),
                             layer=spec.name, column=str(column), expected="UTF-8 attributes, or source.encoding naming the file's encoding (e.g. cp1251)")


def _map_columns(frame: gpd.GeoDataFrame, spec: LayerSpec, source: SourceSpec) -> gpd.GeoDataFrame:
    file = str(source.path)
    renames = {}
    for target, original in source.columns.items():
        if original not in frame.columns:
            raise LayerError(f"mapped column '{original}' is not in the file (it has: {', '.join(map(str, frame.columns.drop(frame.geometry.name)))})",
                             file=file, layer=spec.name, column=original, expected=f"a column of the file to use as '{target}'")
        renames[original] = target
    frame = frame.rename(columns=renames)
    for column, value in source.defaults.items():
        if column not in frame.columns:
            frame[column] = value
        else:
            frame[column] = frame[column].where(frame[column].notna(), value)
    return frame


def _clean_geometries(frame: gpd.GeoDataFrame, spec: LayerSpec, file: str, report: LayerReport) -> gpd.GeoDataFrame:
    family = GEOMETRY_FAMILIES[spec.geometry]
    geoms = frame.geometry.values
    missing = shapely.is_missing(np.asarray(geoms)) | shapely.is_empty(np.asarray(geoms))
    if missing.any():
        report.notes.append(f"{int(missing.sum())} features without geometry dropped")
        frame = frame[~missing]
    if len(frame) == 0:
        raise LayerError("no feature has a geometry", file=file, layer=spec.name, column="geometry", expected=f"{spec.geometry} features")
    arr = np.asarray(frame.geometry.values)
    invalid = ~shapely.is_valid(arr)
    if invalid.any():
        arr = arr.copy()
        arr[invalid] = shapely.make_valid(arr[invalid])
        report.notes.append(f"{int(invalid.sum())} invalid geometries repaired")
    arr = _keep_family(arr, spec.geometry)
    wanted = np.isin(shapely.get_type_id(arr), [_TYPE_IDS[t] for t in family])
    if not wanted.any():
        found = ", ".join(sorted(set(frame.geom_type.dropna())))
        raise LayerError(f"wrong geometry type {found}", file=file, layer=spec.name, column="geometry", expected=" or ".join(family))
    if not wanted.all():
        dropped = Counter(shapely.get_type_id(arr[~wanted]).tolist())
        names = ", ".join(f"{n} {_TYPE_NAMES.get(t, t)}" for t, n in dropped.items())
        report.notes.append(f"{int((~wanted).sum())} features of another geometry type dropped ({names})")
    frame = frame[wanted].copy()
    frame = frame.set_geometry(gpd.GeoSeries(arr[wanted], index=frame.index, crs=frame.crs))
    return frame


_TYPE_IDS = {"Point": 0, "LineString": 1, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5, "MultiPolygon": 6, "GeometryCollection": 7}
_TYPE_NAMES = {v: k for k, v in _TYPE_IDS.items()} | {2: "LinearRing"}


def _keep_family(arr: np.ndarray, geometry: str) -> np.ndarray:
    """Reduce GeometryCollections (e.g. from make_valid) to their parts of the wanted family."""
    collections = np.flatnonzero(shapely.get_type_id(arr) == _TYPE_IDS["GeometryCollection"])
    if not len(collections):
        return arr
    wanted = [_TYPE_IDS[t] for t in GEOMETRY_FAMILIES[geometry]]
    arr = arr.copy()
    for i in collections:  # only the few repaired collections, not every feature
        parts = shapely.get_parts(arr[i])
        parts = parts[np.isin(shapely.get_type_id(parts), wanted)]
        if len(parts):
            arr[i] = shapely.union_all(parts) if geometry != "point" else shapely.multipoints(parts)
    return arr


def _check_ids(frame: gpd.GeoDataFrame, spec: LayerSpec, file: str, report: LayerReport) -> gpd.GeoDataFrame:
    if not spec.id_column:
        return frame
    if spec.id_column not in frame.columns:
        frame = frame.copy()
        frame[spec.id_column] = [f"{spec.name}_{i + 1}" for i in range(len(frame))]
        report.notes.append(f"no '{spec.id_column}' column: ids generated")
        return frame
    ids = frame[spec.id_column]
    if ids.isna().any():
        raise LayerError(f"{int(ids.isna().sum())} features without an id", file=file, layer=spec.name, column=spec.id_column, expected="an id on every feature")
    frame = frame.copy()
    frame[spec.id_column] = ids.map(_id_text)
    duplicated = frame[spec.id_column][frame[spec.id_column].duplicated()]
    if len(duplicated):
        first = duplicated.iloc[0]
        count = int((frame[spec.id_column] == first).sum())
        raise LayerError(f"duplicate id '{first}' ({count} features)", file=file, layer=spec.name, column=spec.id_column, expected="a unique id per feature")
    return frame


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_columns(frame: gpd.GeoDataFrame, spec: LayerSpec, file: str) -> gpd.GeoDataFrame:
    frame = frame.copy()
    keep = [c for c in spec.columns if c in frame.columns]
    for name, col in spec.columns.items():
        if name not in frame.columns:
            if col.required:
                raise LayerError("required column missing", file=file, layer=spec.name, column=name,
                                 expected=f"a {col.type} column '{name}' (map the file's column with source.columns)")
            continue
        frame[name] = _cast(frame, name, col.type, spec, file)
        values = frame[name]
        if col.required and values.isna().any():
            first = frame.loc[values.isna(), spec.id_column].iloc[0] if spec.id_column else int(values.isna().idxmax())
            raise LayerError(f"{int(values.isna().sum())} features lack a value (first: {first})", file=file, layer=spec.name, column=name,
                             expected=f"a {col.type} value on every feature")
        if col.min is not None or col.max is not None:
            numeric = pd.to_numeric(values, errors="coerce")
            low = col.min if col.min is not None else -np.inf
            high = col.max if col.max is not None else np.inf
            bad = numeric.notna() & ((numeric < low) | (numeric > high))
            if bad.any():
                raise LayerError(f"value {numeric[bad].iloc[0]} out of range", file=file, layer=spec.name, column=name,
                                 expected=f"values between {col.min} and {col.max}")
    columns = ([spec.id_column] if spec.id_column else []) + [c for c in keep if c != spec.id_column]
    return frame[columns + [frame.geometry.name]]


def _cast(frame: gpd.GeoDataFrame, name: str, kind: str, spec: LayerSpec, file: str) -> pd.Series:
    values = frame[name]
    if kind == "str":
        return values.map(lambda v: None if _is_null(v) else str(v).strip()).astype(object)
    if kind in ("int", "float"):
        # A bare NaN in a JSON file (osmnx exports have thousands) reaches us as the text 'NaN': it means missing.
        text = values.map(lambda v: None if _is_null(v) or (isinstance(v, str) and v.strip().lower() in ("nan", ""))
                          else (str(v).replace(",", ".").strip() if isinstance(v, str) else v))
        numeric = pd.to_numeric(text, errors="coerce")
        bad = numeric.isna() & text.notna()
        if bad.any():
            raise LayerError(f"not a number: '{values[bad].iloc[0]}'", file=file, layer=spec.name, column=name, expected=f"{kind} values")
        if kind == "int":
            if (numeric.dropna() % 1 != 0).any():
                raise LayerError(f"not a whole number: {numeric[numeric % 1 != 0].iloc[0]}", file=file, layer=spec.name, column=name, expected="whole numbers")
            return numeric.astype("Int64")
        return numeric.astype(float)
    # bool
    def to_bool(v: object) -> object:
        if _is_null(v):
            return None
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):  # GDAL reads booleans with gaps as 0.0/1.0
            return bool(v)
        text = str(v).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise LayerError(f"not a yes/no value: '{v}'", file=file, layer=spec.name, column=name, expected="true/false, yes/no or 1/0")
    return values.map(to_bool).astype(object)


def _is_null(value: object) -> bool:
    """Missing: None, NaN, NA, blank text, or the text tools write for a missing value ('NaN', 'None')."""
    return is_missing_text(value)


def _check_classes(frame: gpd.GeoDataFrame, spec: LayerSpec, source: SourceSpec, file: str) -> gpd.GeoDataFrame:
    for column, mapping in source.values.items():
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v, m=mapping: m.get(str(v), v) if not _is_null(v) else v)
    if spec.class_column and spec.classes:
        if spec.class_column not in frame.columns:
            raise LayerError("class column missing", file=file, layer=spec.name, column=spec.class_column,
                             expected=f"a column of classes ({', '.join(spec.classes)}); map it with source.columns")
        values = frame[spec.class_column]
        unknown = sorted({str(v) for v in values.dropna()} - set(spec.classes))
        if unknown or values.isna().any():
            shown = ", ".join(f"'{u}'" for u in unknown[:5]) or "empty values"
            raise LayerError(f"unknown class value(s) {shown}", file=file, layer=spec.name, column=spec.class_column,
                             expected=f"one of {', '.join(spec.classes)} (map other values with source.values)")
    for column, allowed in spec.list_values.items():
        if column not in frame.columns:
            continue
        items = {item.strip() for v in frame[column].dropna() for item in str(v).split(";") if item.strip()}
        unknown = sorted(items - set(allowed))
        if unknown:
            raise LayerError(f"unknown value(s) {', '.join(repr(u) for u in unknown[:5])}", file=file, layer=spec.name, column=column,
                             expected=f"a ';'-separated list of {', '.join(allowed)}")
    return frame

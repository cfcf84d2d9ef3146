"""Write scored candidates and chosen sites for the akimat's GIS: GeoPackage, CSV and a GeoTIFF surface.

Vector outputs are reprojected to EPSG:4326 at the edge (lon/lat columns in the
CSV); the score surface stays on the EPSG:32643 analysis grid. Every file is
written to a temporary name and renamed, so no partial output is left behind.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
from rasterio import features as rio_features

from . import settings
from .allocate import Allocation
from .atomic import atomic_path
from .explain import site_reasons, tonnage_reached
from .prepare import Study
from .reproducible import fixed_gdal_timestamp
from .score import ScoreResult
from .select import candidate_districts, district_names
from .siting.jurisdiction import candidate_jurisdiction
from .siting.report import site_rule_columns
from .textsafe import is_missing_text, neutralise_formula


def breakdown_columns(result: ScoreResult, rows: np.ndarray, *, straight: bool = False) -> dict[str, np.ndarray]:
    """Per-criterion columns ``<id>_raw, _value, _weight, _contrib`` for candidate ``rows``.

    With ``straight``, a road criterion also gets its straight-line comparison beside the raw value:
    ``<id>_straight_m`` (distance to the same nearest feature) or ``<id>_straight_amount`` (the
    amount within the radius as the crow flies).
    """
    columns: dict[str, np.ndarray] = {}
    for j, spec in enumerate(result.criteria):
        cid = spec["id"]
        columns[f"{cid}_raw"] = result.raw[rows, j]
        road = result.road.get(cid)
        if straight and road is not None and road.straight is not None:
            suffix = "straight_amount" if spec["type"] == "reachable" else "straight_m"
            columns[f"{cid}_{suffix}"] = road.straight(rows) if len(rows) else np.empty(0)
        columns[f"{cid}_value"] = result.values[rows, j]
        columns[f"{cid}_weight"] = np.full(len(rows), result.weights[j])
        columns[f"{cid}_contrib"] = result.contributions[rows, j]
    return columns


#: Share of the best-scoring candidates written to the GeoPackage by default (the GeoTIFF holds all scores).
DEFAULT_CANDIDATE_SHARE = 0.10


def scored_frame(result: ScoreResult, study: Study, *, include_excluded: bool = False, best_share: float | None = None) -> gpd.GeoDataFrame:
    """Candidates with score, district, exclusion and the criterion breakdown (EPSG:32643).

    ``best_share`` keeps only that share of the non-excluded candidates, best first
    (ties kept); ``None`` keeps all of them.
    """
    rows = np.arange(len(result.candidates)) if include_excluded else np.flatnonzero(~result.excluded)
    if best_share is not None and len(rows):
        scores = result.score[rows]
        cutoff = np.nanquantile(scores, 1.0 - best_share) if np.isfinite(scores).any() else np.inf
        rows = rows[scores >= cutoff]
    districts = candidate_districts(study, result)
    excluded_by = result.rules.joined(rows) if result.rules is not None else result.exclusion[rows].astype(str)
    flags = result.rules.joined(rows, "flag") if result.rules is not None else np.full(len(rows), "", dtype=object)
    data = {
        "candidate_id": result.candidates.labels(rows),
        "facility": result.profile.id,
        "score": result.score[rows],
        "district_id": districts[rows],
        "jurisdiction": candidate_jurisdiction(study, result.candidates).kind[rows],
        "excluded_by": excluded_by.astype(str),
        "flags": flags.astype(str),
        **breakdown_columns(result, rows),
    }
    return gpd.GeoDataFrame(data, geometry=result.candidates.geometries(study)[rows], crs=settings.ANALYSIS_CRS)


def top_sites_frame(result: ScoreResult, study: Study, selection: pd.DataFrame, allocations: dict[str, Allocation], lang: str) -> gpd.GeoDataFrame:
    """The chosen sites with rank, lon/lat, tonnage within reach, reasons and the breakdown (EPSG:32643)."""
    rows = selection["candidate"].to_numpy()
    geometry = gpd.points_from_xy(result.candidates.x[rows], result.candidates.y[rows], crs=settings.ANALYSIS_CRS)
    lonlat = gpd.GeoSeries(geometry).to_crs(settings.GEOGRAPHIC_CRS)
    reached = [tonnage_reached(result, int(i), allocations) for i in rows]
    names = district_names(study)
    data = {
        "rank": selection["rank"].to_numpy(),
        "candidate_id": result.candidates.labels(rows),
        "facility": result.profile.id,
        "score": selection["score"].to_numpy(),
        "district_id": selection["district_id"].to_numpy(),
        "district": [names.get(d, {}).get(lang, d) for d in selection["district_id"]],
        "lon": lonlat.x.round(6).to_numpy(),
        "lat": lonlat.y.round(6).to_numpy(),
    }
    if "stage" in selection.columns:
        data["stage"] = selection["stage"].to_numpy()
        data["stage_condition_met"] = selection["stage_condition_met"].to_numpy()
    data.update({k: v.to_numpy() for k, v in site_rule_columns(result, study, rows, lang).items()})
    for allocation_id in sorted({k for r in reached for k in r}):
        unit = allocations[allocation_id].unit.replace("/", "_per_")
        data[f"reach_{allocation_id}_{unit}"] = np.array([r.get(allocation_id, np.nan) for r in reached])
    data["reasons"] = np.array(["; ".join(site_reasons(result, int(i), lang, allocations)) for i in rows], dtype=object)
    data.update(breakdown_columns(result, rows, straight=True))
    return gpd.GeoDataFrame(data, geometry=geometry)


def criteria_table(result: ScoreResult) -> pd.DataFrame:
    """One row per criterion: id, type, metric and unit of the raw value, labels, weight, report lines,
    rationale and the road note (connectors or the straight-line fallback) — a non-spatial GeoPackage table."""
    from .criteria import METRIC_UNITS

    def unit(spec: dict) -> str:
        if spec["type"] in ("distance", "colocation"):
            return METRIC_UNITS[spec.get("metric", "straight")]
        return {"share": "0-1", "raster": "degrees" if spec.get("raster") == "slope" else "m"}.get(spec["type"], "amount")

    return pd.DataFrame([{
        "criterion": spec["id"], "type": spec["type"], "metric": spec.get("metric", "straight") if spec["type"] in ("distance", "colocation", "reachable") else "",
        "raw_unit": unit(spec), "label_ru": spec["label"]["ru"], "label_kk": spec["label"]["kk"],
        "label_en": spec["label"]["en"], "weight": float(result.weights[j]), "skipped": spec["id"] in result.skipped,
        "report_lines": spec["report_lines"], "rationale": spec["rationale"],
        "road_note": (result.road[spec["id"]].note or "") if spec["id"] in result.road else "",
    } for j, spec in enumerate(result.criteria)])


def allocations_by_district(allocations: dict[str, Allocation], study: Study, lang: str) -> pd.DataFrame:
    """Every allocated flow per district (and component, e.g. demolition / renovation / new build), with its unit,
    proxy, note, the report lines it rests on and the flow rows (report and external) it came from."""
    names = district_names(study)
    rows = []
    for allocation in allocations.values():
        for part in allocation.by_district_component().itertuples():
            rows.append({
                "allocation": allocation.id, "title": allocation.title[lang], "component": part.component, "district_id": part.district_id,
                "district": names.get(part.district_id, {}).get(lang, part.district_id), "amount": float(part.amount), "unit": allocation.unit,
                "total": allocation.total, "proxy": allocation.proxy, "note": allocation.note, "report_lines": allocation.report_lines,
                "flow_rows": ";".join(allocation.rows),
            })
    return pd.DataFrame(rows)


def write_geopackage(path: str | Path, layers: dict[str, pd.DataFrame]) -> Path:
    """Write several layers (EPSG:4326) and attribute tables into one GeoPackage, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, fixed_gdal_timestamp():
        for name, frame in layers.items():
            if isinstance(frame, gpd.GeoDataFrame):
                frame = frame.to_crs(settings.GEOGRAPHIC_CRS)
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", append=tmp.exists())
    return path


#: CSV dialect of every table geo_almaty writes: what Excel opens correctly in a Russian (or Kazakh) locale.
CSV_SEPARATOR = ";"
CSV_DECIMAL = ","
CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark, so Excel does not read Cyrillic as cp1251


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a table (geometry dropped) as a spreadsheet-safe CSV, atomically.

    The format opens as columns in Excel with a Russian or Kazakh locale:
    UTF-8 with a byte-order mark, ';' between fields, ',' as the decimal mark,
    '\r\n' line ends, fields quoted when needed. Text cells that a spreadsheet
    would run as a formula (starting with =, +, -, @, tab or a line break) get a
    leading apostrophe; missing text is an empty cell. Rows keep the frame's
    order. Read it back with :func:`read_csv`.
    """
    path = Path(path)
    table = pd.DataFrame(frame.drop(columns=[c for c in ("geometry",) if c in frame.columns]))
    for column in table.columns:
        if table[column].dtype == object or pd.api.types.is_string_dtype(table[column]):
            table[column] = table[column].map(lambda v: None if is_missing_text(v) else neutralise_formula(v)).astype(object)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, encoding=CSV_ENCODING, sep=CSV_SEPARATOR, decimal=CSV_DECIMAL, lineterminator="\r\n")
    return path


def candidate_surface(values: np.ndarray, candidates, study: Study) -> np.ndarray:
    """One value per candidate drawn on the analysis grid (float32, NaN where a value is NaN or no candidate lies).

    Square cells fill their own grid cell; hexagons and features are rasterised.
    """
    surface = np.full(study.grid.shape, np.nan, dtype=np.float32)
    if candidates.kind == "square":
        surface.ravel()[candidates.cell] = values
        return surface
    keep = np.isfinite(values)
    shapes = zip(candidates.geometries(study)[keep], np.asarray(values, dtype=np.float32)[keep])
    return rio_features.rasterize(shapes, out_shape=study.grid.shape, transform=study.grid.transform, fill=np.nan, dtype="float32")


def read_csv(path: str | Path) -> pd.DataFrame:
    """A table written by :func:`write_csv` (numbers as numbers; formula guards kept as written)."""
    return pd.read_csv(path, sep=CSV_SEPARATOR, decimal=CSV_DECIMAL, encoding=CSV_ENCODING)


def score_surface(result: ScoreResult, study: Study) -> np.ndarray:
    """Scores on the analysis grid (float32, NaN where excluded or outside the study area)."""
    return candidate_surface(result.score, result.candidates, study)


def write_score_geotiff(path: str | Path, result: ScoreResult, study: Study) -> Path:
    """The score surface as a single-band GeoTIFF on the EPSG:32643 grid (NaN = no data)."""
    path = Path(path)
    surface = score_surface(result, study)
    profile = dict(driver="GTiff", height=study.grid.height, width=study.grid.width, count=1, dtype="float32",
                   crs=settings.ANALYSIS_CRS, transform=study.grid.transform, nodata=np.nan, compress="deflate", tiled=True)
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(surface, 1)
            dst.set_band_description(1, f"{result.profile.id} suitability score (0-1)")
            dst.update_tags(facility=result.profile.id, crs_note="EPSG:32643", nodata="excluded or outside the study area")
    return path


def write_exclusion_geotiff(path: str | Path, result: ScoreResult, study: Study) -> Path:
    """Why each cell is excluded or flagged: a uint32 bitmask band on the EPSG:32643 grid; the tags hold the legend.

    Bit ``j`` is rule ``j`` of the legend (tag ``rules``, JSON: bit, rule, kind, effect, label, limit_m, source,
    verify); 0 is a cell no rule catches or with no candidate.
    """
    import json

    from .siting.why import exclusion_legend, exclusion_surface

    path = Path(path)
    surface = exclusion_surface(result, study)
    profile = dict(driver="GTiff", height=study.grid.height, width=study.grid.width, count=1, dtype="uint32",
                   crs=settings.ANALYSIS_CRS, transform=study.grid.transform, nodata=None, compress="deflate", tiled=True)
    with atomic_path(path) as tmp, fixed_gdal_timestamp():
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(surface, 1)
            dst.set_band_description(1, f"{result.profile.id}: siting rules catching each cell (bitmask)")
            dst.update_tags(facility=result.profile.id, rules=json.dumps(exclusion_legend(result, "en"), ensure_ascii=False))
    return path


"""Optional raster layers (DEM, land cover) read with rasterio onto the analysis grid.

Rasters are reprojected and resampled to the EPSG:32643 analysis grid: bilinear
for the DEM, nearest for class codes. Slope is derived from the DEM in degrees.
A raster without a CRS, or one that does not cover the study area, is refused.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import Resampling, reproject, transform_bounds

from . import settings
from .catalog import Catalog, LayerSpec
from .errors import RasterError
from .grid import AnalysisGrid

log = logging.getLogger(__name__)

#: Share of the study area's bounding box a raster must cover.
MIN_COVERAGE = 0.95


def _open(spec: LayerSpec) -> rasterio.io.DatasetReader:
    if spec.source is None:
        raise RasterError("the catalog gives no source", layer=spec.name, column="source", expected="source.path pointing at a GeoTIFF")
    path = spec.source.path
    if not path.exists():
        raise RasterError("file not found", file=path, layer=spec.name, expected="an existing GeoTIFF")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        raise RasterError(f"cannot read: {' '.join(str(exc).split())[:200]}", file=path, layer=spec.name, expected="a readable GeoTIFF") from None


def coverage_of(src: rasterio.io.DatasetReader, grid: AnalysisGrid) -> float:
    """Share (0-1) of the grid's bounding box that the raster's footprint covers."""
    left, bottom, right, top = transform_bounds(src.crs, settings.ANALYSIS_CRS, *src.bounds, densify_pts=21)
    gx0, gy0, gx1, gy1 = grid.bounds
    ix = max(0.0, min(right, gx1) - max(left, gx0))
    iy = max(0.0, min(top, gy1) - max(bottom, gy0))
    return (ix * iy) / ((gx1 - gx0) * (gy1 - gy0))


#: Rows of the analysis grid resampled by one GDAL warp: a raster is always resampled band by band of these
#: rows counted from the grid's first row, so a tile of the grid gets exactly the values the whole grid gets.
RESAMPLE_BAND_ROWS = 256


def read_raster_on_grid(spec: LayerSpec, grid: AnalysisGrid, *, categorical: bool = False,
                        rows: tuple[int, int] | None = None) -> np.ndarray:
    """Band ``source.band`` of ``spec`` resampled onto ``grid`` (float64, NaN where no data).

    ``rows`` (first, last + 1) reads only those rows of ``grid`` (a tile). The raster
    must cover the whole grid; it is resampled in bands of :data:`RESAMPLE_BAND_ROWS`
    rows aligned to the grid, so the values do not depend on which rows are read.
    """
    from .rasterize import grid_rows

    first, stop = rows if rows is not None else (0, grid.height)
    with _open(spec) as src:
        file = str(spec.source.path)
        if src.crs is None:
            raise RasterError("no CRS", file=file, layer=spec.name, expected="a georeferenced GeoTIFF (with a CRS)")
        band = spec.source.band
        if not 1 <= band <= src.count:
            raise RasterError(f"no band {band} (the file has {src.count})", file=file, layer=spec.name, column="source.band", expected=f"a band from 1 to {src.count}")
        covered = coverage_of(src, grid)
        if covered < MIN_COVERAGE:
            raise RasterError(f"covers only {covered:.0%} of the study area", file=file, layer=spec.name,
                              expected=f"a raster covering at least {MIN_COVERAGE:.0%} of the study area")
        source_data = src.read(band, masked=True).astype("float64").filled(np.nan)
        out = np.full((stop - first, grid.width), np.nan, dtype="float64")
        for start in range(first - first % RESAMPLE_BAND_ROWS, stop, RESAMPLE_BAND_ROWS):
            end = min(start + RESAMPLE_BAND_ROWS, grid.height)
            destination = np.full((end - start, grid.width), np.nan, dtype="float64")
            reproject(
                source=source_data,
                destination=destination,
                src_transform=src.transform,
                src_crs=src.crs,
                src_nodata=np.nan,
                dst_transform=grid_rows(grid, start, end).transform,
                dst_crs=settings.ANALYSIS_CRS,
                dst_nodata=np.nan,
                resampling=Resampling.nearest if categorical else Resampling.bilinear,
            )
            lo, hi = max(start, first), min(end, stop)
            out[lo - first:hi - first] = destination[lo - start:hi - start]
    return out


def slope_degrees(dem: np.ndarray, cell_size: float) -> np.ndarray:
    """Slope (degrees) of a DEM on a square grid with ``cell_size`` (m); NaN where the DEM is NaN."""
    dz_dy, dz_dx = np.gradient(dem, cell_size)
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))


def landcover_classes(spec: LayerSpec, grid: AnalysisGrid, classes: tuple[str, ...], *,
                      rows: tuple[int, int] | None = None) -> np.ndarray:
    """Land-cover codes mapped through ``source.values`` to indices into ``classes`` (-1: unmapped or no data)."""
    mapping = (spec.source.values or {}).get("class", {}) if spec.source else {}
    if not mapping:
        raise RasterError("no class mapping", file=spec.source.path if spec.source else None, layer=spec.name, column="source.values.class",
                          expected="a mapping from raster codes to land-use classes")
    unknown = sorted(set(mapping.values()) - set(classes))
    if unknown:
        raise RasterError(f"unknown class(es) {', '.join(unknown)}", file=spec.source.path, layer=spec.name, column="source.values.class",
                          expected="land-use classes: " + ", ".join(classes))
    numeric = {}
    for code, cls in mapping.items():
        try:
            numeric[float(code)] = classes.index(cls)
        except ValueError:
            raise RasterError(f"raster code '{code}' is not a number", file=spec.source.path, layer=spec.name, column="source.values.class",
                              expected="numeric raster codes as keys") from None
    codes = read_raster_on_grid(spec, grid, categorical=True, rows=rows)
    result = np.full(codes.shape, -1, dtype=np.int16)
    for value, index in numeric.items():
        result[codes == value] = index
    return result


def raster_report(spec: LayerSpec, catalog: Catalog):
    """Validation report for a raster layer against the catalog's study area."""
    from .layers import LayerReport
    from .study_area import study_area_grid

    grid = study_area_grid(catalog, cell_size=settings.DEFAULT_CELL_SIZE_M)
    report = LayerReport(spec.name, "raster", spec.source.path.name if spec.source else "(none)")
    with _open(spec) as src:
        report.crs = src.crs.to_string() if src.crs else ""
        report.features = src.width * src.height
        report.geometry = f"raster {src.width}×{src.height}, {src.count} band(s), {src.dtypes[0]}"
    data = read_raster_on_grid(spec, grid, categorical=spec.name == "landcover" or bool(spec.classes_from))
    valid = np.isfinite(data)
    report.notes.append(f"{valid.mean():.0%} of the analysis grid has data")
    if spec.classes_from:
        classes = catalog.layer(spec.classes_from).classes
        landcover_classes(spec, grid, classes)
    return report

"""Optional rasters: a DEM (slope) and a land-cover GeoTIFF resampled onto the analysis grid."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo_almaty.catalog import load_catalog
from geo_almaty.crs import centre_xy
from geo_almaty.errors import RasterError
from geo_almaty.grid import AnalysisGrid
from geo_almaty.layers import validate_catalog
from geo_almaty.raster import landcover_classes, read_raster_on_grid, slope_degrees

from .conftest import square, write_catalog, write_geojson


def small_grid(cell: float = 100.0, half: float = 2_000.0) -> AnalysisGrid:
    cx, cy = centre_xy()
    return AnalysisGrid.covering((cx - half, cy - half, cx + half, cy + half), cell)


def write_tif(path, data, *, crs="EPSG:32643", origin=None, res=50.0, nodata=None):
    cx, cy = centre_xy()
    x0, y0 = origin or (cx - 5_000, cy + 5_000)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype=data.dtype,
                       crs=crs, transform=from_origin(x0, y0, res, res), nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def dem_plane(n=200, rise_per_m=0.1, res=50.0):
    """A plane rising ``rise_per_m`` to the east: slope = atan(0.1) = 5.71°."""
    cols = np.arange(n) * res
    return np.tile(700 + cols * rise_per_m, (n, 1)).astype("float32")


def raster_catalog(tmp_path, name, source):
    return load_catalog(write_catalog(tmp_path / "c.yaml", {name: {"source": source}}))


def test_dem_is_resampled_and_slope_derived(tmp_path):
    write_tif(tmp_path / "dem.tif", dem_plane())
    spec = raster_catalog(tmp_path, "dem", {"path": "dem.tif"}).layer("dem")
    grid = small_grid()
    dem = read_raster_on_grid(spec, grid)
    assert dem.shape == grid.shape and np.isfinite(dem).all()
    slope = slope_degrees(dem, grid.cell_size)
    assert np.allclose(slope[1:-1, 1:-1], np.degrees(np.arctan(0.1)), atol=0.05)


def test_dem_in_geographic_crs_is_reprojected(tmp_path):
    lon, lat = 76.9, 43.2
    data = np.full((100, 100), 800, dtype="float32")
    with rasterio.open(tmp_path / "dem4326.tif", "w", driver="GTiff", height=100, width=100, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(lon, lat + 0.1, 0.002, 0.002)) as dst:
        dst.write(data, 1)
    spec = raster_catalog(tmp_path, "dem", {"path": "dem4326.tif"}).layer("dem")
    dem = read_raster_on_grid(spec, small_grid())
    assert np.nanmean(dem) == pytest.approx(800)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_raster_without_crs_is_refused(tmp_path):
    with rasterio.open(tmp_path / "nocrs.tif", "w", driver="GTiff", height=10, width=10, count=1, dtype="float32") as dst:
        dst.write(np.zeros((10, 10), "float32"), 1)
    spec = raster_catalog(tmp_path, "dem", {"path": "nocrs.tif"}).layer("dem")
    with pytest.raises(RasterError) as exc:
        read_raster_on_grid(spec, small_grid())
    assert "nocrs.tif" in str(exc.value) and "layer 'dem'" in str(exc.value) and "no CRS" in str(exc.value)


def test_raster_not_covering_the_study_area_is_refused(tmp_path):
    cx, cy = centre_xy()
    write_tif(tmp_path / "far.tif", dem_plane(n=20), origin=(cx + 50_000, cy + 50_000))
    spec = raster_catalog(tmp_path, "dem", {"path": "far.tif"}).layer("dem")
    with pytest.raises(RasterError, match="covers only 0% of the study area"):
        read_raster_on_grid(spec, small_grid())


def test_corrupt_raster_is_one_line(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00not really a tiff")
    spec = raster_catalog(tmp_path, "dem", {"path": "bad.tif"}).layer("dem")
    with pytest.raises(RasterError) as exc:
        read_raster_on_grid(spec, small_grid())
    assert "\n" not in str(exc.value) and "cannot read" in str(exc.value)


def test_landcover_codes_map_to_land_use_classes(tmp_path):
    codes = np.zeros((200, 200), dtype="uint8")
    codes[:, 100:] = 2
    write_tif(tmp_path / "lc.tif", codes)
    catalog = raster_catalog(tmp_path, "landcover", {"path": "lc.tif", "values": {"class": {"0": "arable", "2": "residential"}}})
    classes = catalog.layer("land_use").classes
    grid = AnalysisGrid.covering((centre_xy()[0] - 5_000, centre_xy()[1] - 5_000, centre_xy()[0] + 5_000, centre_xy()[1] + 5_000), 250)
    index = landcover_classes(catalog.layer("landcover"), grid, classes)
    assert classes[index[1, 1]] == "arable" and classes[index[1, -2]] == "residential"


def test_landcover_with_unknown_class_is_refused(tmp_path):
    write_tif(tmp_path / "lc.tif", np.zeros((50, 50), dtype="uint8"))
    catalog = raster_catalog(tmp_path, "landcover", {"path": "lc.tif", "values": {"class": {"0": "moon_rock"}}})
    with pytest.raises(RasterError, match="unknown class"):
        landcover_classes(catalog.layer("landcover"), small_grid(), catalog.layer("land_use").classes)


def test_validate_reports_rasters_against_the_study_area(tmp_path):
    cx, cy = centre_xy()
    write_tif(tmp_path / "dem.tif", dem_plane())
    write_geojson(tmp_path / "area.geojson", [{"properties": {"area_id": "a", "name_ru": "Центр"}, "geometry": square(76.9457, 43.2383, 0.02)}])
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"dem": {"source": {"path": "dem.tif"}},
                                                                  "study_area": {"source": {"path": "area.geojson"}}}))
    reports = {r.name: r for r in validate_catalog(catalog)}
    assert reports["dem"].usable, reports["dem"].problems
    assert "raster 200×200" in reports["dem"].geometry

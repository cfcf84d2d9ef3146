"""Score surfaces as PNG image overlays for Leaflet (reprojected to Web Mercator, EPSG:3857).

Leaflet stretches an image overlay linearly in Web Mercator, so the EPSG:32643
grid is warped to EPSG:3857 first; the PNG is encoded with GDAL through rasterio
and embedded as a data URI. No image library beyond rasterio is needed.
"""
from __future__ import annotations

import base64
import warnings

import numpy as np
from rasterio.errors import NotGeoreferencedWarning
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, calculate_default_transform, reproject

from .. import settings
from ..grid import AnalysisGrid

#: Colour stops (value 0-1 → RGB) of the suitability ramp: low = pale yellow, high = dark green-blue.
SUITABILITY_RAMP = ((0.0, (255, 255, 204)), (0.25, (161, 218, 180)), (0.5, (65, 182, 196)), (0.75, (44, 127, 184)), (1.0, (37, 52, 148)))
WEB_MERCATOR = "EPSG:3857"


#: Value marking an excluded cell in a surface passed to :func:`colourise` (drawn hatched grey).
EXCLUDED = -1.0
#: Colour of the hatching of excluded cells (RGB); the legend draws the same hatch.
EXCLUDED_RGB = (90, 90, 90)


def colourise(values: np.ndarray, ramp=SUITABILITY_RAMP, alpha: int = 200) -> np.ndarray:
    """RGBA bands (4, rows, cols) uint8 for values in 0-1; NaN becomes transparent, :data:`EXCLUDED` hatched grey."""
    stops = np.array([s for s, _ in ramp])
    colours = np.array([c for _, c in ramp], dtype=float)
    v = np.clip(np.nan_to_num(values, nan=0.0), 0, 1)
    rgba = np.zeros((4, *values.shape), dtype=np.uint8)
    for band in range(3):
        rgba[band] = np.interp(v, stops, colours[:, band]).round().astype(np.uint8)
    rgba[3] = np.where(np.isfinite(values), alpha, 0)
    excluded = values == EXCLUDED
    if excluded.any():
        rows, cols = np.indices(values.shape)
        line = (rows + cols) % 4 == 0
        for band in range(3):
            rgba[band][excluded] = EXCLUDED_RGB[band]
        rgba[3][excluded] = np.where(line[excluded], 130, 20)
    return rgba


def hex_colour(rgb) -> str:
    """'#rrggbb' of an (r, g, b) tuple of 0-255 values."""
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)


def ramp_css(ramp=SUITABILITY_RAMP) -> str:
    """The ramp as a CSS linear-gradient, for the legend."""
    stops = ", ".join(f"{hex_colour(c)} {s:.0%}" for s, c in ramp)
    return f"linear-gradient(to right, {stops})"


def facility_ramp(colour: str) -> tuple[tuple[float, tuple[int, int, int]], ...]:
    """A sequential ramp in a facility's hue: a pale tint (0) through a light tone (0.5) to a dark shade (1)."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    white, black = np.full(3, 255.0), np.zeros(3)

    def mix(a, b, t):
        return tuple(int(round(x)) for x in a * (1 - t) + b * t)

    return ((0.0, mix(rgb, white, 0.88)), (0.5, mix(rgb, white, 0.45)), (1.0, mix(rgb, black, 0.35)))


def surface_overlay(surface: np.ndarray, grid: AnalysisGrid, max_pixels: int = 700, ramp=SUITABILITY_RAMP) -> tuple[str, list[list[float]]]:
    """A score surface on ``grid`` as a PNG data URI and its ``[[south, west], [north, east]]`` bounds."""
    warped, bounds = warp_to_web_mercator(surface.astype(np.float32), grid, max_pixels, nodata=np.nan)
    return png_data_uri(colourise(warped, ramp)), bounds


def warp_to_web_mercator(surface: np.ndarray, grid: AnalysisGrid, max_pixels: int = 700, *, nodata=np.nan) -> tuple[np.ndarray, list[list[float]]]:
    """``surface`` on ``grid`` warped (nearest) to EPSG:3857 at most ``max_pixels`` wide or high, and its lat/lon bounds.

    Every overlay built from the same grid and ``max_pixels`` gets the same pixels and bounds.
    """
    left, bottom, right, top = grid.bounds
    scale = max(1.0, max(grid.width, grid.height) / max_pixels)
    transform, width, height = calculate_default_transform(
        settings.ANALYSIS_CRS, WEB_MERCATOR, grid.width, grid.height, left, bottom, right, top,
        dst_width=int(grid.width / scale), dst_height=int(grid.height / scale))
    warped = np.full((height, width), nodata, dtype=surface.dtype)
    reproject(surface, warped, src_transform=grid.transform, src_crs=settings.ANALYSIS_CRS, src_nodata=nodata,
              dst_transform=transform, dst_crs=WEB_MERCATOR, dst_nodata=nodata, resampling=Resampling.nearest)
    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    to_lonlat = Transformer.from_crs(WEB_MERCATOR, settings.GEOGRAPHIC_CRS, always_xy=True)
    (lon0, lat0), (lon1, lat1) = to_lonlat.transform(west, south), to_lonlat.transform(east, north)
    return warped, [[lat0, lon0], [lat1, lon1]]


def png_data_uri(rgba: np.ndarray) -> str:
    """RGBA bands (4, rows, cols) uint8 as a PNG data URI."""
    _, height, width = rgba.shape
    with MemoryFile() as memory, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG for the browser needs no georeferencing
        with memory.open(driver="PNG", width=width, height=height, count=4, dtype="uint8") as png:
            png.write(rgba)
        return "data:image/png;base64," + base64.b64encode(memory.read()).decode("ascii")


def blank_tile_uri() -> str:
    """A 1×1 transparent PNG: the tile of the 'no basemap' layer (no network request)."""
    return png_data_uri(np.zeros((4, 1, 1), dtype=np.uint8))

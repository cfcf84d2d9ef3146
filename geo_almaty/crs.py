"""The analysis CRS (EPSG:32643) and the checks made when data crosses into it.

Data is reprojected at the edges only: when a layer is read and when a result
is written. In between, every coordinate is metres in UTM zone 43N.
"""
from __future__ import annotations

import numpy as np
import shapely
from geopandas import GeoDataFrame
from pyproj import CRS, Transformer

from . import settings
from .errors import LayerError


def analysis_crs() -> CRS:
    """The metric CRS of every computation (EPSG:32643)."""
    return CRS.from_user_input(settings.ANALYSIS_CRS)


def centre_xy() -> tuple[float, float]:
    """Almaty's centre in analysis coordinates (m)."""
    transformer = Transformer.from_crs(settings.GEOGRAPHIC_CRS, settings.ANALYSIS_CRS, always_xy=True)
    return transformer.transform(*settings.ALMATY_CENTRE_LONLAT)


def parse_crs(value: str, *, file: str | None = None, layer: str | None = None) -> CRS:
    """Parse a CRS string from a catalog; a bad one is a one-line :class:`LayerError`."""
    try:
        return CRS.from_user_input(value)
    except Exception:  # pyproj raises CRSError, but also others for odd input
        raise LayerError(f"unknown CRS '{value}'", file=file, layer=layer, column="source.crs", expected="a CRS such as EPSG:4326") from None


def to_analysis_crs(frame: GeoDataFrame, *, file: str | None = None, layer: str | None = None) -> GeoDataFrame:
    """Reproject ``frame`` to EPSG:32643, refusing a frame without a CRS."""
    if frame.crs is None:
        raise LayerError("no CRS", file=file, layer=layer, expected="a file with a CRS (.prj, GeoPackage SRS), or source.crs in the catalog")
    if CRS.from_user_input(frame.crs) == analysis_crs():
        return frame
    return frame.to_crs(settings.ANALYSIS_CRS)


def check_near_almaty(frame: GeoDataFrame, *, id_column: str | None = None, file: str | None = None, layer: str | None = None,
                      max_distance_m: float = settings.MAX_DISTANCE_FROM_CENTRE_M) -> None:
    """Refuse a layer (already in EPSG:32643) with features far from Almaty, e.g. swapped lon/lat."""
    cx, cy = centre_xy()
    centre = shapely.Point(cx, cy)
    geoms = frame.geometry.values
    with np.errstate(invalid="ignore"):
        distance = shapely.distance(np.asarray(geoms), centre)
    far = ~(distance <= max_distance_m)  # NaN/inf (e.g. latitude > 90) counts as far
    if not far.any():
        return
    first = int(np.flatnonzero(far)[0])
    ident = frame.iloc[first][id_column] if id_column and id_column in frame.columns else first
    hint = _swap_hint(frame.iloc[[first]])
    raise LayerError(
        f"{int(far.sum())} of {len(frame)} features lie more than {max_distance_m / 1000:.0f} km from Almaty (first: feature {ident}){hint}",
        file=file, layer=layer, column="geometry",
        expected="features in and around Almaty; check the CRS and the lon/lat order",
    )


def check_within_extent(frame: GeoDataFrame, extent: shapely.Geometry, *, id_column: str | None = None, file: str | None = None,
                        layer: str | None = None, margin_m: float = settings.STUDY_AREA_MARGIN_M) -> None:
    """Refuse a layer (in EPSG:32643) with features that do not touch ``extent`` (the study area grown by ``margin_m``)."""
    shapely.prepare(extent)
    geoms = np.asarray(frame.geometry.values)
    with np.errstate(invalid="ignore"):
        inside = shapely.intersects(extent, geoms)
    far = ~inside
    if not far.any():
        return
    first = int(np.flatnonzero(far)[0])
    ident = frame.iloc[first][id_column] if id_column and id_column in frame.columns else first
    raise LayerError(
        f"{int(far.sum())} of {len(frame)} features lie outside the study area and the {margin_m / 1000:.0f} km around it "
        f"(first: feature {ident}){_swap_hint(frame.iloc[[first]])}",
        file=file, layer=layer, column="geometry",
        expected="features in the study area (check the CRS and the lon/lat order; oblast-wide layers take extent: region in the catalog)",
    )


def study_extent(area: shapely.Geometry, margin_m: float = settings.STUDY_AREA_MARGIN_M) -> shapely.Geometry:
    """The study area (EPSG:32643) grown by ``margin_m``, simplified first so large outlines buffer fast."""
    return shapely.buffer(shapely.simplify(area, min(500.0, margin_m / 10)), margin_m, quad_segs=4)


def _swap_hint(one: GeoDataFrame) -> str:
    """' — lon/lat look swapped' when swapping the first far feature's coordinates lands it in Almaty."""
    try:
        lonlat = one.to_crs(settings.GEOGRAPHIC_CRS).geometry.iloc[0]
        point = lonlat.representative_point()
        lon, lat = point.x, point.y
    except Exception:
        return ""
    clon, clat = settings.ALMATY_CENTRE_LONLAT
    if abs(lat - clon) < 1.5 and abs(lon - clat) < 1.5:
        return f" — it is at lon {lon:.3f}, lat {lat:.3f}: lon and lat look swapped"
    if np.isfinite(lon) and np.isfinite(lat):
        return f" — it is at lon {lon:.3f}, lat {lat:.3f}"
    return ""

"""The study area (city plus agglomeration ring) and the analysis grid over it."""
from __future__ import annotations

import shapely
from shapely.geometry.base import BaseGeometry

from . import settings
from .catalog import Catalog
from .crs import centre_xy
from .grid import AnalysisGrid


def study_area_geometry(catalog: Catalog, layers: dict | None = None) -> BaseGeometry:
    """The study area in EPSG:32643: the ``study_area`` layer (from ``layers`` if loaded), else a circle around the centre."""
    if layers is not None and "study_area" in layers:
        return shapely.union_all(layers["study_area"].geometry.values)
    if catalog.has_data("study_area"):
        from .layers import read_layer

        frame = read_layer(catalog.layer("study_area")).frame
        return shapely.union_all(frame.geometry.values)
    cx, cy = centre_xy()
    return shapely.Point(cx, cy).buffer(settings.STUDY_AREA_RADIUS_M, quad_segs=32)


def study_area_grid(catalog: Catalog, cell_size: float = settings.DEFAULT_CELL_SIZE_M) -> AnalysisGrid:
    """The analysis grid covering the study area's bounds."""
    return AnalysisGrid.covering(study_area_geometry(catalog).bounds, cell_size)

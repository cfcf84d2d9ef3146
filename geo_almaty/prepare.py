"""The *prepare* stage: layers in EPSG:32643, the analysis grid, land-use shares and terrain.

:func:`prepare_study` reads a catalog once and derives everything later stages
share: which grid cells lie in the study area, the share of each land-use class
in every cell, and slope when a DEM is given.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from . import settings
from .catalog import Catalog
from .grid import AnalysisGrid
from .layers import load_layers
from .progress import progress_bar
from .rasterize import burn_values, class_shares

log = logging.getLogger(__name__)

#: Land-use classes where people live (population-based flows are placed there).
RESIDENTIAL_CLASSES = ("residential", "mixed_commercial")


@dataclass
class Study:
    """Everything the candidates, scoring and maps stages share for one catalog and cell size."""

    catalog: Catalog
    layers: dict[str, gpd.GeoDataFrame]
    grid: AnalysisGrid
    area: BaseGeometry
    inside: np.ndarray = field(repr=False)
    land_use_classes: tuple[str, ...] = ()
    land_use_shares: np.ndarray | None = field(default=None, repr=False)
    dem: np.ndarray | None = field(default=None, repr=False)
    slope: np.ndarray | None = field(default=None, repr=False)
    _network: object = field(default=None, repr=False)
    _network_built: bool = field(default=False, repr=False)
    #: Points joined to the road network, shared by every profile scored on this study (see criteria).
    road_cache: dict = field(default_factory=dict, repr=False)

    def layer(self, name: str) -> gpd.GeoDataFrame | None:
        """A loaded layer, or None when the catalog has no data for it."""
        return self.layers.get(name)

    def class_share(self, classes: tuple[str, ...] | list[str]) -> np.ndarray:
        """Share (0-1) of every grid cell in any of ``classes`` of the land-use layer."""
        if self.land_use_shares is None:
            return np.zeros(self.grid.shape, dtype=np.float32)
        idx = [self.land_use_classes.index(c) for c in classes if c in self.land_use_classes]
        return np.clip(self.land_use_shares[idx].sum(axis=0), 0, 1) if idx else np.zeros(self.grid.shape, dtype=np.float32)

    @property
    def network(self):
        """The catalog's road network (:class:`geo_almaty.network.RoadNetwork`), built on first use; None without roads."""
        if not self._network_built:
            from .network import load_network

            self._network = load_network(self.catalog, self.layers)
            self._network_built = True
        return self._network

    def residential_share(self) -> np.ndarray:
        """Share of every grid cell in residential or mixed land use."""
        return self.class_share(RESIDENTIAL_CLASSES)


def prepare_study(catalog: Catalog, cell_size: float = settings.DEFAULT_CELL_SIZE_M, *, progress: bool = False) -> Study:
    """Load the catalog's layers and derive the grid, study-area mask, land-use shares and slope."""
    layers = load_layers(catalog, progress=progress)
    if "study_area" in layers:
        area = shapely.union_all(layers["study_area"].geometry.values)
    else:
        from .study_area import study_area_geometry

        area = study_area_geometry(catalog)
    grid = AnalysisGrid.covering(area.bounds, cell_size)
    inside = burn_values([area], [1], grid).astype(bool)
    study = Study(catalog, layers, grid, area, inside)
    steps = ["land use", "terrain"]
    for step in progress_bar(steps, desc="prepare", unit="step", enabled=progress):
        if step == "land use":
            _add_land_use(study)
        else:
            _add_terrain(study)
    log.info("study grid %d×%d cells of %.0f m, %d inside the study area", grid.width, grid.height, cell_size, int(inside.sum()))
    return study


def _add_land_use(study: Study) -> None:
    spec = study.catalog.layers.get("land_use")
    classes = spec.classes if spec else ()
    study.land_use_classes = tuple(classes)
    frame = study.layers.get("land_use")
    if frame is not None and len(classes):
        codes = np.array([classes.index(c) for c in frame["class"]], dtype=np.int32)
        study.land_use_shares = class_shares(frame.geometry.values, codes, len(classes), study.grid)
    elif study.catalog.has_data("landcover") and len(classes):
        from .raster import landcover_classes

        index = landcover_classes(study.catalog.layer("landcover"), study.grid, tuple(classes))
        shares = np.zeros((len(classes), *study.grid.shape), dtype=np.float32)
        valid = index >= 0
        rows, cols = np.nonzero(valid)
        shares[index[valid], rows, cols] = 1.0
        study.land_use_shares = shares


def _add_terrain(study: Study) -> None:
    if not study.catalog.has_data("dem"):
        return
    from .raster import read_raster_on_grid, slope_degrees

    study.dem = read_raster_on_grid(study.catalog.layer("dem"), study.grid)
    study.slope = slope_degrees(study.dem, study.grid.cell_size)

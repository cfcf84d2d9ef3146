"""The *prepare* stage: layers in EPSG:32643, the analysis grid, land-use shares, population and terrain.

:func:`prepare_study` reads a catalog once and derives everything later stages
share: which grid cells lie in the study area, the share of each land-use class
in every cell, the population of every cell when the catalog has a ``population``
layer, and slope when a DEM is given.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
from shapely.geometry.base import BaseGeometry

from . import settings
from .catalog import Catalog
from .errors import InputError
from .grid import AnalysisGrid
from .layers import load_layers
from .progress import progress_bar
from .rasterize import burn_values, class_shares, feature_cell_weights

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
    population: np.ndarray | None = field(default=None, repr=False)
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

    def population_weights(self) -> np.ndarray:
        """Where people live, per grid cell: persons from the ``population`` layer, else the residential share."""
        if self.population is not None:
            return self.population
        log.info("no population layer: people are placed by residential land use instead")
        return self.residential_share()


def prepare_study(catalog: Catalog, cell_size: float = settings.DEFAULT_CELL_SIZE_M, *, progress: bool = False,
                  layers: dict[str, gpd.GeoDataFrame] | None = None,
                  check_memory: Callable[[AnalysisGrid, BaseGeometry, dict[str, gpd.GeoDataFrame]], object] | None = None) -> Study:
    """Load the catalog's layers and derive the grid, study-area mask, land-use shares and slope.

    ``layers`` may be passed when already loaded. Before any grid array exists,
    ``check_memory(grid, area, layers)`` may refuse the work (see
    :func:`geo_almaty.memory.check_memory`); by default the study alone is checked
    against the memory budget.
    """
    from .study_area import study_area_geometry

    layers = load_layers(catalog, progress=progress) if layers is None else layers
    area = study_area_geometry(catalog, layers)
    grid = study_grid(area, cell_size)
    if check_memory is None:
        from .memory import check_memory as check, workload_for

        check(workload_for(grid, area, layers, catalog))
    else:
        check_memory(grid, area, layers)
    inside = burn_values([area], [1], grid).astype(bool)
    study = Study(catalog, layers, grid, area, inside)
    steps = {"land use": _add_land_use, "population": _add_population, "terrain": _add_terrain}
    for step in progress_bar(list(steps), desc="prepare", unit="step", enabled=progress):
        steps[step](study)
    log.info("study grid %d×%d cells of %.0f m, %d inside the study area", grid.width, grid.height, cell_size, int(inside.sum()))
    return study


def study_grid(area: BaseGeometry, cell_size: float) -> AnalysisGrid:
    """The analysis grid over ``area``; a cell size that is not a finite positive number, or too coarse to
    place a cell centre in the study area, is refused."""
    grid = AnalysisGrid.covering(area.bounds, cell_size)
    minx, miny, maxx, maxy = area.bounds
    if cell_size > min(maxx - minx, maxy - miny) / 2:
        raise InputError(f"cell size {cell_size:g} m is too coarse for the study area of {(maxx - minx) / 1000:.0f} × {(maxy - miny) / 1000:.0f} km",
                         column="cell_size", expected=f"at most {min(maxx - minx, maxy - miny) / 2:,.0f} m, e.g. the default "
                                                      f"{settings.DEFAULT_CELL_SIZE_M:g} m")
    return grid


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


def _add_population(study: Study) -> None:
    frame = study.layers.get("population")
    if frame is None or "population" not in frame.columns:
        return
    study.population = population_surface(frame.geometry.values, frame["population"].to_numpy(np.float64), study.grid)


def population_surface(cells: np.ndarray, people: np.ndarray, grid) -> np.ndarray:
    """Persons per grid cell (float64, grid shape): each polygon's ``people`` spread over the cells it covers by area."""
    feature, cell, count = feature_cell_weights(cells, grid)
    per_feature = np.bincount(feature, weights=count, minlength=len(people))
    share = count / per_feature[feature]
    return np.bincount(cell, weights=np.nan_to_num(people)[feature] * share, minlength=grid.width * grid.height).reshape(grid.shape)


def _add_terrain(study: Study) -> None:
    if not study.catalog.has_data("dem"):
        return
    from .raster import read_raster_on_grid, slope_degrees

    study.dem = read_raster_on_grid(study.catalog.layer("dem"), study.grid)
    study.slope = slope_degrees(study.dem, study.grid.cell_size)

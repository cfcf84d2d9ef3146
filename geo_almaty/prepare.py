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
    #: The coarser study over the whole study area on which flows are spread and reachable sums computed, when
    #: this study's cells are finer than ``settings.SUPPLY_CELL_SIZE_M`` or its candidates are limited to a
    #: boundary (None: this study itself). Candidates sample the supply cell holding their centre.
    supply: Study | None = field(default=None, repr=False)
    #: Derived data shared by profiles and tiles (reachable sums on a supply study, KD-trees of feature sample
    #: points in tiled runs); None: nothing is kept.
    cache: dict | None = field(default=None, repr=False)

    @property
    def supply_study(self) -> Study:
        """Where flows are spread and reachable sums computed: :attr:`supply`, or this study."""
        return self.supply if self.supply is not None else self

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
                  check_memory: Callable[[AnalysisGrid, BaseGeometry, dict[str, gpd.GeoDataFrame]], object] | None = None,
                  within: str | None = None) -> Study:
    """Load the catalog's layers and derive the grid, study-area mask, land-use shares and slope.

    ``layers`` may be passed when already loaded. Before any grid array exists,
    ``check_memory(grid, area, layers)`` may refuse the work (see
    :func:`geo_almaty.memory.check_memory`); by default the study alone is checked
    against the memory budget. ``within`` names a polygon layer (e.g. ``city_boundary``)
    that limits the grid and the candidates; flows still come from the whole study area.

    Cells finer than ``settings.SUPPLY_CELL_SIZE_M`` (or a ``within`` limit) get a
    :attr:`Study.supply` study at that cell size over the whole study area.
    """
    from .study_area import study_area_geometry

    layers = load_layers(catalog, progress=progress) if layers is None else layers
    full_area = study_area_geometry(catalog, layers)
    area = candidate_area(full_area, layers, within)
    grid = study_grid(area, cell_size)
    if check_memory is None:
        from .memory import check_memory as check, workload_for

        check(workload_for(grid, area, layers, catalog))
    else:
        check_memory(grid, area, layers)
    decoupled = needs_supply_study(cell_size, within)
    study = study_on_grid(catalog, layers, area, grid, population=not decoupled, progress=progress)
    if decoupled:
        study.supply = supply_study(catalog, layers, full_area, cell_size)
    log.info("study grid %d×%d cells of %.0f m, %d inside the study area", grid.width, grid.height, cell_size, int(study.inside.sum()))
    return study


def needs_supply_study(cell_size: float, within: str | None = None) -> bool:
    """Whether flows go on a coarser supply study than the candidate grid (see :attr:`Study.supply`)."""
    return cell_size < settings.SUPPLY_CELL_SIZE_M or within is not None


def supply_study(catalog: Catalog, layers: dict[str, gpd.GeoDataFrame], area: BaseGeometry, cell_size: float) -> Study:
    """The supply study over the whole study ``area``: cells of ``settings.SUPPLY_CELL_SIZE_M`` (or ``cell_size`` if coarser)."""
    size = max(float(cell_size), settings.SUPPLY_CELL_SIZE_M)
    supply = study_on_grid(catalog, layers, area, study_grid(area, size))
    supply.cache = {}
    return supply


def study_on_grid(catalog: Catalog, layers: dict[str, gpd.GeoDataFrame], area: BaseGeometry, grid: AnalysisGrid, *,
                  population: bool = True, progress: bool = False, terrain_grid: AnalysisGrid | None = None,
                  land_use: bool = True, terrain: bool = True) -> Study:
    """A :class:`Study` of ``area`` on ``grid``: mask, land-use shares, population (optional) and terrain.

    ``terrain_grid`` is the whole grid when ``grid`` is a window of it (a tile): the DEM
    is then read one row beyond the window on each side, so the slope at the window's
    edge is the one the whole grid gives.
    """
    inside = burn_values([area], [1], grid).astype(bool)
    study = Study(catalog, layers, grid, area, inside)
    steps = {"land use": (lambda s: _add_land_use(s, terrain_grid)) if land_use else None,
             "population": _add_population if population else None,
             "terrain": (lambda s: _add_terrain(s, terrain_grid)) if terrain else None}
    for step in progress_bar([k for k, v in steps.items() if v is not None], desc="prepare", unit="step", enabled=progress):
        steps[step](study)
    return study


def candidate_area(area: BaseGeometry, layers: dict[str, gpd.GeoDataFrame], within: str | None) -> BaseGeometry:
    """The study area, limited to the polygons of layer ``within`` when given."""
    if within is None:
        return area
    frame = layers.get(within)
    if frame is None or not len(frame):
        raise InputError("the layer limiting the candidates has no data", layer=within, column="--within",
                         expected="a loaded polygon layer of the catalog, e.g. city_boundary")
    import shapely

    limited = shapely.intersection(area, shapely.union_all(frame.geometry.values))
    if limited.is_empty or limited.area <= 0:
        raise InputError("the layer limiting the candidates does not overlap the study area", layer=within, column="--within",
                         expected="polygons inside the study area")
    return limited


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


def _add_land_use(study: Study, whole: AnalysisGrid | None = None) -> None:
    spec = study.catalog.layers.get("land_use")
    classes = spec.classes if spec else ()
    study.land_use_classes = tuple(classes)
    frame = study.layers.get("land_use")
    if frame is not None and len(classes):
        codes = np.array([classes.index(c) for c in frame["class"]], dtype=np.int32)
        study.land_use_shares = class_shares(frame.geometry.values, codes, len(classes), study.grid)
    elif study.catalog.has_data("landcover") and len(classes):
        from .raster import landcover_classes

        whole, rows = _in_grid(study.grid, whole)
        index = landcover_classes(study.catalog.layer("landcover"), whole, tuple(classes), rows=rows)
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


def _in_grid(grid: AnalysisGrid, whole: AnalysisGrid | None) -> tuple[AnalysisGrid, tuple[int, int] | None]:
    """``grid`` as rows of ``whole`` (a full-width window, i.e. a tile), or itself when ``whole`` is not given."""
    if whole is None or whole == grid:
        return grid, None
    first = round((whole.y0 - grid.y0) / grid.cell_size)
    return whole, (first, first + grid.height)


def _add_terrain(study: Study, whole: AnalysisGrid | None = None) -> None:
    if not study.catalog.has_data("dem"):
        return
    from .raster import read_raster_on_grid, slope_degrees

    whole, rows = _in_grid(study.grid, whole)
    if rows is None:
        study.dem = read_raster_on_grid(study.catalog.layer("dem"), whole)
        study.slope = slope_degrees(study.dem, whole.cell_size)
        return
    # A tile: read one row more on each side (within the whole grid) for the slope's differences.
    top, bottom = max(rows[0] - 1, 0), min(rows[1] + 1, whole.height)
    dem = read_raster_on_grid(study.catalog.layer("dem"), whole, rows=(top, bottom))
    inner = slice(rows[0] - top, rows[1] - top)
    study.dem = dem[inner]
    study.slope = slope_degrees(dem, whole.cell_size)[inner]

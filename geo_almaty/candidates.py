"""The *candidates* stage: where a facility could go, and where it may not.

Candidates are square grid cells (default 250 m), H3 hexagons, or the features
of a user layer (plots, vacant buildings). Hard exclusions (heritage areas, water
with a buffer, nature protection, housing with an odour buffer, …) come from the
facility profile; every buffer is a parameter.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import h3
import numpy as np
import shapely
from pyproj import Transformer

from . import settings
from .errors import LayerError, ProfileError
from .prepare import Study

log = logging.getLogger(__name__)


@dataclass
class Candidates:
    """Candidate sites: centres ``x, y`` (m, EPSG:32643), ids, and the grid cell holding each centre."""

    kind: str
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    cell: np.ndarray
    size_m: float
    _geometry: np.ndarray | None = field(default=None, repr=False)
    _grid_shape: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.x)

    def geometries(self, study: Study, rows: np.ndarray | None = None) -> np.ndarray:
        """Candidate polygons (EPSG:32643), all or those of ``rows``; square cells are built on demand."""
        if self._geometry is None and rows is not None and self.kind == "square":
            half = self.size_m / 2
            x, y = self.x[rows], self.y[rows]
            return shapely.box(x - half, y - half, x + half, y + half)
        if self._geometry is None:
            half = self.size_m / 2
            self._geometry = shapely.box(self.x - half, self.y - half, self.x + half, self.y + half)
        return self._geometry if rows is None else self._geometry[rows]

    def labels(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Readable ids of ``rows`` (default all): ``r<row>c<col>`` for grid cells, the layer's ids or H3 indexes otherwise."""
        ids = self.ids if rows is None else self.ids[np.asarray(rows, dtype=np.int64)]
        if self.kind == "square" and self._grid_shape is not None:
            width = self._grid_shape[1]
            return np.char.add(np.char.add("r", (ids // width).astype(str)), np.char.add("c", (ids % width).astype(str)))
        return ids.astype(str)


def square_candidates(study: Study) -> Candidates:
    """Every grid cell whose centre lies in the study area."""
    flat = np.flatnonzero(study.inside.ravel())
    xs, ys = study.grid.centres()
    return Candidates("square", flat.astype(np.int64), xs[flat], ys[flat], flat.astype(np.int64), study.grid.cell_size,
                      _grid_shape=study.grid.shape)


def hex_resolution(cell_size_m: float) -> int:
    """The H3 resolution whose average hexagon area is closest to a ``cell_size_m`` square."""
    target = cell_size_m**2
    return min(range(16), key=lambda r: abs(math.log(h3.average_hexagon_area(r, unit="m^2") / target)))


def hex_candidates(study: Study, cell_size_m: float | None = None) -> Candidates:
    """H3 hexagons covering the study area (resolution matched to the cell size).

    h3-py has no vectorised API, so centres and outlines are computed per hexagon
    (about a microsecond each); square cells are the fast default.
    """
    resolution = hex_resolution(cell_size_m or study.grid.cell_size)
    area_lonlat = gpd.GeoSeries([study.area], crs=settings.ANALYSIS_CRS).to_crs(settings.GEOGRAPHIC_CRS).iloc[0]
    shape = h3.geo_to_h3shape(area_lonlat.__geo_interface__)
    cells = np.array(sorted(h3.h3shape_to_cells(shape, resolution)))
    if not len(cells):
        raise LayerError("no H3 hexagon fits in the study area", layer="study_area", expected="a larger study area or a finer cell size")
    lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).T
    to_xy = Transformer.from_crs(settings.GEOGRAPHIC_CRS, settings.ANALYSIS_CRS, always_xy=True)
    x, y = to_xy.transform(lon, lat)
    outlines = [np.array(h3.cell_to_boundary(c))[:, ::-1] for c in cells]
    ring_x, ring_y = to_xy.transform(np.concatenate([o[:, 0] for o in outlines]), np.concatenate([o[:, 1] for o in outlines]))
    sizes = np.array([len(o) for o in outlines])
    coords = np.column_stack([ring_x, ring_y])
    rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(cells)), sizes))
    geometry = shapely.polygons(rings)
    edge = math.sqrt(h3.average_hexagon_area(resolution, unit="m^2"))
    return Candidates("hex", cells, np.asarray(x), np.asarray(y), _cells_of(study, x, y), edge, _geometry=geometry)


def feature_candidates(study: Study, layer_name: str) -> Candidates:
    """The features of a loaded layer (e.g. vacant buildings or plots) as candidates."""
    frame = study.layer(layer_name)
    if frame is None:
        raise LayerError("candidate layer is not loaded", layer=layer_name, expected="a layer of the catalog with a source")
    spec = study.catalog.layer(layer_name)
    ids = frame[spec.id_column].to_numpy() if spec.id_column else np.arange(len(frame)).astype(str)
    points = shapely.point_on_surface(frame.geometry.values)
    x, y = shapely.get_x(points), shapely.get_y(points)
    size = float(np.sqrt(np.median(shapely.area(frame.geometry.values)))) if spec.geometry == "polygon" else study.grid.cell_size
    return Candidates("features", ids, x, y, _cells_of(study, x, y), size or study.grid.cell_size, _geometry=frame.geometry.values)


def _cells_of(study: Study, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    row, col = study.grid.index_of(x, y)
    ok = (row >= 0) & (row < study.grid.height) & (col >= 0) & (col < study.grid.width)
    return np.where(ok, row * study.grid.width + col, -1)


# --- exclusions -----------------------------------------------------------------------------------

def exclusion_geometry(study: Study, rule: dict) -> shapely.Geometry | None:
    """Union of the features an exclusion rule names, buffered (None if the layer is absent).

    Each feature is buffered by ``buffer_m`` plus, with ``buffer_column``, its own value
    of that column (m): settlements as discs of their footprint radius plus an odour zone.
    """
    frame = study.layer(rule["layer"])
    if frame is None:
        if rule.get("optional", True):
            log.warning("exclusion %s skipped: layer %s has no data", rule["id"], rule["layer"])
            return None
        raise ProfileError("exclusion layer is not loaded", layer=rule["layer"], column=f"exclusions/{rule['id']}", expected="a loaded layer")
    if "classes" in rule:
        spec = study.catalog.layer(rule["layer"])
        frame = frame[frame[spec.class_column].isin(rule["classes"])]
    if not len(frame):
        return None
    geoms = frame.geometry.values
    buffer_m = np.full(len(frame), float(rule.get("buffer_m", 0)))
    if "buffer_column" in rule:  # a footprint per feature (e.g. a settlement's radius), then the rule's buffer
        column = rule["buffer_column"]
        if column not in frame.columns:
            raise ProfileError(f"no column '{column}'", layer=rule["layer"], column=f"exclusions/{rule['id']}/buffer_column",
                               expected="a numeric column of the layer (metres)")
        buffer_m = buffer_m + frame[column].astype(float).fillna(0.0).clip(lower=0.0).to_numpy()
    if (buffer_m > 0).any():
        geoms = shapely.buffer(geoms, buffer_m, quad_segs=8)
    return shapely.union_all(geoms)


def apply_exclusions(study: Study, candidates: Candidates, rules: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Which candidates the profile exclusion ``rules`` remove, and the first rule's id for each (``''`` if none).

    Grid candidates are excluded when their cell centre lies in the (buffered)
    features, via a raster burn; hexagons by their centre, user features when they
    intersect. (Scoring keeps every rule per candidate: :func:`geo_almaty.siting.zones.evaluate_rules`.)
    """
    from .siting.zones import profile_rule_mask

    excluded = np.zeros(len(candidates), dtype=bool)
    reason = np.full(len(candidates), "", dtype=object)
    for rule in rules:
        mask = profile_rule_mask(study, candidates, rule)
        new = mask & ~excluded
        reason[new] = rule["id"]
        excluded |= mask
    return excluded, reason

"""Criterion raw values for every candidate, vectorised.

Types (see the facility profiles in ``profiles/``):

- ``distance``: metres to the nearest feature of a layer (optionally some classes);
  KD-tree over feature vertices (lines and outlines densified), 0 inside polygons;
- ``colocation``: the same distance, judged against ``within_m``;
- ``share``: share (0-1) of the cell in some classes of a polygon layer;
- ``reachable``: t/yr (or ha) of an allocated flow within ``radius_m`` — a disc
  convolution of the flow's grid surface (FFT), sampled at each candidate;
- ``raster``: a raster value at the candidate (slope in degrees, elevation in m).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import fft as sp_fft
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

from .allocate import Allocation
from .candidates import Candidates
from .errors import DataUnavailableError, ProfileError
from .grid import AnalysisGrid
from .prepare import Study
from .rasterize import burn_values, class_shares

log = logging.getLogger(__name__)

#: Spacing (m) of points sampled along lines and outlines, as a fraction of the cell size.
DENSIFY_FRACTION = 0.25


@dataclass
class CriterionRaw:
    """Raw values (NaN where undefined) and, for distances, the index of the nearest feature."""

    values: np.ndarray
    nearest: np.ndarray | None = None
    features: object | None = None  # the GeoDataFrame the nearest index refers to


def criterion_raw(spec: dict, study: Study, candidates: Candidates, allocations: dict[str, Allocation],
                  cache: dict | None = None) -> CriterionRaw:
    """Raw values of criterion ``spec`` for ``candidates``."""
    cache = {} if cache is None else cache
    kind = spec["type"]
    where = f"criteria/{spec['id']}"
    if kind in ("distance", "colocation"):
        frame = _layer_subset(study, spec, where)
        distance, nearest = distance_to_features(frame.geometry.values, candidates, study)
        return CriterionRaw(distance, nearest, frame)
    if kind == "share":
        return CriterionRaw(_share(study, spec, candidates, where))
    if kind == "reachable":
        if spec["allocation"] not in allocations:
            raise ProfileError(f"unknown allocation '{spec['allocation']}'", column=f"{where}/allocation", expected="one of " + ", ".join(allocations))
        key = ("reachable", spec["allocation"], float(spec["radius_m"]))
        if key not in cache:
            cache[key] = reachable_surface(allocations[spec["allocation"]].surface(), study.grid, float(spec["radius_m"]))
        return CriterionRaw(_sample(cache[key], candidates))
    if kind == "raster":
        return CriterionRaw(_sample(_raster(study, spec, where), candidates))
    raise ProfileError(f"unknown criterion type '{kind}'", column=f"{where}/type", expected="distance, colocation, share, reachable or raster")


def require_data(spec: dict, study: Study) -> None:
    """Raise :class:`DataUnavailableError` when the data criterion ``spec`` needs is missing, without computing it.

    The same checks :func:`criterion_raw` makes, so a run can refuse a profile
    before scoring anything, and ``layers validate`` agrees with the run.
    """
    where = f"criteria/{spec['id']}"
    if spec["type"] in ("distance", "colocation") or (spec["type"] == "share" and spec.get("layer", "land_use") != "land_use"):
        _layer_subset(study, {**spec, "layer": spec.get("layer", "land_use")}, where)
    elif spec["type"] == "raster":
        _raster(study, spec, where)


def _raster(study: Study, spec: dict, where: str) -> np.ndarray:
    array = study.slope if spec["raster"] == "slope" else study.dem
    if array is None:
        raise DataUnavailableError(f"raster criterion needs a DEM ({spec['raster']})", layer="dem", column=where,
                                   expected="a dem layer in the catalog, or optional: true on the criterion")
    return array


def _layer_subset(study: Study, spec: dict, where: str):
    frame = study.layer(spec["layer"])
    if frame is None:
        raise DataUnavailableError("layer has no data", layer=spec["layer"], column=f"{where}/layer", expected="a layer of the catalog with a source")
    if "classes" in spec:
        layer_spec = study.catalog.layer(spec["layer"])
        unknown = sorted(set(spec["classes"]) - set(layer_spec.classes))
        if unknown:
            raise ProfileError(f"unknown class(es) {', '.join(unknown)}", layer=spec["layer"], column=f"{where}/classes",
                               expected="classes of the layer: " + ", ".join(layer_spec.classes))
        frame = frame[frame[layer_spec.class_column].isin(spec["classes"])]
    if not len(frame):
        raise DataUnavailableError("no features of the requested classes", layer=spec["layer"], column=f"{where}/classes",
                           expected="at least one feature to measure distance to")
    return frame


def feature_sample_points(geometries: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on every feature (vertices of lines and outlines densified to ``step_m``), and their feature index."""
    geoms = np.asarray(geometries, dtype=object)
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, [3, 6])
    outlines = geoms.copy()
    outlines[polygonal] = shapely.boundary(geoms[polygonal])
    dense = shapely.segmentize(outlines, step_m)
    coords, index = shapely.get_coordinates(dense, return_index=True)
    return coords, index


def sample_point_tree(geometries: np.ndarray, step_m: float) -> tuple[cKDTree, np.ndarray]:
    """KD-tree over the distinct sample points of ``geometries``, and the feature index of each tree point.

    A point shared by several features (common boundaries, road junctions, closed
    rings) is kept once and belongs to the lowest feature index, so ties between
    features are broken the same way whatever the tree layout.

    The tree uses sliding-midpoint splits without shrinking node boxes and leaves
    of 32 points (``balanced_tree=False, compact_nodes=False, leafsize=32``): with
    points strung along lines this answers far-away queries about three times
    faster than scipy's defaults; the nearest distances are the same.
    """
    coords, owner = feature_sample_points(geometries, step_m)
    coords, first = np.unique(coords, axis=0, return_index=True)
    return cKDTree(coords, leafsize=32, balanced_tree=False, compact_nodes=False), owner[first]


def distance_to_features(geometries: np.ndarray, candidates: Candidates, study: Study) -> tuple[np.ndarray, np.ndarray]:
    """Metres from each candidate centre to the nearest feature, and that feature's index; 0 inside polygons.

    The distance is to the nearest sample point (:func:`feature_sample_points`,
    spacing ``DENSIFY_FRACTION`` of the cell size), so it exceeds the exact distance
    to a line or outline by at most half the spacing. Grid cells inside a polygon
    are found by a raster burn and are not queried at all (their distance is 0 and
    their nearest feature is that polygon).
    """
    step = max(study.grid.cell_size * DENSIFY_FRACTION, 1.0)
    geometries = np.asarray(geometries, dtype=object)
    tree, owner = sample_point_tree(geometries, step)
    n = len(candidates)
    distance = np.zeros(n)
    nearest = np.zeros(n, dtype=np.int64)
    query = np.ones(n, dtype=bool)
    polygons = np.isin(shapely.get_type_id(geometries), [3, 6])
    if polygons.any() and candidates.kind == "square":
        inside_idx = burn_values(geometries[polygons], np.flatnonzero(polygons) + 1, study.grid).ravel()[candidates.cell]
        query = inside_idx == 0
        nearest[~query] = inside_idx[~query] - 1
    todo = np.flatnonzero(query)
    found, nearest_point = tree.query(np.column_stack([candidates.x[todo], candidates.y[todo]]), workers=-1)
    distance[todo] = found
    nearest[todo] = owner[nearest_point]
    if polygons.any() and candidates.kind != "square":
        union = shapely.union_all(geometries[polygons])
        shapely.prepare(union)
        distance[shapely.contains_xy(union, candidates.x, candidates.y)] = 0.0
    return distance, nearest


def disc_kernel(radius_m: float, cell_size: float) -> np.ndarray:
    """1 for cells whose centre is within ``radius_m`` of the central cell's centre, else 0."""
    r = int(np.floor(radius_m / cell_size))
    offsets = np.arange(-r, r + 1) * cell_size
    return (np.hypot(offsets[:, None], offsets[None, :]) <= radius_m).astype(np.float64)


def reachable_surface(surface: np.ndarray, grid: AnalysisGrid, radius_m: float) -> np.ndarray:
    """Sum of ``surface`` over all cells within ``radius_m`` of each cell (FFT convolution)."""
    if radius_m <= 0:
        raise ProfileError(f"radius {radius_m} m", column="radius_m", expected="a positive haul radius in metres")
    kernel = disc_kernel(radius_m, grid.cell_size)
    if not surface.any():
        return np.zeros_like(surface, dtype=np.float64)
    with sp_fft.set_workers(-1):  # scipy.signal's FFTs run on every core
        result = fftconvolve(surface.astype(np.float64), kernel, mode="same")
    # FFT leaves round-off of the order of 1e-9 of the largest value where the true sum is 0.
    result[result < 1e-9 * max(float(surface.max()), 1.0)] = 0.0
    return result


def _sample(array: np.ndarray, candidates: Candidates) -> np.ndarray:
    flat = array.ravel()
    out = np.full(len(candidates), np.nan)
    ok = candidates.cell >= 0
    out[ok] = flat[candidates.cell[ok]]
    return out


def _share(study: Study, spec: dict, candidates: Candidates, where: str) -> np.ndarray:
    layer = spec.get("layer", "land_use")
    if layer == "land_use" and candidates.kind != "features":
        unknown = sorted(set(spec["classes"]) - set(study.land_use_classes))
        if unknown:
            raise ProfileError(f"unknown class(es) {', '.join(unknown)}", layer="land_use", column=f"{where}/classes",
                               expected="land-use classes: " + ", ".join(study.land_use_classes))
        return _sample(study.class_share(spec["classes"]), candidates)
    frame = _layer_subset(study, {**spec, "layer": layer}, where)
    if candidates.kind == "features":
        geoms = candidates.geometries(study)
        tree = shapely.STRtree(frame.geometry.values)
        cand_idx, feat_idx = tree.query(geoms, predicate="intersects")
        overlap = shapely.area(shapely.intersection(geoms[cand_idx], frame.geometry.values[feat_idx]))
        covered = np.bincount(cand_idx, weights=overlap, minlength=len(candidates))
        return np.clip(covered / np.maximum(shapely.area(geoms), 1e-9), 0, 1)
    shares = class_shares(frame.geometry.values, np.zeros(len(frame), dtype=np.int32), 1, study.grid)[0]
    return _sample(shares, candidates)

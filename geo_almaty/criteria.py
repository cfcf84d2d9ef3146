"""Criterion raw values for every candidate, vectorised.

Types (see the facility profiles in ``profiles/``):

- ``distance``: metres to the nearest feature of a layer (optionally some classes);
  KD-tree over feature vertices (lines and outlines densified), 0 inside polygons;
- ``colocation``: the same distance, judged against ``within_m``;
- ``share``: share (0-1) of the cell in some classes of a polygon layer;
- ``reachable``: t/yr (or ha) of an allocated flow within ``radius_m`` — a disc
  convolution of the flow's grid surface (FFT), sampled at each candidate;
- ``raster``: a raster value at the candidate (slope in degrees, elevation in m).

``distance``, ``colocation`` and ``reachable`` take a ``metric``: ``straight`` (default, m),
``road_km`` (km by road) or ``road_min`` (minutes by road), measured on the catalog's road network
(:mod:`geo_almaty.network`): from the features (supply) to the candidate, connectors included. A
catalog without roads falls back to the straight line × ``settings.FALLBACK_CIRCUITY``, and says so.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import fft as sp_fft
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

from . import settings
from .allocate import Allocation
from .candidates import Candidates
from .errors import DataUnavailableError, ProfileError
from .grid import AnalysisGrid
from .prepare import Study
from .rasterize import burn_values, class_shares

log = logging.getLogger(__name__)

#: Spacing (m) of points sampled along lines and outlines, as a fraction of the cell size.
DENSIFY_FRACTION = 0.25


#: Distance metrics of distance, colocation and reachable criteria, and the unit of their raw values.
METRIC_UNITS = {"straight": "m", "road_km": "km", "road_min": "min"}


@dataclass
class CriterionRaw:
    """Raw values (NaN where undefined) and, for distances, the index of the nearest feature.

    Road criteria also carry their ``metric``, ``straight`` (candidate rows → the straight-line
    comparison: metres to the same nearest feature, or the amount within the radius as the crow
    flies) and a ``note`` (connectors, or the fallback used without a network).
    """

    values: np.ndarray
    nearest: np.ndarray | None = None
    features: object | None = None  # the GeoDataFrame the nearest index refers to
    metric: str = "straight"
    straight: Callable[[np.ndarray], np.ndarray] | None = None
    note: str | None = None
    fallback: bool = False


def criterion_metric(spec: dict) -> str:
    """The criterion's metric: straight (default), road_km or road_min."""
    return spec.get("metric", "straight")


def colocation_threshold(spec: dict) -> float:
    """A colocation criterion's threshold in the unit of its raw values (m, km or min)."""
    metric = criterion_metric(spec)
    if metric == "road_min":
        return float(spec["within_min"])
    return float(spec["within_m"]) / (1000.0 if metric == "road_km" else 1.0)


def default_value_spec(spec: dict) -> dict:
    """The criterion's value function; colocation defaults to 1 within its threshold, else 0."""
    return spec.get("value") or {"function": "threshold", "at": colocation_threshold(spec), "direction": "below"}


def criterion_raw(spec: dict, study: Study, candidates: Candidates, allocations: dict[str, Allocation],
                  cache: dict | None = None) -> CriterionRaw:
    """Raw values of criterion ``spec`` for ``candidates``."""
    cache = {} if cache is None else cache
    kind = spec["type"]
    where = f"criteria/{spec['id']}"
    metric = criterion_metric(spec)
    if metric not in METRIC_UNITS:
        raise ProfileError(f"unknown metric '{metric}'", column=f"{where}/metric", expected="straight, road_km or road_min")
    if kind in ("distance", "colocation"):
        frame = _layer_subset(study, spec, where)
        if metric != "straight":
            return road_distance_raw(frame, spec, study, candidates, cache)
        distance, nearest = distance_to_features(frame.geometry.values, candidates, study)
        return CriterionRaw(distance, nearest, frame)
    if kind == "share":
        return CriterionRaw(_share(study, spec, candidates, where))
    if kind == "reachable":
        if spec["allocation"] not in allocations:
            raise ProfileError(f"unknown allocation '{spec['allocation']}'", column=f"{where}/allocation", expected="one of " + ", ".join(allocations))
        if metric != "straight":
            return road_reachable_raw(spec, study, candidates, allocations[spec["allocation"]], cache)
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
    holder = polygon_holder(geometries, candidates, study)
    query = holder < 0
    nearest[~query] = holder[~query]
    todo = np.flatnonzero(query)
    found, nearest_point = tree.query(np.column_stack([candidates.x[todo], candidates.y[todo]]), workers=-1)
    distance[todo] = found
    nearest[todo] = owner[nearest_point]
    return distance, nearest


def polygon_holder(geometries: np.ndarray, candidates: Candidates, study: Study) -> np.ndarray:
    """Index of the polygon holding each candidate centre (-1 outside every polygon).

    Grid candidates use a raster burn (the last polygon burnt wins where polygons overlap); other
    candidates a point-in-polygon test against each polygon in order (the first one wins).
    """
    geometries = np.asarray(geometries, dtype=object)
    polygons = np.isin(shapely.get_type_id(geometries), [3, 6])
    holder = np.full(len(candidates), -1, dtype=np.int64)
    if not polygons.any():
        return holder
    if candidates.kind == "square":
        return burn_values(geometries[polygons], np.flatnonzero(polygons) + 1, study.grid).ravel()[candidates.cell].astype(np.int64) - 1
    tree = shapely.STRtree(geometries[polygons])
    cand, poly = tree.query(shapely.points(candidates.x, candidates.y), predicate="within")
    order = np.lexsort((poly, cand))
    cand, poly = cand[order], poly[order]
    first = np.r_[True, cand[1:] != cand[:-1]] if len(cand) else np.empty(0, bool)
    holder[cand[first]] = np.flatnonzero(polygons)[poly[first]]
    return holder


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


# --- distances and supply by road ------------------------------------------------------------------

def _weight_and_scale(metric: str) -> tuple[str, float]:
    """The network weight of a road metric and the factor from its cost (m or s) to the raw unit (km or min)."""
    return ("length", 1 / 1000) if metric == "road_km" else ("time", 1 / 60)


def fallback_factor(metric: str) -> float:
    """Raw units (km or min) per straight-line metre when a catalog has no road network."""
    km = settings.FALLBACK_CIRCUITY / 1000
    return km if metric == "road_km" else km / settings.FALLBACK_SPEED_KMH * 60


def fallback_note() -> str:
    """The line printed where a road criterion falls back to the straight line."""
    low, high = settings.FALLBACK_CIRCUITY_IQR
    return (f"no road network in the catalog: road distance = straight line × {settings.FALLBACK_CIRCUITY:.2f} "
            f"(circuity measured on the embedded roads, IQR {low:.2f}-{high:.2f}); road time at {settings.FALLBACK_SPEED_KMH:.0f} km/h")


def candidate_connection(study: Study, candidates: Candidates, cache: dict):
    """The candidates joined to the study's road network, once per set of candidate centres for all profiles."""
    key = ("connection", id(candidates))
    if key not in cache:
        cache[key] = connect_cached(study, candidates.x, candidates.y, "candidates")
    return cache[key]


def connect_cached(study: Study, x: np.ndarray, y: np.ndarray, what: str):
    """Points joined to the study's network, kept in ``study.road_cache`` by their coordinates."""
    import hashlib

    from .network import connect_points

    digest = hashlib.blake2b(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes(), digest_size=16).hexdigest()
    key = ("points", digest)
    if key not in study.road_cache:
        study.road_cache[key] = connect_points(study.network, x, y, what=what)
    return study.road_cache[key]


def road_distance_raw(frame, spec: dict, study: Study, candidates: Candidates, cache: dict) -> CriterionRaw:
    """Road distance (km) or time (min) from the nearest feature to each candidate; 0 inside polygons.

    Features join the network at their sample points (points; line vertices and polygon outlines
    densified like the straight distance); ``direction: from_site`` measures from the candidate to
    the feature instead (delivery rather than supply).
    """
    from .network import nearest_by_road

    metric = criterion_metric(spec)
    geometries = np.asarray(frame.geometry.values, dtype=object)
    network = study.network
    if network is None:
        distance, nearest = distance_to_features(geometries, candidates, study)
        return CriterionRaw(distance * fallback_factor(metric), nearest, frame, metric, straight=lambda rows: distance[rows],
                            note=fallback_note(), fallback=True)
    weight, scale = _weight_and_scale(metric)
    step = max(study.grid.cell_size * DENSIFY_FRACTION, 1.0)
    tree, owner = sample_point_tree(geometries, step)
    points = connect_cached(study, tree.data[:, 0], tree.data[:, 1], f"points of layer {spec['layer']}")
    sites = candidate_connection(study, candidates, cache)
    towards = spec.get("direction", "to_site") == "from_site"
    cost, source = nearest_by_road(network, points, sites, weight, towards_sources=towards)
    nearest = np.where(source >= 0, owner[np.clip(source, 0, None)], 0)
    holder = polygon_holder(geometries, candidates, study)
    inside = holder >= 0
    cost[inside], nearest[inside] = 0.0, holder[inside]

    def straight(rows: np.ndarray) -> np.ndarray:
        return shapely.distance(shapely.points(candidates.x[rows], candidates.y[rows]), geometries[nearest[rows]])

    note = points.summary(f"points of layer {spec['layer']}")
    return CriterionRaw(cost * scale, nearest, frame, metric, straight=straight, note=note)


def road_reachable_raw(spec: dict, study: Study, candidates: Candidates, allocation: Allocation, cache: dict) -> CriterionRaw:
    """Amount of an allocated flow whose cells reach the candidate within the radius by road.

    See :func:`geo_almaty.network.reachable_by_road` for the exact definition (supply cells deliver
    at the access node of their link; the candidate's connector counts against the radius).
    ``radius_m`` bounds ``road_km`` criteria, ``radius_min`` ``road_min`` ones.
    """
    from .network import reachable_by_road

    metric = criterion_metric(spec)
    surface = allocation.surface()
    radius_m = float(spec["radius_m"]) if metric == "road_km" else None
    network = study.network
    if network is None:
        crow = radius_m / settings.FALLBACK_CIRCUITY if radius_m else float(spec["radius_min"]) / fallback_factor(metric)
        key = ("reachable", allocation.id, crow)
        if key not in cache:
            cache[key] = reachable_surface(surface, study.grid, crow)
        return CriterionRaw(_sample(cache[key], candidates), metric=metric, note=fallback_note(), fallback=True,
                            straight=_disc_sums(surface, study.grid, candidates, radius_m) if radius_m else None)
    weight, _ = _weight_and_scale(metric)
    limit = radius_m if radius_m is not None else float(spec["radius_min"]) * 60.0
    key = ("road_reachable", allocation.id, metric, limit)
    if key not in cache:
        cells = np.flatnonzero(surface.ravel())
        xs, ys = study.grid.centres()
        cache[("supply", allocation.id)] = connect_cached(study, xs[cells], ys[cells], f"cells of {allocation.id}")
        sites = candidate_connection(study, candidates, cache)
        cache[key] = reachable_by_road(network, cache[("supply", allocation.id)], surface.ravel()[cells], sites, limit, weight)[0]
    supply = cache[("supply", allocation.id)]
    median, p95 = supply.connector_stats()
    note = (f"{len(supply):,} supply cells of {allocation.id} deliver at their nearest road node (connector median {median:,.0f} m, "
            f"p95 {p95:,.0f} m, not counted against the radius)")
    return CriterionRaw(cache[key].copy(), metric=metric, note=note,
                        straight=_disc_sums(surface, study.grid, candidates, radius_m) if radius_m else None)


def _disc_sums(surface: np.ndarray, grid: AnalysisGrid, candidates: Candidates, radius_m: float) -> Callable[[np.ndarray], np.ndarray]:
    """Candidate rows → the amount of ``surface`` within ``radius_m`` of their centre as the crow flies (for a few sites)."""
    supply: list[np.ndarray] = []
    memo: dict[int, float] = {}

    def sums(rows: np.ndarray) -> np.ndarray:
        if not supply:
            cells = np.flatnonzero(surface.ravel())
            xs, ys = grid.centres()
            supply.extend([xs[cells], ys[cells], surface.ravel()[cells]])
        x, y, amount = supply
        for r in np.atleast_1d(rows):  # a few chosen sites, each vectorised over the supply cells
            if int(r) not in memo:
                memo[int(r)] = float(amount[np.hypot(x - candidates.x[r], y - candidates.y[r]) <= radius_m].sum())
        return np.array([memo[int(r)] for r in np.atleast_1d(rows)])

    return sums

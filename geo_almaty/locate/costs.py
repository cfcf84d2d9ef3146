"""Haul costs between demand points and candidate sites, as COO triplets within the haul radius.

:func:`travel_costs` is the one place the location model gets distances from. When the
study has a road network (``study.network``, built by ``geo_almaty.network``), it asks
``geo_almaty.network.od_costs`` for road lengths; otherwise it falls back to straight
lines × :data:`settings.FALLBACK_CIRCUITY`, and says so (``TravelCosts.method``), so
every output can flag the fallback.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .. import settings
from ..errors import LocateError
from ..network import od_costs

log = logging.getLogger(__name__)


@dataclass
class TravelCosts:
    """Pairs (origin, destination) within the cutoff and their haul length (m)."""

    origin: np.ndarray       #: (A,) int index of the origin (demand point)
    destination: np.ndarray  #: (A,) int index of the destination (site)
    metres: np.ndarray       #: (A,) haul length, m
    shape: tuple[int, int]
    method: str              #: 'road' or 'straight line × circuity (fallback)'
    circuity: float | None   #: the factor used by the fallback (``settings.FALLBACK_CIRCUITY``), None for road costs

    @property
    def is_fallback(self) -> bool:
        return self.circuity is not None

    def describe(self) -> str:
        """One line for outputs: how distances were measured."""
        if self.is_fallback:
            return f"straight line × {self.circuity:g} circuity (fallback: no road network in the catalog)"
        return "road network (shortest path length)"


def travel_costs(study, origins_xy: np.ndarray, destinations_xy: np.ndarray, cutoff_m: float, *, progress: bool = False) -> TravelCosts:
    """Haul lengths (m) of every origin-destination pair within ``cutoff_m``: by road when the study has a network.

    Road lengths come from :func:`geo_almaty.network.od_costs` on ``study.network`` (COO
    triplets in metres, connectors to the road included, pairs beyond the cutoff absent);
    without a network, straight lines × :data:`settings.FALLBACK_CIRCUITY`, flagged.
    """
    network = study.network
    if network is None:
        return straight_line_costs(origins_xy, destinations_xy, cutoff_m, settings.FALLBACK_CIRCUITY)
    od = od_costs(network, np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2), np.asarray(destinations_xy, dtype=np.float64).reshape(-1, 2),
                  cutoff=cutoff_m, weight="length", progress=progress)
    log.info("haul costs: %d pairs within %.1f km by road", len(od.cost), cutoff_m / 1000)
    return TravelCosts(np.asarray(od.origin, dtype=np.int64), np.asarray(od.destination, dtype=np.int64), np.asarray(od.cost, dtype=np.float64),
                       tuple(od.shape), "road", None)


def straight_line_costs(origins_xy: np.ndarray, destinations_xy: np.ndarray, cutoff_m: float, circuity: float) -> TravelCosts:
    """Straight-line distance × ``circuity`` for every pair whose haul is within ``cutoff_m`` (KD-tree, vectorised).

    The number of pairs is counted before they are built; above
    ``settings.MAX_LOCATE_ARCS`` the run is refused with the estimate.
    """
    origins_xy = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    destinations_xy = np.asarray(destinations_xy, dtype=np.float64).reshape(-1, 2)
    shape = (len(origins_xy), len(destinations_xy))
    radius = cutoff_m / circuity
    if not len(origins_xy) or not len(destinations_xy):
        empty = np.zeros(0, dtype=np.int64)
        return TravelCosts(empty, empty, np.zeros(0), shape, "straight line × circuity (fallback)", circuity)
    to_tree = cKDTree(destinations_xy)
    counts = to_tree.query_ball_point(origins_xy, radius, return_length=True)
    pairs = int(np.sum(counts))
    if pairs > settings.MAX_LOCATE_ARCS:
        raise LocateError(f"{pairs:,} demand-site pairs within {cutoff_m / 1000:g} km (about {pairs * 80 / 1e9:.1f} GB), above the limit of "
                          f"{settings.MAX_LOCATE_ARCS:,}", column="locate/max_haul_m",
                          expected="a shorter haul, a smaller candidate pool or larger demand blocks")
    matrix = cKDTree(origins_xy).sparse_distance_matrix(to_tree, radius, output_type="coo_matrix")
    order = np.lexsort((matrix.col, matrix.row))
    log.info("haul costs: %d pairs within %.1f km (straight line × %.2f, fallback)", len(order), cutoff_m / 1000, circuity)
    return TravelCosts(matrix.row[order].astype(np.int64), matrix.col[order].astype(np.int64), matrix.data[order] * circuity, shape,
                       "straight line × circuity (fallback)", circuity)

"""Distance criteria: the KD-tree path agrees with a brute-force distance to every sample point."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_almaty.candidates import hex_candidates, square_candidates
from geo_almaty.catalog import load_catalog
from geo_almaty.criteria import DENSIFY_FRACTION, distance_to_features, feature_sample_points, sample_point_tree
from geo_almaty.prepare import prepare_study

from .synthetic import CX, CY, tiny_world


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return prepare_study(load_catalog(tiny_world(tmp_path_factory.mktemp("distance_world"))), 250)


def _features() -> np.ndarray:
    """Two squares sharing an edge, a road starting on it, points on the road's bend and end, a well, two islands."""
    left = shapely.box(CX - 900, CY - 300, CX - 300, CY + 300)
    right = shapely.box(CX - 300, CY - 300, CX + 300, CY + 300)
    road = shapely.LineString([(CX - 300, CY + 300), (CX + 1400, CY + 1700), (CX + 1900, CY + 1650)])
    well = shapely.Point(CX + 1100, CY - 1300)
    islands = shapely.MultiPolygon([shapely.box(CX - 1900, CY - 1900, CX - 1500, CY - 1500),
                                    shapely.box(CX + 1500, CY - 300, CX + 1800, CY + 100)])
    bend, end = shapely.Point(CX + 1400, CY + 1700), shapely.Point(CX + 1900, CY + 1650)  # tie with the road
    return np.array([left, right, road, bend, islands, well, end], dtype=object)


def _brute_force(geometries: np.ndarray, x: np.ndarray, y: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest sample point of each feature, one column per feature."""
    coords, owner = feature_sample_points(geometries, step)
    d = np.hypot(x[:, None] - coords[None, :, 0], y[:, None] - coords[None, :, 1])
    per_feature = np.full((len(x), len(geometries)), np.inf)
    for f in range(len(geometries)):  # a handful of test features
        per_feature[:, f] = d[:, owner == f].min(axis=1)
    return per_feature.min(axis=1), per_feature


@pytest.mark.parametrize("kind", ["square", "hex"])
def test_kd_tree_distance_matches_brute_force(study, kind):
    geometries = _features()
    candidates = square_candidates(study) if kind == "square" else hex_candidates(study)
    distance, nearest = distance_to_features(geometries, candidates, study)
    step = study.grid.cell_size * DENSIFY_FRACTION
    expected, per_feature = _brute_force(geometries, candidates.x, candidates.y, step)
    polygons = shapely.union_all(geometries[[0, 1, 4]])
    inside = shapely.contains_xy(polygons, candidates.x, candidates.y)
    assert inside.any() and (~inside).any()
    assert (nearest[~inside] == 2).any() and not np.isin(nearest, [3, 6]).any()  # points on the road lose the tie
    assert np.allclose(distance[inside], 0.0)
    assert np.allclose(distance[~inside], expected[~inside], atol=1e-9)
    outside = np.flatnonzero(~inside)
    # Outside polygons the nearest feature attains the minimum; among tied features the lowest index wins.
    assert np.allclose(per_feature[outside, nearest[outside]], expected[outside], atol=1e-9)
    tied_lowest = np.argmax(per_feature[outside] <= expected[outside, None] + 1e-9, axis=1)
    assert (nearest[outside] == tied_lowest).all()
    if kind == "square":
        # Inside, the nearest feature is the polygon holding the cell centre.
        holder = np.full(inside.sum(), -1)
        for i in (0, 1, 4):
            holder[shapely.contains_xy(geometries[i], candidates.x[inside], candidates.y[inside])] = i
        assert (nearest[inside] == holder).all()


def test_shared_points_belong_to_the_lowest_feature():
    a = shapely.box(0, 0, 100, 100)
    b = shapely.box(100, 0, 200, 100)  # shares the edge x = 100 with a
    tree, owner = sample_point_tree(np.array([b, a], dtype=object), 25.0)
    coords = tree.data
    assert len(np.unique(coords, axis=0)) == len(coords)  # each point once
    on_edge = coords[:, 0] == 100
    assert on_edge.sum() == 5 and (owner[on_edge] == 0).all()  # b is feature 0

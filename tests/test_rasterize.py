"""Oversampled burns: block counts, class shares and feature-cell weights against plain reference computations."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_almaty.grid import AnalysisGrid
from geo_almaty.rasterize import block_counts, burn_index, burn_values, class_shares, coarse_index, feature_cell_weights, fine_grid


@pytest.mark.parametrize("oversample", [1, 2, 3, 4, 5])
def test_block_counts_match_a_reshaped_sum(oversample):
    rng = np.random.default_rng(oversample)
    mask = rng.random((7 * oversample, 9 * oversample)) < 0.4
    expected = mask.reshape(7, oversample, 9, oversample).sum(axis=(1, 3))
    assert np.array_equal(block_counts(mask, oversample), expected)


def _random_polygons(rng, n, grid):
    x0, y1, x1, y0 = grid.bounds
    cx, cy = rng.uniform(x0, x1, n), rng.uniform(y1, y0, n)
    size = rng.uniform(20, 900, n)
    return shapely.buffer(shapely.points(cx, cy), size, quad_segs=3)


def _reference_weights(geoms, grid, oversample=4):
    """The plain algorithm: coarse cell of every sub-cell, then unique (feature, cell) keys."""
    fine = fine_grid(grid, oversample)
    index = burn_index(geoms, fine).ravel()
    cells = coarse_index(fine, oversample)
    covered = index > 0
    key = (index[covered].astype(np.int64) - 1) * grid.width * grid.height + cells[covered]
    unique, counts = np.unique(key, return_counts=True)
    return unique // (grid.width * grid.height), unique % (grid.width * grid.height), counts


@pytest.mark.parametrize("n_features", [6, 3000])  # counted with bincount, and with unique
def test_feature_cell_weights_match_the_plain_algorithm(n_features):
    grid = AnalysisGrid(500_000.0, 4_800_000.0, 250.0, 90, 80)
    geoms = _random_polygons(np.random.default_rng(n_features), n_features, grid)
    feature, cell, count = feature_cell_weights(geoms, grid)
    ref_feature, ref_cell, ref_count = _reference_weights(geoms, grid)
    landed = np.isin(feature, ref_feature)  # features too small for any sub-cell are placed by their point
    assert np.array_equal(feature[landed], ref_feature) and np.array_equal(cell[landed], ref_cell)
    assert np.array_equal(count[landed], ref_count)
    assert set(feature) == set(range(n_features))


@pytest.mark.parametrize("oversample", [3, 4])
def test_class_shares_count_sub_cells_of_each_class(oversample):
    grid = AnalysisGrid(500_000.0, 4_800_000.0, 250.0, 40, 30)
    rng = np.random.default_rng(oversample)
    geoms = _random_polygons(rng, 60, grid)
    codes = rng.integers(0, 5, len(geoms)).astype(np.int32)
    shares = class_shares(geoms, codes, 5, grid, oversample=oversample)
    burned = burn_values(geoms, codes + 1, fine_grid(grid, oversample))
    blocks = burned.reshape(grid.height, oversample, grid.width, oversample)
    for code in range(5):
        expected = (blocks == code + 1).sum(axis=(1, 3)) / oversample**2
        assert np.array_equal(shares[code], expected.astype(np.float32))
    assert shares.dtype == np.float32 and (shares.sum(axis=0) <= 1 + 1e-6).all()

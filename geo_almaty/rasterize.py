"""Burn vector features onto the analysis grid, oversampled, and count what falls in each cell.

This is how polygons meet the grid everywhere in geo_almaty: land-use shares per
cell, population spread over residential cells, park area per cell. Each cell is
split into ``oversample``² sub-cells; counting sub-cells gives area shares with a
resolution of 1/oversample² without any Python loop over cells.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from rasterio import features as rio_features

from .grid import AnalysisGrid

#: Sub-cells per cell side used for area shares.
DEFAULT_OVERSAMPLE = 4


def fine_grid(grid: AnalysisGrid, oversample: int = DEFAULT_OVERSAMPLE) -> AnalysisGrid:
    """The grid with each cell split into ``oversample`` × ``oversample`` sub-cells."""
    return AnalysisGrid(grid.x0, grid.y0, grid.cell_size / oversample, grid.width * oversample, grid.height * oversample)


def burn_values(geometries: Sequence, values: Sequence[int] | np.ndarray, grid: AnalysisGrid, fill: int = 0) -> np.ndarray:
    """Raster (int32, ``grid.shape``) holding ``values[i]`` where geometry ``i`` covers a cell centre.

    Later geometries win where they overlap. Lines burn every cell they touch.
    """
    geoms = np.asarray(geometries, dtype=object)
    out = np.full(grid.shape, fill, dtype=np.int32)
    if len(geoms) == 0:
        return out
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    shapes = zip(geoms[keep], np.asarray(values, dtype=np.int32)[keep])
    lines = np.isin(shapely.get_type_id(geoms[keep]), [1, 2, 5])
    return rio_features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=fill, dtype="int32",
                                  all_touched=bool(lines.all()) and len(lines) > 0, out=out)


def touched_mask(geometries: Sequence, grid: AnalysisGrid) -> np.ndarray:
    """Boolean raster (``grid.shape``): True for every cell any of ``geometries`` touches (not only covers the centre).

    A cell is touched when the geometry intersects the cell's square, so for buffered
    features this measures distance from the cell's *edge*: a cell is marked when some
    part of it lies within the buffer.
    """
    geoms = np.asarray(geometries, dtype=object)
    out = np.zeros(grid.shape, dtype=np.uint8)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else np.zeros(0, dtype=bool)
    if keep.any():
        rio_features.rasterize(((g, 1) for g in geoms[keep]), out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8",
                               all_touched=True, out=out)
    return out.astype(bool)


def burn_index(geometries: Sequence, grid: AnalysisGrid) -> np.ndarray:
    """Raster of feature numbers: ``i + 1`` where feature ``i`` covers a cell centre, 0 elsewhere."""
    return burn_values(geometries, np.arange(1, len(geometries) + 1), grid)


def coarse_index(fine: AnalysisGrid, oversample: int) -> np.ndarray:
    """For each sub-cell of ``fine`` (row-major), the flat index of the coarse cell holding it."""
    rows = np.arange(fine.height) // oversample
    cols = np.arange(fine.width) // oversample
    coarse_width = fine.width // oversample
    return (rows[:, None] * coarse_width + cols[None, :]).ravel()


def block_counts(mask: np.ndarray, oversample: int) -> np.ndarray:
    """Number of true sub-cells in every ``oversample`` × ``oversample`` block of a fine boolean raster.

    Adds ``oversample`` strided slices along each axis, so the work is a few
    vectorised passes over the fine raster whatever the block size.
    """
    dtype = np.uint8 if oversample**2 < 256 else np.uint32
    mask = mask.view(np.uint8) if mask.dtype == bool else mask
    columns = mask[:, 0::oversample].astype(dtype)
    for j in range(1, oversample):
        columns += mask[:, j::oversample]
    counts = columns[0::oversample].copy()
    for i in range(1, oversample):
        counts += columns[i::oversample]
    return counts


def feature_cell_weights(geometries: Sequence, grid: AnalysisGrid, oversample: int = DEFAULT_OVERSAMPLE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which cells each polygon covers, and how much: ``(feature, cell, sub_cell_count)``.

    ``cell`` is a flat (row-major) index into ``grid``. A polygon too small to cover
    any sub-cell centre gets weight 1 in the cell holding its representative point,
    so every feature lands somewhere (points and lines are handled the same way).
    """
    geoms = np.asarray(geometries, dtype=object)
    fine = fine_grid(grid, oversample)
    n_cells = grid.width * grid.height
    index = burn_index(geoms, fine).ravel()
    covered = np.flatnonzero(index > 0)  # nonzero of a boolean mask is ~3× faster than of int32
    # The coarse cell of each covered sub-cell only (sparse layers cover few sub-cells).
    cells = (covered // fine.width // oversample) * grid.width + (covered % fine.width) // oversample
    key = (index[covered].astype(np.int64) - 1) * n_cells + cells
    if len(geoms) * n_cells <= max(2 * len(key), 1 << 24):
        # Few features over much of the grid: count every (feature, cell) pair directly, already in key order.
        tally = np.bincount(key, minlength=len(geoms) * n_cells)
        unique = np.flatnonzero(tally)
        counts = tally[unique]
    else:
        unique, counts = np.unique(key, return_counts=True)
    feature = unique // n_cells
    cell = unique % n_cells
    missing = np.setdiff1d(np.arange(len(geoms)), feature)
    if len(missing):
        points = shapely.point_on_surface(geoms[missing])
        row, col = grid.index_of(shapely.get_x(points), shapely.get_y(points))
        row = np.clip(row, 0, grid.height - 1)
        col = np.clip(col, 0, grid.width - 1)
        feature = np.concatenate([feature, missing])
        cell = np.concatenate([cell, row * grid.width + col])
        counts = np.concatenate([counts, np.ones(len(missing), dtype=counts.dtype)])
    order = np.lexsort((cell, feature))
    return feature[order], cell[order], counts[order].astype(np.float64)


def class_shares(geometries: Sequence, class_codes: Sequence[int], n_classes: int, grid: AnalysisGrid,
                 oversample: int = DEFAULT_OVERSAMPLE) -> np.ndarray:
    """Share (0-1) of each cell covered by each class: array ``(n_classes, rows, cols)``.

    ``class_codes[i]`` is the class of polygon ``i`` (0..n_classes-1). The polygons
    are burnt once on the oversampled grid; each class is then counted per cell
    with :func:`block_counts` (one vectorised pass per class).
    """
    fine = fine_grid(grid, oversample)
    burned = burn_values(geometries, np.asarray(class_codes, dtype=np.int32) + 1, fine)
    if n_classes < 255:
        burned = burned.astype(np.uint8)
    mask = np.empty(burned.shape, dtype=bool)
    shares = np.empty((n_classes, grid.height, grid.width), dtype=np.float32)
    for code in range(n_classes):  # a handful of classes, each a pass over the whole grid
        np.equal(burned, code + 1, out=mask)
        shares[code] = block_counts(mask, oversample) / oversample**2
    return shares

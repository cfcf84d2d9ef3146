"""The analysis grid: square cells in EPSG:32643 aligned to whole multiples of the cell size."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine

from . import settings
from .errors import InputError


@dataclass(frozen=True)
class AnalysisGrid:
    """A raster-like grid: top-left corner ``(x0, y0)`` (m), ``cell_size`` (m), ``width`` × ``height`` cells."""

    x0: float
    y0: float
    cell_size: float
    width: int
    height: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], cell_size: float = settings.DEFAULT_CELL_SIZE_M) -> AnalysisGrid:
        """The smallest grid aligned to multiples of ``cell_size`` that covers ``bounds`` (minx, miny, maxx, maxy; m)."""
        if not (math.isfinite(cell_size) and cell_size > 0):
            raise InputError(f"cell size {cell_size} m", column="cell_size", expected="a finite, positive cell size in metres")
        minx, miny, maxx, maxy = bounds
        x0 = math.floor(minx / cell_size) * cell_size
        y1 = math.floor(miny / cell_size) * cell_size
        x1 = math.ceil(maxx / cell_size) * cell_size
        y0 = math.ceil(maxy / cell_size) * cell_size
        return cls(float(x0), float(y0), float(cell_size), max(1, round((x1 - x0) / cell_size)), max(1, round((y0 - y1) / cell_size)))

    @property
    def transform(self) -> Affine:
        """Affine transform (rasterio convention) of the grid."""
        return Affine(self.cell_size, 0.0, self.x0, 0.0, -self.cell_size, self.y0)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in metres."""
        return self.x0, self.y0 - self.height * self.cell_size, self.x0 + self.width * self.cell_size, self.y0

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates (m) of every cell, row-major, as two 1-D arrays."""
        cols = self.x0 + (np.arange(self.width) + 0.5) * self.cell_size
        rows = self.y0 - (np.arange(self.height) + 0.5) * self.cell_size
        xs, ys = np.meshgrid(cols, rows)
        return xs.ravel(), ys.ravel()

    def index_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of the cells containing points ``x, y``; may fall outside the grid."""
        col = np.floor((np.asarray(x) - self.x0) / self.cell_size).astype(np.int64)
        row = np.floor((self.y0 - np.asarray(y)) / self.cell_size).astype(np.int64)
        return row, col

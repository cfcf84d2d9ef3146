"""Criterion weights: given directly, or derived by AHP from a pairwise comparison matrix."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import ProfileError

#: Saaty's random consistency index by matrix size (a published constant of the AHP method).
RANDOM_INDEX = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49,
                11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
#: Largest consistency ratio accepted without ``force``.
MAX_CONSISTENCY_RATIO = 0.1


@dataclass(frozen=True)
class AHPResult:
    """Weights (sum 1), the principal eigenvalue and the consistency index and ratio."""

    weights: np.ndarray
    lambda_max: float
    consistency_index: float
    consistency_ratio: float


def normalise_weights(weights: list[float] | np.ndarray, *, where: str = "weights") -> np.ndarray:
    """Direct weights scaled to sum 1; a negative or non-finite weight, or all zeros, is an error."""
    w = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ProfileError("a weight is not a number", column=where, expected="finite weights")
    if (w < 0).any():
        bad = int(np.flatnonzero(w < 0)[0])
        raise ProfileError(f"negative weight {w[bad]:g} (criterion {bad + 1})", column=where, expected="weights >= 0")
    if w.sum() <= 0:
        raise ProfileError("all weights are zero", column=where, expected="at least one positive weight")
    return w / w.sum()


def parse_matrix(rows: list[list[float | str]], *, where: str = "weights/matrix") -> np.ndarray:
    """A pairwise matrix from YAML; entries may be numbers or fractions like ``"1/3"``."""
    try:
        matrix = np.array([[float(Fraction(str(v))) for v in row] for row in rows], dtype=np.float64)
    except (ValueError, ZeroDivisionError):
        raise ProfileError("matrix entries must be numbers or fractions like 1/3", column=where, expected="positive numbers") from None
    return matrix


def ahp_weights(matrix: np.ndarray, *, where: str = "weights/matrix") -> AHPResult:
    """Principal-eigenvector weights of a reciprocal pairwise matrix, with Saaty's consistency ratio."""
    a = np.asarray(matrix, dtype=np.float64)
    n = a.shape[0]
    if a.ndim != 2 or a.shape != (n, n) or n == 0:
        raise ProfileError(f"matrix of shape {a.shape}", column=where, expected="a square matrix, one row per criterion")
    if (a <= 0).any() or not np.isfinite(a).all():
        raise ProfileError("matrix entries must be positive", column=where, expected="positive judgements (1/9 … 9)")
    if not np.allclose(a * a.T, 1.0, rtol=0.02):
        i, j = np.argwhere(~np.isclose(a * a.T, 1.0, rtol=0.02))[0]
        raise ProfileError(f"matrix is not reciprocal at ({i + 1}, {j + 1}): {a[i, j]:g} vs {a[j, i]:g}", column=where,
                           expected="a[j][i] = 1 / a[i][j]")
    eigenvalues, eigenvectors = np.linalg.eig(a)
    k = int(np.argmax(eigenvalues.real))
    vector = np.abs(eigenvectors[:, k].real)
    weights = vector / vector.sum()
    lambda_max = float(eigenvalues[k].real)
    ci = (lambda_max - n) / (n - 1) if n > 2 else 0.0
    ri = RANDOM_INDEX.get(n, 1.59)
    cr = ci / ri if ri > 0 else 0.0
    return AHPResult(weights, lambda_max, max(ci, 0.0), max(cr, 0.0))


def check_consistency(result: AHPResult, *, force: bool, where: str = "weights") -> None:
    """Refuse a consistency ratio above 0.1 unless ``force``."""
    if result.consistency_ratio > MAX_CONSISTENCY_RATIO and not force:
        raise ProfileError(f"AHP consistency ratio {result.consistency_ratio:.3f} is above {MAX_CONSISTENCY_RATIO}", column=where,
                           expected="a more consistent pairwise matrix, or force: true (CLI --force-ahp)")

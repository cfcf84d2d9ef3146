"""Random draws for the Monte Carlo: criterion weights, positions of illustrative features.

Everything is drawn from a :class:`numpy.random.Generator`; callers derive one
generator per source of uncertainty from the seed, so a run is reproducible and
a source can be switched off without changing the draws of the others.
"""
from __future__ import annotations

import numpy as np

from ..weights import AHPResult, MAX_CONSISTENCY_RATIO, ahp_weights

#: Default Dirichlet concentration κ around a profile's direct weights. A weight w
#: then has a standard deviation of sqrt(w (1 - w) / (κ + 1)): about ±25 % of itself
#: for a weight of 0.2 and ±50 % for a weight of 0.07 (κ = 50).
DEFAULT_CONCENTRATION = 50.0

#: Saaty's 1-9 scale as 17 steps, 1/9 … 1/2, 1, 2 … 9.
SAATY_SCALE = np.array([1 / 9, 1 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5, 6, 7, 8, 9])


def dirichlet_weights(weights: np.ndarray, concentration: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` weight vectors ``(n, c)`` from a Dirichlet with mean ``weights`` and total concentration ``concentration``.

    Criteria with weight 0 (skipped for lack of data) keep 0.
    """
    if not concentration > 0:
        raise ValueError(f"concentration {concentration}: expected a positive number")
    w = np.asarray(weights, dtype=np.float64)
    out = np.zeros((n, len(w)))
    positive = w > 0
    if positive.sum() == 1:
        out[:, positive] = 1.0
    elif positive.any():
        out[:, positive] = rng.dirichlet(concentration * w[positive] / w[positive].sum(), n)
    return out


def saaty_steps(matrix: np.ndarray) -> np.ndarray:
    """Index (0-16) on :data:`SAATY_SCALE` nearest (in log space) to every matrix entry."""
    return np.abs(np.log(np.asarray(matrix, dtype=np.float64))[..., None] - np.log(SAATY_SCALE)).argmin(axis=-1)


def perturbed_ahp_matrices(matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` matrices ``(n, c, c)`` whose judgements above the diagonal move by −1, 0 or +1 step of the Saaty scale.

    Each step is equally likely and clipped to 1/9 … 9; an entry that is not on the
    scale keeps its value when it does not move. Entries below the diagonal are the
    reciprocals, so every matrix stays reciprocal.
    """
    a = np.asarray(matrix, dtype=np.float64)
    c = a.shape[0]
    upper = np.triu_indices(c, 1)
    steps = saaty_steps(a[upper])
    moves = rng.integers(-1, 2, size=(n, len(steps)))
    moved = SAATY_SCALE[np.clip(steps[None, :] + moves, 0, len(SAATY_SCALE) - 1)]
    judgements = np.where(moves == 0, a[upper][None, :], moved)
    out = np.ones((n, c, c))
    out[:, upper[0], upper[1]] = judgements
    out[:, upper[1], upper[0]] = 1.0 / judgements
    return out


def ahp_weight_samples(matrix: np.ndarray, n: int, rng: np.random.Generator,
                       skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(n, c)`` of :func:`perturbed_ahp_matrices` and each matrix's consistency ratio ``(n,)``.

    ``skip`` (boolean per criterion) sets skipped criteria to 0 and renormalises the
    rest, as :func:`geo_almaty.profiles.criterion_weights` does.
    """
    matrices = perturbed_ahp_matrices(matrix, n, rng)
    results: list[AHPResult] = [ahp_weights(m) for m in matrices]
    weights = np.array([r.weights for r in results]).reshape(n, len(matrix))
    if skip is not None and np.any(skip):
        weights[:, skip] = 0.0
        weights /= weights.sum(axis=1, keepdims=True)
    return weights, np.array([r.consistency_ratio for r in results])


def share_inconsistent(ratios: np.ndarray) -> float:
    """Share of perturbed AHP matrices whose consistency ratio exceeds Saaty's 0.1."""
    return float(np.mean(ratios > MAX_CONSISTENCY_RATIO)) if len(ratios) else 0.0


def disc_offsets(radius_m: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, m, 2)`` offsets (m) uniformly distributed over a disc of ``radius_m`` around each of ``m`` points."""
    radius = np.asarray(radius_m, dtype=np.float64)
    r = radius[None, :] * np.sqrt(rng.random((n, len(radius))))
    theta = 2 * np.pi * rng.random((n, len(radius)))
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=-1)

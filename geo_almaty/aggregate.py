"""Aggregation of criterion values into one score: weighted linear combination and OWA.

Both return the score and each criterion's contribution; contributions add up to
the score, so a planner can see why a site scored as it did.
"""
from __future__ import annotations

import numpy as np

from .errors import ProfileError


def row_sums(contributions: np.ndarray) -> np.ndarray:
    """Σ over the criteria of column-major ``contributions``, column after column: what numpy's ``sum(axis=1)`` gives
    for many rows, and the same float for a candidate scored alone (numpy adds a lone row pairwise), so a score does
    not depend on the batch it is computed in (strips of a tiled grid)."""
    total = np.zeros(len(contributions))
    for j in range(contributions.shape[1]):
        total += contributions[:, j]
    return total


def weighted_linear(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WLC: score = Σ wᵢ·vᵢ for values ``(n_sites, n_criteria)`` in 0-1 and weights summing to 1."""
    contributions = values * weights[None, :]
    return row_sums(contributions), contributions


def ordered_weighted_average(values: np.ndarray, weights: np.ndarray, order_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted OWA (Malczewski 2006): criterion weights combined with order weights.

    For each site the values are sorted from best to worst; the j-th best gets
    ``u_(j) · v_j`` renormalised, where ``u`` are its criterion weights and ``v``
    the order weights. Equal order weights give the WLC; all weight on the last
    (worst) value approaches a logical AND, on the first a logical OR.
    """
    n_sites, n = values.shape
    v = np.asarray(order_weights, dtype=np.float64)
    if v.shape != (n,):
        raise ProfileError(f"{len(v)} order weights for {n} criteria", column="aggregation/order_weights", expected=f"{n} order weights")
    if (v < 0).any() or v.sum() <= 0:
        raise ProfileError("order weights must be >= 0 and not all zero", column="aggregation/order_weights", expected="non-negative order weights")
    v = v / v.sum()
    order = np.argsort(-values, axis=1, kind="stable")
    u_sorted = weights[order]
    effective_sorted = u_sorted * v[None, :]
    total = effective_sorted.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    effective_sorted /= total
    effective = np.empty_like(effective_sorted)
    np.put_along_axis(effective, order, effective_sorted, axis=1)
    contributions = effective * values
    return contributions.sum(axis=1), contributions  # C-ordered: every row is summed alike whatever the batch

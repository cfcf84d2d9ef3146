"""Exact apportionment: split an integer total over weights so the parts sum to it exactly.

Flows are spread in whole kilograms with the largest-remainder (Hamilton)
method, so the parts of every flow add up to its total to the kilogram, with
no floating-point drift, and each part is within 1 kg of its exact share.
"""
from __future__ import annotations

import numpy as np

#: Kilograms per tonne: flows are apportioned in whole kilograms.
KG_PER_T = 1000


def tonnes_to_kg(tonnes: float) -> int:
    """A flow in t/yr as whole kg/yr (rounded half to even)."""
    return int(round(tonnes * KG_PER_T))


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split the integer ``total`` over non-negative ``weights``; the parts (int64) sum to ``total``.

    Ties in the remainders go to the lower index, so the result is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    if total < 0:
        raise ValueError("total must be >= 0")
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be a 1-D array of finite values >= 0")
    parts = np.zeros(len(w), dtype=np.int64)
    wsum = w.sum()
    if total == 0:
        return parts
    if wsum <= 0:
        raise ValueError("weights sum to zero but the total is positive")
    quotas = total * (w / wsum)
    parts = np.floor(quotas).astype(np.int64)
    short = int(total - parts.sum())
    if short:
        remainders = quotas - parts
        order = np.lexsort((np.arange(len(w)), -remainders))  # largest remainder first, then lowest index
        parts[order[:short]] += 1
    return parts


def largest_remainder_grouped(totals: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Apportion ``totals[g]`` over the items of each group ``g`` by ``weights``, vectorised over groups.

    ``groups`` gives each item's group index into ``totals``. Within every group the
    parts sum exactly to its total; a group whose items all weigh zero gets its total
    spread equally over its items. Returns int64 parts, one per item.
    """
    totals = np.asarray(totals, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and >= 0")
    n_groups = len(totals)
    counts = np.bincount(groups, minlength=n_groups)
    if ((counts == 0) & (totals > 0)).any():
        raise ValueError("a group with a positive total has no items")
    wsum = np.bincount(groups, weights=w, minlength=n_groups)
    zero = wsum[groups] <= 0
    w = np.where(zero, 1.0, w)
    wsum = np.bincount(groups, weights=w, minlength=n_groups)
    quotas = totals[groups] * (w / wsum[groups])
    parts = np.floor(quotas).astype(np.int64)
    short = totals - np.bincount(groups, weights=parts, minlength=n_groups).astype(np.int64)
    remainders = quotas - parts
    order = np.lexsort((np.arange(len(w)), -remainders, groups))  # by group, then largest remainder, then index
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, np.arange(n_groups))
    rank = np.arange(len(order)) - starts[sorted_groups]
    gets_one = rank < short[sorted_groups]
    parts[order[gets_one]] += 1
    return parts

"""One-at-a-time sensitivity: each weight ±50 % (renormalised), each uncertain flow at its bounds.

Every setting is scored exactly on all valid cells and selected with the
profile's rule; the table says how many of the base sites are replaced (no
chosen site within the match radius any more), the Jaccard overlap of the
chosen cells and of the plain top-k cells, and how far the base sites move in
the ranking.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..flows import evaluate
from ..select import pick_spaced
from .frequency import best_of, exact_scores, scoring_values
from .model import RobustModel
from .uncertainty import Uncertainty

#: Default relative change of each weight (±50 %).
DEFAULT_WEIGHT_CHANGE = 0.5


@dataclass
class Outcome:
    """One scored setting: scores of every valid cell, the best ``pool`` cells in order, the chosen sites and the plain top k."""

    scores: np.ndarray
    order: np.ndarray
    chosen: np.ndarray
    top_k: np.ndarray

    def ranks_of(self, cells: np.ndarray) -> np.ndarray:
        """Rank (1 = best; ties by cell index) of valid ``cells`` among all valid cells, without sorting them all."""
        s = np.where(np.isfinite(self.scores), self.scores, -np.inf)
        index = np.arange(len(s))
        better = (s[None, :] > s[cells][:, None]) | ((s[None, :] == s[cells][:, None]) & (index[None, :] < cells[:, None]))
        return better.sum(axis=1) + 1.0


def evaluate_setting(model: RobustModel, weights: np.ndarray, factors: dict[str, float] | None = None,
                     values: np.ndarray | None = None) -> Outcome:
    """Score all valid cells for ``weights`` and allocation-total ``factors``; choose sites with the profile's rule.

    Only the best ``selection_pool`` cells are sorted (found with a partition).
    """
    scores = exact_scores(model, weights, factors, values)
    order = best_of(scores, min(len(scores), max(model.selection_pool, model.top_n)))
    chosen = pick_spaced(order, model.x, model.y, model.codes, model.top_n, model.spacing_m, model.per_district)
    return Outcome(scores, order, chosen, order[:model.top_n])


def matched(model: RobustModel, sites: np.ndarray, others: np.ndarray, radius_m: float) -> np.ndarray:
    """For each of ``sites`` (valid-cell indices), whether one of ``others`` lies within ``radius_m`` (or is the same cell)."""
    if not len(sites) or not len(others):
        return np.zeros(len(sites), dtype=bool)
    dx = model.x[sites][:, None] - model.x[others][None, :]
    dy = model.y[sites][:, None] - model.y[others][None, :]
    same = sites[:, None] == others[None, :]
    return ((np.hypot(dx, dy) <= radius_m) | same).any(axis=1)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a ∪ b| of two sets of cells (1 when both are empty)."""
    union = len(np.union1d(a, b))
    return float(len(np.intersect1d(a, b)) / union) if union else 1.0


def compare(model: RobustModel, base: Outcome, other: Outcome, radius_m: float) -> dict:
    """Change of ``other`` against ``base``: sites replaced, Jaccard overlaps, rank shift of the base sites, the new sites."""
    kept = matched(model, base.chosen, other.chosen, radius_m)
    new = ~matched(model, other.chosen, base.chosen, radius_m)
    shift = np.abs(other.ranks_of(base.chosen) - base.ranks_of(base.chosen))
    return {
        "sites_replaced": int((~kept).sum()),
        "jaccard_sites": jaccard(base.chosen, other.chosen),
        "jaccard_top_k": jaccard(base.top_k, other.top_k),
        "mean_rank_shift": float(shift.mean()) if len(shift) else 0.0,
        "max_rank_shift": float(shift.max()) if len(shift) else 0.0,
        "new_sites": ";".join(model.candidates.labels(model.valid[other.chosen[new]])),
    }


def oat_settings(model: RobustModel, uncertainty: Uncertainty | None, flows: pd.DataFrame,
                 weight_change: float = DEFAULT_WEIGHT_CHANGE) -> list[tuple[dict, np.ndarray, dict[str, float]]]:
    """The settings of the OAT table: ``(row description, weights, allocation-total factors)``, one per factor and setting."""
    out = []
    for j, spec in enumerate(model.result.criteria):
        if model.weights[j] <= 0:
            continue
        for setting, factor in (("low", 1 - weight_change), ("high", 1 + weight_change)):
            w = model.weights.copy()
            w[j] *= factor
            w /= w.sum()
            out.append(({"factor": spec["id"], "kind": "weight", "setting": setting, "change": f"{(factor - 1) * 100:+.0f} %",
                         "base_value": float(model.weights[j]), "value": float(w[j])}, w, {}))
    flow_rows = list(dict.fromkeys(r for total in model.totals.values() for r in total.rows))
    for row_id in flow_rows:
        spread = uncertainty.flows[row_id]
        for setting, bound in (("low", spread.low), ("high", spread.high)):
            factors = {aid: float(evaluate(t.expression, flows, values={row_id: bound}).value) / t.base
                       for aid, t in model.totals.items() if row_id in t.rows}
            out.append(({"factor": row_id, "kind": "flow", "setting": setting, "change": f"{(bound / spread.value - 1) * 100:+.0f} %",
                         "base_value": spread.value, "value": bound}, model.weights, factors))
    return out


#: Columns of the OAT table.
OAT_COLUMNS = ["factor", "kind", "setting", "change", "base_value", "value", "sites_replaced", "jaccard_sites", "jaccard_top_k",
               "mean_rank_shift", "max_rank_shift", "new_sites"]


def one_at_a_time(model: RobustModel, uncertainty: Uncertainty | None, flows: pd.DataFrame, *, match_radius_m: float,
                  weight_change: float = DEFAULT_WEIGHT_CHANGE) -> pd.DataFrame:
    """The OAT table: one row per factor and setting (``low``/``high``), with the changes of :func:`compare`.

    Factors are the criteria with a weight (``kind`` weight; ``value`` is the
    renormalised weight) and the uncertain flow rows behind the profile's
    reachable criteria (``kind`` flow; ``value`` in canonical units).
    """
    values = scoring_values(model)
    base = evaluate_setting(model, model.weights, values=values)
    rows = [{**row, **compare(model, base, evaluate_setting(model, w, factors, values), match_radius_m)}
            for row, w, factors in oat_settings(model, uncertainty, flows, weight_change)]
    return pd.DataFrame(rows, columns=OAT_COLUMNS)

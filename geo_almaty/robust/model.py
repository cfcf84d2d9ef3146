"""What the Monte Carlo varies for one scored profile, prepared once as arrays.

A :class:`RobustModel` holds, for the candidates not removed by a fixed exclusion
(``valid``), the 0-1 criterion values as a ``(criteria × cells)`` float32 matrix,
so that a weighted linear combination for many weight vectors is one matrix
product. Criteria that move with the flows or with the positions of illustrative
features are kept apart:

- **flows** (:class:`FlowCriterion`): a ``reachable`` criterion whose allocation
  total depends on an uncertain flow row. Allocations are affine in their total
  (the proxy pattern is fixed; producers with a stated tonnage keep it), so the
  reachable supply at a total ``T`` is ``raw0 + (T/T0 - 1) · delta``, computed
  from one extra allocation at ``2 T0``. A criterion that only scales and whose
  value function has data-relative bounds (``p95``) is *exactly* unchanged by
  the total and is not varied at all (it is listed in ``notes``).
- **positions** (:class:`JitteredCriterion`, :class:`JitteredExclusion`):
  ``distance``/``colocation`` criteria and exclusions on point layers whose
  features have an ``accuracy_m``. Each feature moves within a disc of its
  ``accuracy_m``; a distance can then change by at most the largest accuracy
  (``reach_m``), which bounds every cell's value (``low``, ``high``) so that exact
  distances are only computed for cells that can reach the top.

An OWA profile (``aggregation: owa``) is a ratio of two linear forms in the
weights, ``(w · A_i) / (w · B_i)`` with ``B_ic`` the order weight of criterion
``c``'s rank at cell ``i`` and ``A = B ⊙ values``, because each cell's ranking of
its criterion values does not depend on the weights. Its weights are sampled
exactly (``denominator`` holds ``B``); flows and positions, which would change
those rankings, are not varied for OWA profiles (a note says so).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from ..allocate import OUTSIDE_DISTRICTS, Allocation, allocate_flows
from ..candidates import Candidates, apply_exclusions
from ..criteria import _layer_subset, reachable_surface, sample_supply
from ..errors import DataUnavailableError, InputError
from ..flows import evaluate
from ..prepare import Study
from ..score import ScoreResult
from ..select import candidate_districts, selection_pool_size
from ..value_functions import has_relative_bounds, resolve_value_spec, value_interval
from .uncertainty import Uncertainty

log = logging.getLogger(__name__)

#: The sources of uncertainty the Monte Carlo can vary.
SOURCES = ("weights", "flows", "positions")


@dataclass
class PointLayer:
    """Base positions (m, EPSG:32643) and ``accuracy_m`` of every feature of a point layer."""

    name: str
    x: np.ndarray
    y: np.ndarray
    accuracy_m: np.ndarray


@dataclass
class JitteredCriterion:
    """A distance criterion to features of a point layer that move within their accuracy."""

    column: int
    layer: str
    features: np.ndarray  # rows of the PointLayer
    value_spec: dict  # numeric bounds
    reach_m: float
    low: np.ndarray = field(repr=False)  # value bounds per valid cell (float32)
    high: np.ndarray = field(repr=False)


@dataclass
class JitteredExclusion:
    """An exclusion rule on a point layer (buffer around features that move)."""

    rule_id: str
    layer: str
    features: np.ndarray
    buffer_m: float
    reach_m: float
    maybe: np.ndarray = field(repr=False)  # valid cells the rule can exclude under some jitter


@dataclass
class FlowCriterion:
    """A reachable criterion whose supply follows an uncertain allocation total."""

    column: int
    allocation: str
    value_spec: dict
    raw0: np.ndarray = field(repr=False)  # every candidate
    delta: np.ndarray = field(repr=False)  # raw at total T: raw0 + (T/T0 - 1) delta


@dataclass
class AllocationTotal:
    """An allocation total as an expression over flow rows, its base value (t/yr) and uncertain rows."""

    id: str
    expression: dict
    base: float
    rows: tuple[str, ...]


@dataclass
class RobustModel:
    """One scored profile, ready for weight, flow and position samples."""

    result: ScoreResult
    valid: np.ndarray  # candidate indices not removed by a fixed exclusion
    values: np.ndarray = field(repr=False)  # (criteria, valid) float32; flow and jittered columns are 0 (OWA: A = B ⊙ values)
    weights: np.ndarray = field(repr=False)
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    codes: np.ndarray = field(repr=False)  # district code per valid cell (-1: outside)
    base_score: np.ndarray = field(repr=False)  # float64 per valid cell, -inf where excluded in the base case
    top_n: int
    spacing_m: float
    per_district: int | None
    sources: tuple[str, ...]
    flow_criteria: list[FlowCriterion] = field(default_factory=list)
    totals: dict[str, AllocationTotal] = field(default_factory=dict)
    jittered: list[JitteredCriterion] = field(default_factory=list)
    exclusions: list[JitteredExclusion] = field(default_factory=list)
    point_layers: dict[str, PointLayer] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    denominator: np.ndarray | None = field(default=None, repr=False)  # OWA only: (criteria, valid) float32 order weights B

    @property
    def candidates(self) -> Candidates:
        return self.result.candidates

    @property
    def profile(self):
        return self.result.profile

    @property
    def selection_pool(self) -> int:
        """Candidates examined by the spacing rule, as :func:`geo_almaty.select.select_sites` does."""
        return min(len(self.valid), selection_pool_size(self.top_n))

    def value_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(criteria, valid)`` value matrices with jittered columns at their lower and upper bounds (None without jitter)."""
        if not self.jittered:
            return None
        low, high = self.values.copy(), self.values.copy()
        for jc in self.jittered:
            low[jc.column], high[jc.column] = jc.low, jc.high
        return low, high


def build_model(result: ScoreResult, study: Study, allocations: dict[str, Allocation], allocation_specs: dict[str, dict],
                flows: pd.DataFrame, uncertainty: Uncertainty | None, *, sources: tuple[str, ...] = SOURCES,
                top_n: int | None = None, value_specs: dict[str, dict] | None = None,
                twice: dict[str, Allocation] | None = None, fixed_excluded: np.ndarray | None = None) -> RobustModel:
    """Prepare :class:`RobustModel` for ``result`` (the profile scored at its base weights).

    For a strip of a tiled grid (:mod:`.tiled`), ``value_specs`` (criterion id → value spec)
    holds the data-relative bounds resolved over the whole grid, and ``twice`` the
    allocations at twice their total (:func:`allocation_at_twice`), computed once;
    ``fixed_excluded`` the candidates a fixed exclusion removes, when already known.
    """
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise InputError(f"unknown source(s) of uncertainty {', '.join(unknown)}", column="sources", expected=", ".join(SOURCES))
    profile = result.profile
    candidates = result.candidates
    notes: list[str] = []
    owa = profile.aggregation["method"] == "owa"
    if owa and set(sources) - {"weights"}:
        notes.append("OWA aggregation: only the weights are varied (flows and positions would change each cell's ranking of its criteria)")
        sources = tuple(s for s in sources if s == "weights")
    point_layers: dict[str, PointLayer] = {}
    jitter_rules = [r for r in profile.exclusions if "positions" in sources and _point_layer(study, r["layer"], point_layers)]
    jitter_rules = [r for r in jitter_rules if point_layers[r["layer"]].accuracy_m.max() > 0]
    if fixed_excluded is not None:
        excluded = fixed_excluded
    elif jitter_rules:
        fixed = [r for r in profile.exclusions if r not in jitter_rules]
        excluded, _ = apply_exclusions(study, candidates, fixed)
        excluded |= result.siting_excluded  # the siting rules (sanitary zones, airports, water, jurisdiction) stay fixed
    else:
        excluded = result.excluded
    valid = np.flatnonzero(~excluded)
    kept = ~result.excluded  # the reference set of data-relative bounds, as in score_candidates
    values = np.ascontiguousarray(result.values[valid].T, dtype=np.float32)
    denominator = owa_order_weights(result.values[valid], profile.aggregation["order_weights"]) if owa else None
    if denominator is not None:
        values = np.ascontiguousarray(denominator * values)
    base_score = np.where(np.isfinite(result.score[valid]), result.score[valid], -np.inf)
    selection = profile.selection
    model = RobustModel(
        result=result, valid=valid, values=values, weights=result.weights.copy(),
        x=candidates.x[valid], y=candidates.y[valid], codes=layer_district_codes(study, result)[valid],
        base_score=base_score, top_n=int(top_n if top_n is not None else selection.get("top_n", 10)),
        spacing_m=float(selection.get("min_spacing_m", 0.0)), per_district=selection.get("max_per_district"),
        sources=tuple(sources), point_layers=point_layers, notes=notes, denominator=denominator,
    )
    active = [j for j, spec in enumerate(result.criteria) if result.weights[j] > 0]
    if "positions" in sources:
        for j in active:
            _add_jittered_criterion(model, study, j, kept, value_specs)
        for rule in jitter_rules:
            _add_jittered_exclusion(model, study, rule)
    if "flows" in sources and uncertainty is not None and uncertainty.flows:
        cache: dict[str, Allocation] = {} if twice is None else twice
        for j in active:
            _add_flow_criterion(model, study, j, allocations, allocation_specs, flows, uncertainty, cache)
    for jc in model.jittered:
        model.values[jc.column] = 0.0
    for fc in model.flow_criteria:
        model.values[fc.column] = 0.0
    return model


def owa_order_weights(values: np.ndarray, order_weights) -> np.ndarray:
    """``(criteria, cells)`` float32: the (normalised) order weight each criterion gets at each cell, by its rank there.

    The ranking is the one :func:`geo_almaty.aggregate.ordered_weighted_average` uses (best value first, stable).
    """
    v = np.asarray(order_weights, dtype=np.float64)
    v = v / v.sum()
    order = np.argsort(-values, axis=1, kind="stable")
    out = np.empty(values.shape, dtype=np.float32)
    np.put_along_axis(out, order, np.broadcast_to(v.astype(np.float32), values.shape), axis=1)
    return np.ascontiguousarray(out.T)


def _point_layer(study: Study, name: str, cache: dict[str, PointLayer]) -> bool:
    """Whether ``name`` is a loaded layer of points; caches its positions and accuracies."""
    if name in cache:
        return True
    frame = study.layer(name)
    if frame is None or not len(frame):
        return False
    geoms = frame.geometry.values
    if not (shapely.get_type_id(geoms) == 0).all():
        return False
    accuracy = frame["accuracy_m"].to_numpy(dtype=np.float64, na_value=0.0) if "accuracy_m" in frame.columns else np.zeros(len(frame))
    cache[name] = PointLayer(name, shapely.get_x(geoms), shapely.get_y(geoms), np.nan_to_num(np.maximum(accuracy, 0.0)))
    return True


def _subset_rows(study: Study, spec: dict, where: str) -> np.ndarray:
    frame = _layer_subset(study, spec, where)
    return study.layer(spec["layer"]).index.get_indexer(frame.index)


def layer_district_codes(study: Study, result: ScoreResult) -> np.ndarray:
    """:func:`~geo_almaty.select.district_codes` of each candidate, numbered over every district of the layer (not only those
    present), so that strips of a tiled grid number districts alike; -1 outside every district."""
    districts = candidate_districts(study, result).astype(str)
    layer = study.layer("districts")
    names = np.unique(np.append(layer["district_id"].to_numpy().astype(str), OUTSIDE_DISTRICTS) if layer is not None
                      else np.array([OUTSIDE_DISTRICTS]))
    codes = np.searchsorted(names, districts).astype(np.int64)
    codes[districts == OUTSIDE_DISTRICTS] = -1
    return codes


def _add_jittered_criterion(model: RobustModel, study: Study, j: int, kept: np.ndarray, value_specs: dict[str, dict] | None = None) -> None:
    spec = model.result.criteria[j]
    if spec["type"] not in ("distance", "colocation") or not _point_layer(study, spec["layer"], model.point_layers):
        return
    try:
        rows = _subset_rows(study, spec, f"criteria/{spec['id']}")
    except DataUnavailableError:
        return
    reach = float(model.point_layers[spec["layer"]].accuracy_m[rows].max())
    if reach <= 0:
        return
    raw_all = model.result.raw[:, j]
    value_spec = spec.get("value") or {"function": "threshold", "at": spec["within_m"], "direction": "below"}
    if value_specs and spec["id"] in value_specs:
        frozen = value_specs[spec["id"]]
    else:
        frozen = resolve_value_spec(value_spec, raw_all[kept], where=f"criteria/{spec['id']}/value")
    if has_relative_bounds(value_spec):
        model.notes.append(f"{spec['id']}: data-relative bounds are kept at their base values while features move")
    raw = raw_all[model.valid]
    low, high = value_interval(frozen, np.maximum(raw - reach, 0.0), raw + reach)
    model.jittered.append(JitteredCriterion(j, spec["layer"], rows, frozen, reach, low.astype(np.float32), high.astype(np.float32)))


def _add_jittered_exclusion(model: RobustModel, study: Study, rule: dict) -> None:
    layer = model.point_layers[rule["layer"]]
    rows = np.arange(len(layer.x))
    if "classes" in rule:
        frame = study.layer(rule["layer"])
        column = study.catalog.layer(rule["layer"]).class_column
        rows = np.flatnonzero(frame[column].isin(rule["classes"]).to_numpy())
    if not len(rows):
        return
    buffer_m = float(rule.get("buffer_m", 0.0))
    reach = float(layer.accuracy_m[rows].max())
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(np.column_stack([layer.x[rows], layer.y[rows]])).query(np.column_stack([model.x, model.y]))
    maybe = distance <= buffer_m + reach
    model.exclusions.append(JitteredExclusion(rule["id"], rule["layer"], rows, buffer_m, reach, maybe))


def allocation_total(allocation_id: str, spec: dict, flows: pd.DataFrame, uncertainty: Uncertainty) -> AllocationTotal | None:
    """The allocation's total expression if it depends on an uncertain flow row, else None."""
    if "total" not in spec:
        return None
    quantity = evaluate(spec["total"], flows, where=f"allocations/{allocation_id}/total")
    rows = tuple(r for r in dict.fromkeys(quantity.rows) if r in uncertainty.flows)
    return AllocationTotal(allocation_id, spec["total"], float(quantity.value), rows) if rows else None


def allocation_at_twice(allocation_id: str, spec: dict, flows: pd.DataFrame, study: Study) -> Allocation:
    """The allocation with twice its total. Allocations are affine in their total, so ``twice - base`` is the change per base total."""
    doubled = {**spec, "total": {"product": [spec["total"], {"constant": 2.0, "why": "robustness: a second total"}]}}
    supply = study.supply_study  # allocations live on the supply grid (coarser than fine candidate cells)
    return allocate_flows({allocation_id: doubled}, flows, study.layers, supply.grid, supply.population_weights())[allocation_id]


def _add_flow_criterion(model: RobustModel, study: Study, j: int, allocations: dict[str, Allocation], specs: dict[str, dict],
                        flows: pd.DataFrame, uncertainty: Uncertainty, cache: dict[str, Allocation]) -> None:
    spec = model.result.criteria[j]
    if spec["type"] != "reachable" or spec["allocation"] not in specs:
        return
    aid = spec["allocation"]
    total = allocation_total(aid, specs[aid], flows, uncertainty)
    if total is None:
        return
    model.totals[aid] = total
    if aid not in cache:
        cache[aid] = allocation_at_twice(aid, specs[aid], flows, study)
    base, twice = allocations[aid].surface_base, cache[aid].surface_base
    scales = bool(np.abs(twice - 2 * base).max() <= max(1e-6 * float(twice.max()), 2.0))  # whole-kg rounding
    value_spec = spec["value"]
    if scales and has_relative_bounds(value_spec):
        model.notes.append(f"{spec['id']}: the supply scales with its total ({', '.join(total.rows)}) and the value function is "
                           "relative to the data, so the flow ranges do not change this criterion")
        return
    raw0 = model.result.raw[:, j]
    if scales:
        delta = np.nan_to_num(raw0)
    else:
        reach2 = sample_supply(reachable_surface(cache[aid].surface(), study.supply_study.grid, float(spec["radius_m"])), study, model.candidates)
        delta = np.nan_to_num(reach2 - raw0)
    model.flow_criteria.append(FlowCriterion(j, aid, value_spec, raw0, delta))

"""Location-allocation under uncertain supply: re-solve a located facility type with its flows drawn within their ranges.

**What varies.** The supply tonnage: every flow row of ``data/uncertainty.yaml`` is
drawn with the sampler of ``geo-almaty robust`` (the same seed gives the same draws
as its flow source, :func:`geo_almaty.robust.analysis.source_generators`), and each
supply flow's allocation total (an expression over rows, ``data/allocation.yaml``)
is evaluated on the draw. A supply flow whose total depends on no uncertain row
keeps factor 1. The criterion weights do not vary: in location-allocation the
suitability score only decides which candidates enter the pool (``min_score``) and
breaks ties between equal hauls, so a weight draw would change the pool, not the
haul trade-off the model answers; the weights' robustness is ``geo-almaty robust``'s.

**Per sample** the supply of every demand point changes as its allocation would:
allocations are affine in their total (a proxy pattern; producers with a stated
tonnage keep it), so a cell's kilograms at total ``f × T`` are ``base + (f - 1) ×
(twice - base) × share``, with ``twice`` the allocation at ``2 T`` (computed once)
and ``share`` the eligible share of the profile. Cells with no base supply stay
without (they have no demand point). The candidate locations, haul costs and
network are the base run's (no road costs are recomputed); the same model (model,
k, band, haul radius) is re-solved as ``geo-almaty run`` solves it (20 s, 1 % gap).

**Recorded per sample**: the locations opened and their band, the supply, the tonnes
served, tonne-km (the solution's shares of each demand point × its arc's km), and the
impact by :func:`.impact.impact` from the served tonnes per flow (each demand point's
served share applied to each of its flows), that tonne-km and the replaced haul to
today's landfill (served tonnes × each point's landfill km). The coefficients stay
at their reported values, so the spread shows what the supply does through the
sites and the haul. These figures are summed at demand points, not per cell in whole
kilograms as the base run's are, so with the base supply they agree with the base to
the base's rounding to whole kilograms per cell (relative differences of about 1e-8).

A sample whose supply exceeds what the model can open (e.g. k sites of the band
hold less than a must-serve supply) is counted as infeasible and left out of the
quantiles. The solver is deterministic when it proves the gap within the time limit;
samples stopped by the limit are counted, since their solution can depend on speed.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import settings
from ..apportion import KG_PER_T
from ..errors import InputError, LocateError
from ..flows import load_coefficients
from ..parameters import load_parameters
from ..progress import progress_bar
from .facility import LocateOutcome
from .impact import impact, tonne_km
from .models import solve_model

log = logging.getLogger(__name__)

#: Samples of ``geo-almaty locate --samples`` when asked for without a number (and of the API).
DEFAULT_LOCATE_SAMPLES = 30
#: Seconds per re-solve: ``geo-almaty run``'s per facility type. On the embedded composting hub (set cover, about
#: 12 s for the base run) 5 s stopped every sample at the limit with about 2 % more tonne-km than 15 s.
DEFAULT_SAMPLE_TIME_LIMIT = settings.RUN_LOCATE_TIME_LIMIT
#: Relative gap at which a re-solve stops, at least (``geo-almaty run``'s; the base run's when that is looser).
DEFAULT_SAMPLE_GAP = settings.RUN_LOCATE_GAP
#: Quantiles reported for every figure.
SPREAD_QUANTILES = (0.05, 0.5, 0.95)
#: Figures recorded per sample: (id, unit).
FIGURES = (
    ("supply", "t/yr"),
    ("sites_opened", "sites"),
    ("served", "t/yr"),
    ("tonne_km", "t·km/yr"),
    ("transport_co2e", "t CO2e/yr"),
    ("net_co2e_avoided", "t CO2e/yr"),
)


@dataclass
class LocateSpread:
    """A located facility type re-solved under ``samples`` draws of its supply."""

    base: LocateOutcome
    samples: int
    seed: int
    time_limit_s: float
    factors: dict[str, np.ndarray] = field(repr=False)  #: supply flow -> (samples,) sampled total / base total
    rows: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: supply flow -> the uncertain flow rows its total depends on
    band: np.ndarray = field(default=None, repr=False)  #: (samples, locations) int16 band index where opened, -1 where not
    figures: pd.DataFrame = field(default=None, repr=False)  #: one row per sample, a column per figure id (NaN where infeasible)
    status: list[str] = field(default_factory=list)  #: solver status per sample ('infeasible' when it could not serve the supply)

    @property
    def feasible(self) -> np.ndarray:
        return np.array([s != "infeasible" for s in self.status], dtype=bool)

    @property
    def time_limited(self) -> int:
        """Samples the solver stopped at its time limit."""
        return sum(s == "time limit" for s in self.status)

    def base_figures(self) -> dict[str, float]:
        """The base run's value of every figure."""
        b = self.base
        return {"supply": sum(f.eligible_kg for f in b.supply) / KG_PER_T, "sites_opened": float(len(b.site_location)),
                "served": b.impact.served_t, "tonne_km": b.impact.tkm, "transport_co2e": b.impact.transport_co2e_t,
                "net_co2e_avoided": b.impact.net_co2e_t}


def locate_under_uncertainty(inputs, located: LocateOutcome, *, samples: int = DEFAULT_LOCATE_SAMPLES, seed: int = 0,
                             time_limit_s: float = DEFAULT_SAMPLE_TIME_LIMIT, gap: float | None = None, uncertainty=None,
                             progress: bool = False) -> LocateSpread:
    """Re-solve ``located`` (:func:`.facility.locate_facility` on ``inputs``) under ``samples`` draws of its supply (module docstring).

    ``gap``: the relative gap at which a re-solve stops (default: the base run's, at least :data:`DEFAULT_SAMPLE_GAP`).
    ``uncertainty``: the ranges (:func:`geo_almaty.robust.load_uncertainty`); default ``data/uncertainty.yaml``.
    """
    from ..robust.analysis import allocation_factors, source_generators
    from ..robust.model import allocation_at_twice, allocation_total
    from ..robust.uncertainty import load_uncertainty

    if samples < 1:
        raise InputError(f"{samples} samples", column="samples", expected="at least one sample")
    if not time_limit_s > 0:
        raise InputError(f"time limit {time_limit_s:g} s", column="time_limit_s", expected="a positive number of seconds")
    gap = max(located.spec.gap, DEFAULT_SAMPLE_GAP) if gap is None else gap
    if not 0 <= gap < 1:
        raise InputError(f"gap {gap:g}", column="gap", expected="a relative gap in [0, 1)")
    if located.network is None:
        raise InputError("the located outcome carries no network", column="located", expected="an outcome of locate_facility")
    uncertainty = load_uncertainty(inputs.flows) if uncertainty is None else uncertainty
    points, spec, network = located.points, located.spec, located.network
    totals, delta = {}, np.zeros(points.kg.shape, dtype=np.float64)  # (points, flows): kg change per unit change of the factor
    for f, flow in enumerate(located.supply):
        total = allocation_total(flow.allocation, inputs.allocation_specs.get(flow.allocation, {}), inputs.flows, uncertainty)
        if total is None:
            continue
        totals[flow.allocation] = total
        twice = allocation_at_twice(flow.allocation, inputs.allocation_specs[flow.allocation], inputs.flows, inputs.study)
        change = twice.surface_base.ravel() - inputs.allocations[flow.allocation].surface_base.ravel()
        delta[:, f] = np.bincount(points.cell_point, weights=flow.share * change[points.cell], minlength=len(points))
        outside = flow.share * (change.sum() - change[points.cell].sum())
        if abs(outside) > 1e-3 * max(abs(flow.share * change.sum()), 1.0):
            log.warning("%s: %.0f t/yr per unit of %s's factor falls on cells without base supply and is not sampled",
                        located.profile.id, outside / KG_PER_T, flow.allocation)
    drawn = allocation_factors(totals, uncertainty, inputs.flows, source_generators(seed)["flows"], samples)
    factors = {flow.allocation: drawn.get(flow.allocation, np.ones(samples)) for flow in located.supply}
    factor = np.stack([factors[f] for f in located.flow_ids], axis=1)  # (samples, flows)
    reached = np.unique(located.costs.origin)
    impact_of = {s.allocation: s.impact for s in located.supply}
    coefficients, parameters = load_coefficients(inputs.flows), load_parameters(inputs.flows)
    band = np.full((samples, located.locations.frame.shape[0]), -1, dtype=np.int16)
    figures = np.full((samples, len(FIGURES)), np.nan)
    status = []
    log.info("%s: %d supply samples (flows %s), %g s each at most", located.profile.id, samples,
             ", ".join(f"{a}: {'/'.join(t.rows)}" for a, t in totals.items()) or "none uncertain", time_limit_s)
    for s in progress_bar(range(samples), total=samples, desc=f"{located.profile.id}: supply samples", unit="sample", enabled=progress):
        point_kg = np.maximum(points.kg + (factor[s] - 1.0) * delta, 0.0)  # (points, flows) kg/yr
        weight = point_kg.sum(axis=1) / KG_PER_T
        sample_network = dataclasses.replace(network, weight=weight[reached])
        try:
            result = solve_model(sample_network, spec.model, band=spec.band_index, k=spec.k, haul_cost_per_tkm=spec.haul_cost_per_tkm,
                                 unserved_penalty_factor=spec.unserved_penalty_factor, gap=gap, time_limit=time_limit_s,
                                 single_source=spec.single_source)
        except LocateError as exc:  # this much supply does not fit the model (e.g. k sites hold less)
            log.info("%s sample %d: %s", located.profile.id, s, exc)
            status.append("infeasible")
            figures[s, 0] = weight.sum()
            continue
        problem, assignment = result.problem, result.solution.assignment
        opened = np.flatnonzero(assignment.open)
        band[s, result.option_location[opened]] = result.option_band[opened]
        arc_point = problem.arc_demand[assignment.arcs]
        served_share = np.zeros(len(points))
        served_share[reached] = np.bincount(arc_point, weights=assignment.share, minlength=len(reached))
        served_kg = point_kg * served_share[:, None]
        tkm = tonne_km(assignment.share * problem.weight[arc_point] * KG_PER_T, problem.arc_km[assignment.arcs])
        replaced = tonne_km(served_kg.sum(axis=1), located.landfill_km) if located.landfill_km is not None else None
        figure = impact(dict(zip(located.flow_ids, served_kg.sum(axis=0))), impact_of, tkm, replaced, coefficients, parameters)
        figures[s] = [weight.sum(), len(opened), figure.served_t, tkm, figure.transport_co2e_t, figure.net_co2e_t]
        status.append(result.solution.status)
    spread = LocateSpread(located, samples, seed, time_limit_s, factors, {a: t.rows for a, t in totals.items()}, band,
                          pd.DataFrame(figures, columns=[f for f, _ in FIGURES]), status)
    if (~spread.feasible).any():
        log.warning("%s: %d of %d supply samples could not be served by the model and are left out of the quantiles",
                    located.profile.id, int((~spread.feasible).sum()), samples)
    if spread.time_limited:
        log.warning("%s: %d of %d samples stopped at the %g s time limit (their sites can depend on the machine's speed)",
                    located.profile.id, spread.time_limited, samples, time_limit_s)
    return spread


def spread_sites(spread: LocateSpread) -> pd.DataFrame:
    """One row per location opened in any sample or in the base run: share of samples opened, its usual band, base opened.

    ``share_opened`` counts every sample (an infeasible one opens nothing). Sorted by
    share (highest first), then site id. ``x``/``y`` in EPSG:32643.
    """
    base = spread.base
    frame = base.locations.frame
    opened = spread.band >= 0
    count = opened.sum(axis=0)
    in_base = np.zeros(len(frame), dtype=bool)
    in_base[base.site_location] = True
    keep = np.flatnonzero((count > 0) | in_base)
    bands = [b.id for b in base.spec.bands]
    per_band = np.stack([(spread.band[:, keep] == b).sum(axis=0) for b in range(len(bands))], axis=1) if len(keep) else np.zeros((0, 1))
    usual = np.where(count[keep] > 0, per_band.argmax(axis=1) if len(keep) else 0, -1)  # ties: the first band of the profile
    base_band = np.full(len(frame), -1)
    base_band[base.site_location] = base.site_band
    table = pd.DataFrame({
        "site_id": frame["site_id"].to_numpy()[keep],
        "facility": base.profile.id,
        "kind": np.where(frame["kind"].to_numpy()[keep] == "existing", "existing", "new"),
        "share_opened": count[keep] / spread.samples,
        "usual_band": [bands[b] if b >= 0 else "" for b in usual],
        "usual_band_share": np.where(count[keep] > 0, per_band.max(axis=1, initial=0) / np.maximum(count[keep], 1), np.nan),
        "base_opened": in_base[keep],
        "base_band": [bands[b] if b >= 0 else "" for b in base_band[keep]],
        "district_id": frame["district_id"].to_numpy()[keep],
        "x": frame["x"].to_numpy()[keep],
        "y": frame["y"].to_numpy()[keep],
    })
    order = np.lexsort((table.site_id.to_numpy(), -table.share_opened.to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def spread_table(spread: LocateSpread) -> pd.DataFrame:
    """One row per figure: unit, base value, 5 / 50 / 95 % quantiles, min and max over the feasible samples, and their number."""
    feasible = spread.figures[spread.feasible]
    base = spread.base_figures()
    rows = []
    for figure, unit in FIGURES:
        values = (spread.figures if figure == "supply" else feasible)[figure].to_numpy()
        q = np.quantile(values, SPREAD_QUANTILES) if len(values) else np.full(len(SPREAD_QUANTILES), np.nan)
        rows.append({"figure": figure, "unit": unit, "base": base[figure],
                     **{f"p{round(100 * p):02d}": v for p, v in zip(SPREAD_QUANTILES, q)},
                     "min": values.min() if len(values) else np.nan, "max": values.max() if len(values) else np.nan,
                     "samples": len(values)})
    return pd.DataFrame(rows)

"""Check given sites against the siting rules at their own capacities (for location-allocation results).

Location-allocation opens sites of different sizes; each size band has its own
sanitary zone. :func:`check_sites` takes the opened sites (outlines, or points) and
their capacities and lists every rule each site breaks, so an infeasible site can be
dropped or resized before it is reported.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import shapely

from ..candidates import Candidates
from ..prepare import Study
from .rules import SitingRules, load_siting_rules
from .zones import build_siting_plan, evaluate_rules, required_strip_width, sample_cells

COLUMNS = ["site", "capacity_t_yr", "band", "hazard_class", "sanitary_zone_m", "rule", "kind", "effect", "limit_m", "distance_m", "source"]


def check_sites(study: Study, geometries, facility_type: str, capacities_t_yr, *, jurisdiction: str = "any",
                rules: SitingRules | None = None) -> pd.DataFrame:
    """Every siting rule broken by each site (EPSG:32643 outlines or points) at its capacity (t/yr).

    One row per (site, rule): the band, hazard class and zone width at that capacity,
    the rule, whether it excludes or flags, its limit and the distance (m) from the
    site's edge to the nearest protected feature. An empty frame means every site is
    clear. The profile's own exclusions (heritage, parks, …) are not included.
    """
    rules = rules or load_siting_rules()
    geoms = np.asarray(geometries, dtype=object)
    capacities = np.broadcast_to(np.asarray(capacities_t_yr, dtype=float), geoms.shape)
    centres = shapely.centroid(geoms)
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    row, col = study.grid.index_of(x, y)
    inside = (row >= 0) & (row < study.grid.height) & (col >= 0) & (col < study.grid.width)
    cells = np.where(inside, row * study.grid.width + col, -1)
    out = []
    for capacity in np.unique(capacities):
        which = np.flatnonzero(capacities == capacity)
        profile = SimpleNamespace(id=facility_type, exclusions=(),
                                  siting={"facility_type": facility_type, "planned_capacity_t_yr": float(capacity), "jurisdiction": jurisdiction})
        plan = build_siting_plan(profile, study, rules)
        sites = Candidates("features", which.astype(str), x[which], y[which], cells[which], study.grid.cell_size, _geometry=geoms[which])
        table = evaluate_rules(plan, study, sites)
        slope = sample_cells(study.slope, sites)
        for k, j in zip(*np.nonzero(table.masks)):
            rule = plan.rules[j]
            limit = required_strip_width(rule, float(slope[k])) if rule.slope_widths is not None else (rule.distance_m or None)
            distance = None
            if rule.features is not None and rule.kind != "jurisdiction":
                gaps = shapely.distance(geoms[which[k]], rule.features.geometry.values)
                if rule.footprint_m is not None:
                    gaps = np.maximum(gaps - rule.footprint_m, 0.0)
                distance = float(gaps.min())
            out.append({"site": int(which[k]), "capacity_t_yr": float(capacity), "band": plan.zone.band,
                        "hazard_class": plan.zone.hazard_class or "", "sanitary_zone_m": plan.zone.width_m, "rule": rule.id, "kind": rule.kind,
                        "effect": rule.effect, "limit_m": limit, "distance_m": distance, "source": rule.source_text()})
    return pd.DataFrame(out, columns=COLUMNS).sort_values(["site", "effect", "rule"], kind="stable").reset_index(drop=True)

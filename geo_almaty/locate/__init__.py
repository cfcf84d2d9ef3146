"""Location-allocation: how many facilities, where, how big, serving whom, at what haul and climate cost.

Stages (one module each): :mod:`spec` (the profile's ``locate:`` section), :mod:`supply`
(flows → demand points), :mod:`pool` (candidate sites and existing facilities),
:mod:`costs` (haul costs; road network when there is one), :mod:`models` (p-median,
set covering, maximal coverage, fixed charge) on :mod:`problem` solved by :mod:`solve`
(:mod:`lagrangian` bounds, :mod:`heuristics`, :mod:`transport` LPs and a :mod:`mip` in
HiGHS), :mod:`impact`, and :mod:`outputs` / :mod:`report` for files and summaries.
:func:`locate_facility` puts them together; :func:`locate_under_uncertainty` (:mod:`uncertainty`)
re-solves its result under draws of the supply.
"""
from __future__ import annotations

from .costs import TravelCosts, straight_line_costs, travel_costs
from .facility import LocateOutcome, locate_facility
from .impact import Impact
from .models import MODELS, Band, ModelResult, Network, solve_model
from .outputs import district_site_table, flow_table, locate_layers, site_table, write_locate_outputs, write_locate_spread_outputs
from .pool import Locations, candidate_pool, existing_facilities, locations
from .problem import Problem
from .report import locate_html, locate_markdown
from .solve import Solution, solve
from .spec import LocateSpec, locate_spec
from .supply import DemandPoints, SupplyFlow, demand_points, facility_supply
from .uncertainty import LocateSpread, locate_under_uncertainty, spread_sites, spread_table

__all__ = [
    "MODELS", "Band", "DemandPoints", "Impact", "LocateOutcome", "LocateSpec", "LocateSpread", "Locations", "ModelResult", "Network", "Problem",
    "Solution", "SupplyFlow", "TravelCosts", "candidate_pool", "demand_points", "district_site_table", "existing_facilities",
    "facility_supply", "flow_table", "locate_facility", "locate_html", "locate_layers", "locate_markdown", "locate_spec", "locate_under_uncertainty", "locations",
    "site_table", "solve", "solve_model", "spread_sites", "spread_table", "straight_line_costs", "travel_costs", "write_locate_outputs",
    "write_locate_spread_outputs",
]

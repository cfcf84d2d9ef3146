"""The ``locate:`` section of a facility profile, validated and with command-line overrides applied.

Keys (schema: ``profile.schema.json`` ``$defs/locate``):

- ``model``: pmedian | set_cover | mclp | fixed_charge; ``k``: new sites (pmedian, mclp);
- ``size_bands``: ``[{id, label, capacity_t_yr | capacity: {row: id}, source, opening_cost?}]`` and
  ``band``, the default band of new sites (the band of every site is reported: it fixes
  the sanitary-zone class later);
- ``max_haul_m`` with ``max_haul_source``; ``min_score``; ``candidate_pool``;
  ``candidate_spacing_m``; ``demand_block_m``;
- ``supply``: ``[{allocation, share?, impact, why}]``: allocations of ``data/allocation.yaml``,
  optionally only a share (a ``data/parameters.yaml`` id) of them;
- ``fixed``: ``[{layer, classes?, ids?, band, why}]``: existing facilities that stay open;
- ``haul_cost_per_tkm`` (fixed_charge), ``unserved_penalty_factor`` (mclp).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .. import settings
from ..errors import ProfileError
from ..flows import evaluate
from ..profiles import FacilityProfile
from .models import MODELS, Band


@dataclass(frozen=True)
class LocateSpec:
    """Everything a location-allocation run needs from the profile and the command line."""

    facility: str
    model: str
    k: int | None
    band: str
    bands: tuple[Band, ...]
    max_haul_m: float
    max_haul_source: str
    min_score: float
    candidate_pool: int
    candidate_spacing_m: float
    demand_block_m: float
    supply: tuple[dict, ...]
    fixed: tuple[dict, ...] = ()
    haul_cost_per_tkm: float | None = None
    unserved_penalty_factor: float = settings.DEFAULT_UNSERVED_PENALTY_FACTOR
    gap: float = settings.DEFAULT_LOCATE_GAP
    time_limit: float = settings.DEFAULT_LOCATE_TIME_LIMIT
    single_source: bool = False
    source_lines: dict = field(default_factory=dict, compare=False)

    @property
    def band_index(self) -> int:
        return [b.id for b in self.bands].index(self.band)


def locate_spec(profile: FacilityProfile, flows: pd.DataFrame, *, model: str | None = None, k: int | None = None,
                band: str | None = None, max_haul_m: float | None = None, gap: float | None = None, time_limit: float | None = None,
                single_source: bool = False, candidate_pool: int | None = None) -> LocateSpec:
    """The profile's ``locate`` section with overrides; raises :class:`ProfileError` naming the key on bad values."""
    section = profile.locate
    if not section:
        raise ProfileError("no locate section", file=profile.path, column="locate",
                           expected="a locate: section with model, size_bands, band, max_haul_m and supply")

    def fail(column: str, problem: str, expected: str) -> ProfileError:
        return ProfileError(problem, file=profile.path, column=f"locate/{column}", expected=expected)

    bands = []
    for spec in section["size_bands"]:
        if "capacity" in spec:
            quantity = evaluate(spec["capacity"], flows, where=f"{profile.path.name}: locate/size_bands/{spec['id']}")
            if quantity.unit != settings.MASS_FLOW_UNIT:
                raise fail(f"size_bands/{spec['id']}/capacity", f"a capacity in {quantity.unit}", "a flows.csv row in t/yr")
            capacity = quantity.value
        else:
            capacity = float(spec["capacity_t_yr"])
        bands.append(Band(spec["id"], capacity, float(spec.get("opening_cost", 0.0)), dict(spec["label"]), spec["source"]))
    ids = [b.id for b in bands]
    if len(set(ids)) != len(ids):
        raise fail("size_bands", "duplicate band ids", "unique ids")
    chosen_band = band or section["band"]
    if chosen_band not in ids:
        raise fail("band", f"unknown size band '{chosen_band}'", "one of " + ", ".join(ids))
    for item in section.get("fixed", []):
        if item["band"] not in ids:
            raise fail("fixed", f"unknown size band '{item['band']}' for layer {item['layer']}", "one of " + ", ".join(ids))
    chosen_model = model or section["model"]
    if chosen_model not in MODELS:
        raise fail("model", f"unknown model '{chosen_model}'", ", ".join(MODELS))
    chosen_k = k if k is not None else section.get("k")
    if chosen_model in ("pmedian", "mclp") and not chosen_k:
        raise fail("k", f"the {chosen_model} model needs k", "k in the profile or --k N")
    if chosen_k is not None and chosen_k < 1:
        raise fail("k", f"k = {chosen_k}", "k >= 1")
    haul = float(max_haul_m if max_haul_m is not None else section["max_haul_m"])
    if haul <= 0:
        raise fail("max_haul_m", f"max haul {haul:g} m", "a positive distance in metres")
    if gap is not None and not 0 <= gap < 1:
        raise fail("gap", f"gap {gap:g}", "a relative gap between 0 and 1, e.g. 0.001")
    if time_limit is not None and time_limit <= 0:
        raise fail("time_limit", f"time limit {time_limit:g} s", "a positive number of seconds")
    return LocateSpec(
        facility=profile.id, model=chosen_model, k=chosen_k, band=chosen_band, bands=tuple(bands), max_haul_m=haul,
        max_haul_source=section["max_haul_source"] if max_haul_m is None else "command line (--max-haul)",
        min_score=float(section.get("min_score", 0.0)),
        candidate_pool=int(candidate_pool or section.get("candidate_pool", settings.DEFAULT_CANDIDATE_POOL)),
        candidate_spacing_m=float(section.get("candidate_spacing_m", settings.DEFAULT_CANDIDATE_SPACING_M)),
        demand_block_m=float(section.get("demand_block_m", settings.DEFAULT_DEMAND_BLOCK_M)),
        supply=tuple(section["supply"]), fixed=tuple(section.get("fixed", [])),
        haul_cost_per_tkm=section.get("haul_cost_per_tkm"),
        unserved_penalty_factor=float(section.get("unserved_penalty_factor", settings.DEFAULT_UNSERVED_PENALTY_FACTOR)),
        gap=float(gap if gap is not None else settings.DEFAULT_LOCATE_GAP),
        time_limit=float(time_limit if time_limit is not None else settings.DEFAULT_LOCATE_TIME_LIMIT),
        single_source=bool(single_source),
    )

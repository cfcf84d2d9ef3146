"""Siting law by size band: a site's capacity fixes its sanitary-zone class, so legality depends on the band it opens at.

The candidates come from scoring (:func:`geo_almaty.pipeline.score_facility`), which
applies the siting rules at one capacity. :func:`screening_capacity` picks the band
with the narrowest sanitary zone among those the model may open, so the scored pool
holds every candidate that is legal for some band; :func:`band_legality` then checks
each candidate at the capacity of every band with a wider zone
(:func:`geo_almaty.siting.check_sites`), and the solver is offered only the
(candidate, band) options that are legal. Existing facilities stay as they are.
"""
from __future__ import annotations

import logging

import numpy as np

from ..prepare import Study
from ..score import ScoreResult
from ..siting import check_sites, load_siting_rules, sanitary_zone_width
from .pool import Locations
from .spec import LocateSpec

log = logging.getLogger(__name__)


def offered_bands(spec: LocateSpec) -> list[int]:
    """Indices of the size bands new sites may open at: every band for ``fixed_charge``, else the chosen one."""
    return list(range(len(spec.bands))) if spec.model == "fixed_charge" else [spec.band_index]


def _facility_type(result: ScoreResult) -> str | None:
    siting = result.siting
    return siting.facility_type if siting is not None and siting.zone is not None else None


def screening_capacity(result: ScoreResult, spec: LocateSpec) -> float | None:
    """The capacity (t/yr) to score candidates at so that none legal for an offered band is excluded.

    None when the scores can be used as they are: the profile has no sanitary zone
    (no ``siting`` section), or no offered band has a narrower zone than the one scored.
    """
    facility = _facility_type(result)
    if facility is None:
        return None
    rules = load_siting_rules()
    capacities = [spec.bands[b].capacity for b in offered_bands(spec)]
    widths = [sanitary_zone_width(facility, c, rules).width_m for c in capacities]
    narrowest = int(np.argmin(widths))
    return capacities[narrowest] if widths[narrowest] < result.siting.zone.width_m else None


def band_legality(study: Study, result: ScoreResult, spec: LocateSpec, places: Locations) -> np.ndarray:
    """(locations, bands) True where a location may open at that band under the siting rules.

    Candidates were scored under ``result.siting`` (all legal at that zone); each band
    with a wider sanitary zone is checked with :func:`geo_almaty.siting.check_sites`
    on the candidate cells, and a candidate breaking any excluding rule at that
    capacity is illegal for the band. Bands not offered are False; existing
    facilities are legal at their own band.
    """
    frame = places.frame
    allowed = np.zeros((len(frame), len(spec.bands)), dtype=bool)
    offered = offered_bands(spec)
    allowed[:, offered] = True
    facility = _facility_type(result)
    candidate = np.flatnonzero(frame["kind"].to_numpy() == "candidate")
    if facility is None or not len(candidate):
        return allowed
    rules = load_siting_rules()
    scored_width = result.siting.zone.width_m
    geometries = result.candidates.geometries(study, frame["candidate"].to_numpy()[candidate])
    for b in offered:
        band = spec.bands[b]
        zone = sanitary_zone_width(facility, band.capacity, rules)
        if zone.width_m <= scored_width:
            continue
        broken = check_sites(study, geometries, facility, band.capacity, jurisdiction=result.siting.jurisdiction, rules=rules)
        illegal = np.unique(broken.loc[broken.effect == "exclude", "site"].to_numpy(dtype=np.int64))
        allowed[candidate[illegal], b] = False
        log.info("%s: %d of %d candidates are not legal at %s (%s): closer than the zone to a protected feature", spec.facility, len(illegal),
                 len(candidate), band.id, zone.describe("en"))
    return allowed

"""``layers validate``: the same checks the run makes, before the run.

First every layer is read and checked (:func:`geo_almaty.layers.validate_catalog`).
Then, when the layers are usable, the run itself is rehearsed on a coarse grid
(:data:`DRY_RUN_CELL_SIZE_M`): the report's flows are spread over the layers and
every facility profile is scored, by the very functions the run calls. A
required criterion without data, or districts without population, fail here as
they would fail the run; an optional criterion or exclusion without data is
reported as a note (the run skips it with a warning).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .catalog import Catalog
from .errors import InputError
from .layers import LayerReport, load_layers, validate_catalog

log = logging.getLogger(__name__)

#: Cell size (m) of the rehearsal grid: coarse, so it takes about a second, and fine enough to place every feature.
DRY_RUN_CELL_SIZE_M = 1000.0


def validate_for_run(catalog: Catalog, profiles: list[str | Path] | None = None, *, progress: bool = False) -> list[LayerReport]:
    """Layer reports, then one report for the flow allocation and one per profile (default: the shipped profiles)."""
    from .profiles import list_profiles

    reports = validate_catalog(catalog, progress=progress)
    names = list(profiles) if profiles else list_profiles()
    if all(r.usable for r in reports):
        reports += rehearse_run(catalog, names)
    else:
        for name in names:
            reports.append(LayerReport(f"profile {Path(str(name)).stem}", "profile", str(name), notes=["not checked: a layer is unusable"]))
    return reports


def rehearse_run(catalog: Catalog, profiles: list[str | Path]) -> list[LayerReport]:
    """Spread the flows and score ``profiles`` on a coarse grid; report what the run would refuse or skip."""
    from .allocate import allocate_flows, load_allocation_specs
    from .flows import load_flows, load_labels
    from .pipeline import make_candidates
    from .prepare import prepare_study
    from .profiles import load_profile
    from .score import score_candidates

    specs = load_allocation_specs()
    flows = load_flows(labels=load_labels())
    study = prepare_study(catalog, DRY_RUN_CELL_SIZE_M, layers=load_layers(catalog))
    allocation = LayerReport("flow allocation", "flows", "data/allocation.yaml")
    try:
        allocations = allocate_flows(specs, flows, study.layers, study.grid, study.residential_share())
        allocation.notes.append(f"{len(allocations)} flows spread over the layers")
    except InputError as exc:
        allocation.problems.append(_where(exc))
        return [allocation] + [LayerReport(f"profile {Path(str(n)).stem}", "profile", str(n), notes=["not checked: the flows cannot be spread"])
                               for n in profiles]
    reports = [allocation]
    candidates = make_candidates(study)
    for name in profiles:
        report = LayerReport(f"profile {Path(str(name)).stem}", "profile", str(name))
        try:
            profile = load_profile(name, catalog, set(specs))
            report.source = profile.path.name
            result = score_candidates(profile, study, candidates, allocations)
            report.geometry = f"{len(profile.criteria) - len(result.skipped)} of {len(profile.criteria)} criteria"
            report.notes += [f"optional criterion {cid} skipped: {why}" for cid, why in result.skip_reasons.items()]
            report.notes += [f"exclusion {rule['id']} skipped: layer '{rule['layer']}' has no data"
                             for rule in profile.exclusions if study.layer(rule["layer"]) is None]
        except InputError as exc:
            report.problems.append(_where(exc))
        reports.append(report)
    return reports


def _where(exc: InputError) -> str:
    parts = [f"layer '{exc.layer}'" if exc.layer else "", exc.short()]
    return ": ".join(p for p in parts if p)

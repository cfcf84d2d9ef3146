"""Facility profiles (``profiles/*.yaml``): what to exclude, which criteria, how to weigh them.

A profile is validated against ``profile.schema.json`` and then against the
catalog and the allocation definitions, so an unknown layer, class, allocation,
criterion type, a negative weight or an inconsistent AHP matrix is reported as
one line before any work is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import settings
from .catalog import Catalog
from .config import load_validated_yaml, named_yaml, yaml_names
from .errors import ProfileError
from .weights import AHPResult, ahp_weights, check_consistency, normalise_weights, parse_matrix


@dataclass(frozen=True)
class FacilityProfile:
    """A validated facility profile."""

    id: str
    path: Path
    title: dict[str, str]
    summary: dict[str, str]
    report_lines: str
    exclusions: tuple[dict, ...]
    criteria: tuple[dict, ...]
    weights: dict
    aggregation: dict
    selection: dict
    siting: dict | None = None
    keywords: tuple[str, ...] = ()
    locate: dict | None = None  #: the ``locate:`` section (location-allocation), see geo_almaty.locate.spec

    @property
    def top_n(self) -> int:
        return int(self.selection.get("top_n", 10))


def profile_path(name: str | Path) -> Path:
    """The YAML of a profile given by name (``composting_hub``) or path."""
    return named_yaml(name, settings.profiles_dir())


def list_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return yaml_names(settings.profiles_dir())


def load_profile(name: str | Path, catalog: Catalog | None = None, allocations: set[str] | None = None,
                 *, force_ahp: bool = False) -> FacilityProfile:
    """Load and validate a profile; with ``catalog``/``allocations``, also check every reference."""
    path = profile_path(name)
    if not path.is_file():
        known = ", ".join(list_profiles())
        raise ProfileError("no such facility profile", file=path, expected=f"one of {known} or a profile YAML file")
    document = load_validated_yaml(path, "profile", ProfileError)
    return profile_from_document(document, path, catalog, allocations, force_ahp=force_ahp)


def profile_from_document(document: dict, path: Path, catalog: Catalog | None = None, allocations: set[str] | None = None,
                          *, force_ahp: bool = False) -> FacilityProfile:
    """A validated profile from its (schema-valid) YAML document, e.g. one a scenario changed in memory."""
    profile = FacilityProfile(
        id=document["id"], path=path, title=document["title"], summary=document["summary"], report_lines=document["report_lines"],
        exclusions=tuple(document.get("exclusions", [])), criteria=tuple(document["criteria"]), weights=document["weights"],
        aggregation=document["aggregation"], selection=document.get("selection", {}), siting=document.get("siting"),
        keywords=tuple(document.get("keywords", ())), locate=document.get("locate"),
    )
    _check_ids(profile)
    _check_criteria_fields(profile)
    _check_siting_and_stages(profile)
    criterion_weights(profile, force=force_ahp)
    if profile.aggregation["method"] == "owa":
        order = profile.aggregation.get("order_weights")
        if order is None or len(order) != len(profile.criteria):
            raise ProfileError(f"{0 if order is None else len(order)} order weights for {len(profile.criteria)} criteria", file=path,
                               column="aggregation/order_weights", expected="one order weight per criterion")
    if catalog is not None:
        _check_references(profile, catalog, allocations)
    return profile


def criterion_weights(profile: FacilityProfile, *, force: bool = False, skip: set[str] = frozenset()) -> tuple[np.ndarray, AHPResult | None]:
    """Weights (sum 1) of the profile's criteria, in order; criteria in ``skip`` get weight 0.

    With AHP, the matrix rows and columns follow the criteria order; a consistency
    ratio above 0.1 is refused unless ``force`` (or ``force: true`` in the profile).
    """
    ids = [c["id"] for c in profile.criteria]
    if profile.weights["method"] == "direct":
        for c in profile.criteria:
            if not np.isfinite(c["weight"]) or c["weight"] < 0:
                raise ProfileError(f"negative weight {c['weight']:g}", file=profile.path, column=f"criteria/{c['id']}/weight",
                                   expected="a weight >= 0 (weights are scaled to sum 1)")
        raw = np.array([0.0 if c["id"] in skip else float(c["weight"]) for c in profile.criteria])
        return normalise_weights(raw, where=f"{profile.path.name}: criteria weights"), None
    if "matrix" not in profile.weights:
        raise ProfileError("AHP without a matrix", file=profile.path, column="weights/matrix", expected="a pairwise comparison matrix")
    matrix = parse_matrix(profile.weights["matrix"], where="weights/matrix")
    if matrix.shape != (len(ids), len(ids)):
        raise ProfileError(f"matrix of shape {matrix.shape} for {len(ids)} criteria", file=profile.path, column="weights/matrix",
                           expected=f"a {len(ids)}×{len(ids)} matrix in the order {', '.join(ids)}")
    try:
        result = ahp_weights(matrix)
        check_consistency(result, force=force or bool(profile.weights.get("force", False)))
    except ProfileError as exc:
        raise ProfileError(exc.problem, file=profile.path, column=exc.column, expected=exc.expected) from None
    weights = result.weights.copy()
    if skip:
        weights[[i for i, c in enumerate(ids) if c in skip]] = 0.0
        weights = normalise_weights(weights, where="weights")
    return weights, result


def _check_ids(profile: FacilityProfile) -> None:
    for kind, items in (("criteria", profile.criteria), ("exclusions", profile.exclusions)):
        seen: set[str] = set()
        for item in items:
            if item["id"] in seen:
                raise ProfileError(f"duplicate id '{item['id']}'", file=profile.path, column=kind, expected="unique ids")
            seen.add(item["id"])


_NEEDS = {"distance": ("layer",), "colocation": ("layer", "within_m"), "share": ("classes",), "reachable": ("allocation", "radius_m"), "raster": ("raster",)}


_ROAD_TYPES = ("distance", "colocation", "reachable")


def _needed_keys(criterion: dict) -> tuple[str, ...]:
    """Keys a criterion needs: by type, with minutes instead of metres for road_min reach and colocation."""
    keys = _NEEDS[criterion["type"]]
    if criterion.get("metric") == "road_min":
        keys = tuple({"radius_m": "radius_min", "within_m": "within_min"}.get(k, k) for k in keys)
    return keys


def _check_criteria_fields(profile: FacilityProfile) -> None:
    for c in profile.criteria:
        for key in ("metric", "direction"):
            if key in c and c["type"] not in _ROAD_TYPES:
                raise ProfileError(f"'{key}' on a {c['type']} criterion", file=profile.path, column=f"criteria/{c['id']}/{key}",
                                   expected=f"{key} only on distance, colocation or reachable criteria")
        if "direction" in c and c.get("metric", "straight") == "straight":
            raise ProfileError("'direction' on a straight-line criterion", file=profile.path, column=f"criteria/{c['id']}/direction",
                               expected="direction only with metric road_km or road_min")
        for key in _needed_keys(c):
            if key not in c:
                raise ProfileError(f"a {c['type']} criterion needs '{key}'", file=profile.path, column=f"criteria/{c['id']}/{key}",
                                   expected=f"{key} for {c['type']} criteria")
        if c["type"] != "colocation" and "value" not in c:
            raise ProfileError("no value function", file=profile.path, column=f"criteria/{c['id']}/value",
                               expected="a value function (linear, threshold, sigmoid or fuzzy)")


def _check_siting_and_stages(profile: FacilityProfile) -> None:
    """The facility type exists in the rules layer; stage conditions name criteria of the profile."""
    if profile.siting:
        from .siting.rules import load_siting_rules

        try:
            load_siting_rules().facility_type(profile.siting["facility_type"])
        except ProfileError as exc:
            raise ProfileError(exc.problem, file=profile.path, column="siting/facility_type", expected=exc.expected) from None
    ids = {c["id"] for c in profile.criteria}
    stages = profile.selection.get("stages", [])
    if stages and "top_n" in profile.selection and sum(s["top_n"] for s in stages) != profile.selection["top_n"]:
        raise ProfileError(f"stages choose {sum(s['top_n'] for s in stages)} sites, top_n is {profile.selection['top_n']}", file=profile.path,
                           column="selection/stages", expected="stage sizes that add up to top_n")
    for stage in stages:
        for condition in stage.get("require_any", []):
            if "criterion" in condition and condition["criterion"] not in ids:
                raise ProfileError(f"unknown criterion '{condition['criterion']}'", file=profile.path,
                                   column=f"selection/stages/{stage['id']}/require_any", expected="a criterion id of the profile")
            if "criterion" in condition and not ({"max_raw", "min_raw"} & set(condition)):
                raise ProfileError("a criterion condition without a bound", file=profile.path,
                                   column=f"selection/stages/{stage['id']}/require_any", expected="max_raw or min_raw")


def _check_references(profile: FacilityProfile, catalog: Catalog, allocations: set[str] | None) -> None:
    def check_layer(layer: str, classes: list[str] | None, column: str) -> None:
        if layer not in catalog.layers:
            raise ProfileError(f"unknown layer '{layer}'", file=profile.path, column=column, expected="a catalog layer: " + ", ".join(catalog.layers))
        if classes:
            spec = catalog.layer(layer)
            unknown = sorted(set(classes) - set(spec.classes))
            if unknown:
                raise ProfileError(f"unknown class(es) {', '.join(unknown)} of layer '{layer}'", file=profile.path, column=column,
                                   expected="classes: " + ", ".join(spec.classes))

    for rule in profile.exclusions:
        if rule.get("optional") is True and rule["layer"] not in catalog.layers:
            continue  # an optional rule on a layer this catalog does not define is skipped when scoring
        check_layer(rule["layer"], rule.get("classes"), f"exclusions/{rule['id']}")
    for c in profile.criteria:
        column = f"criteria/{c['id']}"
        if "layer" in c or c["type"] == "share":
            check_layer(c.get("layer", "land_use"), c.get("classes"), column)
        if c["type"] == "reachable" and allocations is not None and c["allocation"] not in allocations:
            raise ProfileError(f"unknown allocation '{c['allocation']}'", file=profile.path, column=f"{column}/allocation",
                               expected="one of " + ", ".join(sorted(allocations)))

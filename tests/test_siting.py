"""Siting rules: sanitary zones by class and capacity, bird-strike radius, water strips and zones, jurisdiction,
"why not here", and the embedded data's top sites kept clear of every zone.

Synthetic checks compare each rule's candidate mask with exact distances from the cell *edge* (shapely) on the
small siting world of ``tests/synthetic.py``.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml

from geo_almaty import settings
from geo_almaty.candidates import feature_candidates, hex_candidates, square_candidates
from geo_almaty.cli import main
from geo_almaty.errors import ProfileError
from geo_almaty.profiles import load_profile
from geo_almaty.score import score_candidates
from geo_almaty.select import select_sites
from geo_almaty.siting import (candidate_jurisdiction, check_sites, jurisdiction_counts, load_siting_rules,
                               sanitary_zone_width, sanitary_zone_widths)
from geo_almaty.siting.why import exclusion_legend, exclusion_surface, why_not_here, why_not_here_lonlat
from geo_almaty.siting.report import stage_reason
from geo_almaty.siting.zones import BUFFER_TOLERANCE_M, FLAG_TOLERANCE_SHARE, quad_segments

from .synthetic import AIRPORT, CX, CY, RIVER_Y, SCHOOL, VILLAGE, prepared_world, siting_world, write_profile

TEXT = {"ru": "т", "kk": "т", "en": "t"}
FARM = {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 6000, "high": 0}, "weight": 1}
#: cells whose distance to a zone's edge is within this of the limit may go either way (raster edge cases)
EDGE_TOLERANCE_M = 0.5


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("siting_world")
    return (folder, *prepared_world(siting_world(folder)))


def scored(world, tmp_path, name, facility_type, capacity, *, jurisdiction="any", exclusions=None, selection=None, candidates=None):
    _, catalog, study, allocations = world
    path = write_profile(tmp_path, name, [FARM], exclusions=exclusions, selection=selection)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["siting"] = {"facility_type": facility_type, "planned_capacity_t_yr": capacity, "capacity_rationale": "test",
                          "jurisdiction": jurisdiction}
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    profile = load_profile(path, catalog, set(allocations))
    return score_candidates(profile, study, candidates or square_candidates(study), allocations), study


def mask_of(result, rule_id):
    ids = [r.id for r in result.rules.rules]
    return result.rules.masks[:, ids.index(rule_id)]


def exact_within(result, study, geometries, radius, slack_m=BUFFER_TOLERANCE_M):
    """(surely inside, surely outside) by exact distance from each candidate's outline.

    A cell beyond the distance by less than the buffers' tolerance may go either way.
    """
    outlines = result.candidates.geometries(study)
    radius = np.broadcast_to(np.asarray(radius, dtype=float), len(geometries))
    gaps = np.min([shapely.distance(outlines, g) - r for g, r in zip(geometries, radius)], axis=0)
    return gaps < -EDGE_TOLERANCE_M, gaps > EDGE_TOLERANCE_M + slack_m


def assert_matches_exact(mask, inside, outside):
    assert mask[inside].all() and not mask[outside].any()
    assert inside.any() and outside.any()


# --- the rules layer --------------------------------------------------------------------------------

def test_rules_layer_validates_and_every_entry_cites_a_regulation():
    rules = load_siting_rules()
    assert {"kz_szz_2022", "kz_bird_hazard_2015", "kz_water_zones_rules_2015", "icao_annex14"} <= set(rules.regulations)
    assert "ҚР ДСМ-2" in rules.regulations["kz_szz_2022"]["document"] and rules.regulations["kz_szz_2022"]["date"] == "2022-01-11"
    assert any("№ 18 of 4 May 2024" in a for a in rules.regulations["kz_szz_2022"]["amended_by"])
    assert "19-1/446" in rules.regulations["kz_water_zones_rules_2015"]["document"]
    for name, facility in rules.facility_types.items():
        for band in facility["bands"]:
            zone = sanitary_zone_width(name, band.get("max_capacity_t_yr"), rules)
            assert zone.citation.regulation in rules.regulations and zone.citation.url.startswith("http")
            assert not zone.verify or zone.citation.found, f"{name}/{band['id']} says what was found"
    assert rules.bird_hazard["radius_m"] == 15000 and rules.bird_hazard["verify"]
    assert "verify against the aviation rules in force" in rules.bird_hazard["found"].lower()
    assert {r["id"] for r in rules.receptors} == {"housing", "settlements", "schools", "hospitals", "dachas"}


def test_sanitary_zone_follows_the_planned_capacity_across_the_class_boundary():
    below, at, above = (sanitary_zone_width("composting", c) for c in (39_999, 40_000, 40_001))
    assert (below.hazard_class, below.width_m) == ("II", 500) and (at.hazard_class, at.width_m) == ("II", 500)  # "up to 40 kt" is inclusive
    assert (above.hazard_class, above.width_m) == ("I", 1000)
    assert below.band == "up_to_40kt" and above.band == "over_40kt" and above.citation.regulation == "kz_szz_2022"
    assert sanitary_zone_widths("composting", [10_000, 39_999, 40_001, 90_000]).tolist() == [500, 500, 1000, 1000]
    crushing = sanitary_zone_width("material_bank_crushing", 36_000)
    assert (crushing.hazard_class, crushing.width_m) == ("III", 300)  # material banks that crush rubble get a zone
    reuse = sanitary_zone_width("reuse_centre", 2_000)
    assert reuse.hazard_class is None and reuse.width_m == 0 and reuse.verify


def test_unknown_facility_type_and_bad_capacity_are_one_line():
    with pytest.raises(ProfileError) as exc:
        sanitary_zone_width("incinerator", 1000)
    assert "\n" not in str(exc.value) and "composting" in str(exc.value)
    with pytest.raises(ProfileError, match="capacity"):
        sanitary_zone_width("composting", -5)


def test_a_broken_rules_folder_is_refused_with_one_line(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(settings.rules_dir(), folder)
    zones = yaml.safe_load((folder / "sanitary_zones.yaml").read_text(encoding="utf-8"))
    zones["facility_types"]["composting"]["bands"][0]["citation"]["regulation"] = "moon_treaty"
    (folder / "sanitary_zones.yaml").write_text(yaml.safe_dump(zones, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError) as exc:
        load_siting_rules(folder)
    assert "\n" not in str(exc.value) and "unknown regulation 'moon_treaty'" in str(exc.value)
    zones["facility_types"]["composting"]["bands"][0]["citation"]["regulation"] = "kz_szz_2022"
    zones["facility_types"]["composting"]["bands"][0]["found"] = " "
    (folder / "sanitary_zones.yaml").write_text(yaml.safe_dump(zones, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError, match="what was found"):
        load_siting_rules(folder)


def test_a_profile_naming_an_unknown_facility_type_is_refused(world, tmp_path):
    with pytest.raises(ProfileError) as exc:
        scored(world, tmp_path, "badtype", "incinerator", 1000)
    assert "badtype.yaml" in str(exc.value) and "siting/facility_type" in str(exc.value)


# --- the rules on a small synthetic world ----------------------------------------------------------

@pytest.mark.parametrize("radius", [10.0, 35.0, 300.0, 1000.0, 4700.0, 15000.0])
def test_buffers_never_miss_and_overreach_at_most_the_tolerance(radius):
    segments = quad_segments(radius)
    stretch = 1.0 / np.cos(np.pi / (4 * segments))
    assert radius * (stretch - 1.0) <= BUFFER_TOLERANCE_M + 1e-9
    from geo_almaty.siting.zones import circumscribed_buffer

    zone = circumscribed_buffer(np.array([shapely.Point(0, 0)]), np.array([radius]))[0]
    ring = shapely.Point(0, 0).buffer(radius, quad_segs=512).exterior
    assert shapely.covers(zone, shapely.Point(0, 0).buffer(radius * (1 - 1e-9), quad_segs=512))  # nothing within is missed
    assert shapely.hausdorff_distance(zone.exterior, ring) <= BUFFER_TOLERANCE_M + 0.01


def test_sanitary_zone_is_measured_from_the_site_edge_and_grows_with_capacity(world, tmp_path):
    small, study = scored(world, tmp_path, "small", "composting", 30_000)
    large, _ = scored(world, tmp_path, "large", "composting", 50_000)
    housing = study.layer("land_use")
    housing = housing[housing["class"] == "residential"].geometry.values
    for result, width in ((small, 500), (large, 1000)):
        assert result.siting.zone.width_m == width
        assert_matches_exact(mask_of(result, "sanitary_housing"), *exact_within(result, study, housing, width))
        village = study.layer("settlements")
        assert_matches_exact(mask_of(result, "sanitary_settlements"),
                             *exact_within(result, study, village.geometry.values, width + village.footprint_radius_m.to_numpy()))
        assert_matches_exact(mask_of(result, "sanitary_schools"), *exact_within(result, study, [shapely.Point(*SCHOOL)], width))
        assert_matches_exact(mask_of(result, "sanitary_dachas"), *exact_within(result, study, study.layer("garden_plots").geometry.values, width))
    assert mask_of(large, "sanitary_housing").sum() > mask_of(small, "sanitary_housing").sum()
    # Edge, not centre: cells whose centre is beyond 500 m of the school but whose edge is within it are excluded.
    school = shapely.Point(*SCHOOL)
    centre_far = shapely.distance(shapely.points(small.candidates.x, small.candidates.y), school) > 500 + EDGE_TOLERANCE_M
    edge_near = shapely.distance(small.candidates.geometries(study), school) < 500 - EDGE_TOLERANCE_M
    assert (centre_far & edge_near).sum() >= 4 and mask_of(small, "sanitary_schools")[centre_far & edge_near].all()
    assert (small.rules.rules[[r.id for r in small.rules.rules].index("sanitary_housing")].citation.regulation == "kz_szz_2022")


def test_a_missing_receptor_layer_is_reported_not_ignored(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    catalog, study, allocations = prepared_world(siting_world(folder, receptors=False))
    result, _ = scored((folder, catalog, study, allocations), tmp_path, "norec", "composting", 30_000)
    missing = {m.rule: m.text("en") for m in result.siting.missing}
    assert set(missing) == {"sanitary_settlements", "sanitary_schools", "sanitary_hospitals", "sanitary_dachas"}
    assert all("no data" in p for p in missing.values())
    assert "нет данных" in result.siting.missing[0].text("ru")
    from geo_almaty.siting.report import rules_table, siting_summary_lines

    table = rules_table(result)
    assert (table.loc[table.rule == "sanitary_dachas", "status"].str.startswith("not applied")).all()
    assert result.excluded.all()  # 500 m of housing and 15 km of the airfield cover the tiny world: nothing to choose
    lines = siting_summary_lines(result, study, pd.DataFrame({"rank": [], "candidate": []}), "en")
    assert any("dachas and garden plots" in line and "No data" in line for line in lines)


def test_bird_hazard_applies_to_composting_only(world, tmp_path):
    hub, study = scored(world, tmp_path, "hub", "composting", 30_000)
    bank, _ = scored(world, tmp_path, "bank", "material_bank_crushing", 30_000)
    assert_matches_exact(mask_of(hub, "bird_hazard"), *exact_within(hub, study, [shapely.Point(*AIRPORT)], 15_000))
    assert "bird_hazard" not in {r.id for r in bank.rules.rules}
    assert hub.siting.bird_radius_m == 15_000


def test_water_strip_depends_on_slope_and_the_zone_excludes_or_flags(world, tmp_path, monkeypatch):
    hub, study = scored(world, tmp_path, "hubw", "composting", 30_000)
    river = study.layer("rivers").geometry.values
    assert study.slope is None  # no DEM in the tiny world: the widest strip applies
    assert_matches_exact(mask_of(hub, "water_strip_rivers"), *exact_within(hub, study, river, 100))
    assert_matches_exact(mask_of(hub, "water_zone_rivers"), *exact_within(hub, study, river, 500))
    assert hub.rules.rules[[r.id for r in hub.rules.rules].index("water_zone_rivers")].effect == "exclude"
    bank, _ = scored(world, tmp_path, "bankw", "material_bank_crushing", 30_000)
    zone = bank.rules.rules[[r.id for r in bank.rules.rules].index("water_zone_rivers")]
    only_zone = mask_of(bank, "water_zone_rivers") & ~bank.rules.excluded()
    assert zone.effect == "flag" and only_zone.any() and not bank.excluded[only_zone].any()  # flagged, still candidates
    monkeypatch.setattr(study, "slope", np.zeros(study.grid.shape))
    flat, _ = scored(world, tmp_path, "flat", "composting", 30_000)
    assert_matches_exact(mask_of(flat, "water_strip_rivers"), *exact_within(flat, study, river, 35))
    monkeypatch.setattr(study, "slope", np.full(study.grid.shape, 5.0))
    steep, _ = scored(world, tmp_path, "steep", "composting", 30_000)
    assert_matches_exact(mask_of(steep, "water_strip_rivers"), *exact_within(steep, study, river, 100))
    assert mask_of(flat, "water_strip_rivers").sum() < mask_of(steep, "water_strip_rivers").sum()


def test_an_approximate_river_is_flagged_within_its_accuracy_not_excluded(tmp_path):
    folder = tmp_path / "rough"
    folder.mkdir()
    catalog, study, allocations = prepared_world(siting_world(folder, river_accuracy_m=1500.0))
    result, _ = scored((folder, catalog, study, allocations), tmp_path, "rough", "material_bank_crushing", 30_000)
    flag = mask_of(result, "water_accuracy_rivers")
    assert_matches_exact(flag, *exact_within(result, study, study.layer("rivers").geometry.values, 1500, 1500 * FLAG_TOLERANCE_SHARE))
    assert result.rules.rules[[r.id for r in result.rules.rules].index("water_accuracy_rivers")].effect == "flag"
    assert (flag & ~result.excluded).any()  # flagged sites stay candidates


def test_jurisdiction_is_reported_and_can_be_required(world, tmp_path):
    anywhere, study = scored(world, tmp_path, "any", "reuse_centre", 2000)
    city_only, _ = scored(world, tmp_path, "city", "reuse_centre", 2000, jurisdiction="require_city")
    land = candidate_jurisdiction(study, anywhere.candidates)
    west = anywhere.candidates.x < CX
    assert (land.kind[west] == "city").all() and (land.kind[~west] == "oblast_district").all()
    assert land.name(int(np.flatnonzero(~west)[0]), "en") == "Rural district"
    assert (mask_of(city_only, "outside_city") == ~west).all()
    chosen = select_sites(city_only, study, top_n=3)
    assert (land.kind[chosen.candidate] == "city").all()
    counts = jurisdiction_counts(land, select_sites(anywhere, study, top_n=3).candidate.to_numpy(), "en")
    assert counts["city"] + counts["oblast"] == 3 and sum(counts["oblast_units"].values()) == counts["oblast"]


def test_hexagon_and_feature_candidates_use_their_outlines(world, tmp_path):
    _, _, study, _ = world
    hexes = hex_candidates(study)
    result, _ = scored(world, tmp_path, "hexw", "composting", 30_000, candidates=hexes)
    housing = study.layer("land_use")
    housing = housing[housing["class"] == "residential"].geometry.values
    assert_matches_exact(mask_of(result, "sanitary_housing"), *exact_within(result, study, housing, 500))
    parks = feature_candidates(study, "parks")
    result, _ = scored(world, tmp_path, "featw", "reuse_centre", 2000, candidates=parks)
    assert result.rules.masks.shape == (len(parks), len(result.rules.rules))


# --- every rule, not only the first ----------------------------------------------------------------

def test_excluded_by_lists_every_rule_and_why_not_here_explains_them(world, tmp_path):
    heritage = {"id": "heritage", "label": TEXT, "layer": "heritage_areas", "report_lines": "L436-441"}
    result, study = scored(world, tmp_path, "why", "composting", 50_000, exclusions=[heritage])
    from geo_almaty.export import scored_frame

    frame = scored_frame(result, study, include_excluded=True)
    several = frame[frame.excluded_by.str.count(";") >= 2]
    assert len(several), "some cells are caught by three rules or more"
    # the heritage square in the middle: heritage (profile, first) and the sanitary zone of the housing next to it
    centre = int(np.flatnonzero((result.candidates.x == CX + 125) & (result.candidates.y == CY + 125))[0])
    ids = frame.set_index("candidate_id").loc[result.candidates.labels()[[centre]][0], "excluded_by"].split(";")
    assert ids[0] == "heritage" and "sanitary_housing" in ids and "bird_hazard" in ids
    assert result.exclusion[centre] == "heritage"  # the first rule, kept for old readers
    reasons = why_not_here(result, study, CX + 125, CY + 125)
    by_rule = {r.rule: r for r in reasons}
    assert set(by_rule) >= {"heritage", "sanitary_housing", "bird_hazard"}
    outline = result.candidates.geometries(study, np.array([centre]))[0]
    assert by_rule["bird_hazard"].distance_m == pytest.approx(outline.distance(shapely.Point(*AIRPORT)))
    assert by_rule["bird_hazard"].limit_m == 15_000 and by_rule["bird_hazard"].verify
    assert "ҚР ДСМ-2" in by_rule["sanitary_housing"].source and by_rule["heritage"].source == "report L436-441"
    assert all(r.effect == "exclude" for r in reasons[: len([r for r in reasons if r.effect == "exclude"])])
    village_cell = why_not_here(result, study, *VILLAGE)
    near = {r.rule: r for r in village_cell}["sanitary_settlements"]
    assert near.distance_m == 0 and near.feature == "Аул"


def test_why_not_here_for_a_free_point_an_outside_point_and_lonlat(world, tmp_path):
    result, study = scored(world, tmp_path, "free", "reuse_centre", 2000)
    free = int(np.flatnonzero(~result.excluded & ~result.rules.flagged())[0])
    assert why_not_here(result, study, result.candidates.x[free], result.candidates.y[free]) == []
    outside = why_not_here(result, study, CX + 50_000, CY)
    assert [r.kind for r in outside] == ["outside"]
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(settings.ANALYSIS_CRS, settings.GEOGRAPHIC_CRS, always_xy=True).transform(CX + 1900, RIVER_Y)
    assert "water_strip_rivers" in {r.rule for r in why_not_here_lonlat(result, study, lon, lat)}


def test_exclusion_surface_and_legend_decode_to_the_rule_masks(world, tmp_path):
    result, study = scored(world, tmp_path, "bits", "composting", 50_000)
    surface = exclusion_surface(result, study)
    legend = exclusion_legend(result, "ru")
    assert [e["bit"] for e in legend] == list(range(len(result.rules.rules)))
    codes = surface.ravel()[result.candidates.cell]
    for entry in legend:
        assert ((codes >> entry["bit"]) & 1).astype(bool).tolist() == result.rules.masks[:, entry["bit"]].tolist()
    assert legend[0]["label"] and all(e["effect"] in ("exclude", "flag") for e in legend)


def test_check_sites_applies_each_sites_own_capacity(world):
    _, _, study, _ = world
    # two identical 250 m sites 700 m east of the housing edge (x = CX) and far from the village, school and dachas
    site = shapely.box(CX + 700, CY + 250, CX + 950, CY + 500)
    frame = check_sites(study, [site, site], "composting", [30_000, 50_000])
    sanitary = frame[frame.kind == "sanitary"]
    assert set(sanitary.site) == {1} and set(sanitary.rule) == {"sanitary_housing"}  # 500 m clears 700 m, 1000 m does not
    assert sanitary.iloc[0].distance_m == pytest.approx(700) and sanitary.iloc[0].limit_m == 1000
    assert set(frame[frame.site == 0].kind) == {"bird_hazard", "water_zone"}  # 15 km of the airfield; 340 m from the river
    assert (frame.hazard_class[frame.site == 1] == "I").all() and (frame.sanitary_zone_m[frame.site == 0] == 500).all()


def test_selection_in_stages_pilot_then_one_per_district(world, tmp_path):
    stages = [{"id": "pilot", "label": TEXT, "top_n": 1, "require_any": [{"criterion": "farm", "max_raw": 300}]},
              {"id": "rest", "label": TEXT, "top_n": 1}]
    result, study = scored(world, tmp_path, "staged", "reuse_centre", 2000,
                           selection={"top_n": 2, "max_per_district": 1, "stages": stages})
    chosen = select_sites(result, study)
    assert chosen.stage.tolist() == ["pilot", "rest"] and chosen.stage_condition_met.all()
    assert result.raw[chosen.candidate.iloc[0], 0] <= 300 and chosen.district_id.is_unique
    # the outputs say why the pilot is where it is: its stage and the condition it meets, in words
    pilot, rest = (stage_reason(result, chosen, int(c), "en", {}) for c in chosen.candidate)
    assert pilot[0] == f"Stage «{TEXT['en']}»" and pilot[1].startswith(result.criteria[0]["label"]["en"] + ": ") and " m" in pilot[1]
    assert rest == (f"Stage «{TEXT['en']}»", None)
    impossible = [{**stages[0], "require_any": [{"criterion": "farm", "max_raw": -1}]}, stages[1]]
    result, _ = scored(world, tmp_path, "staged2", "reuse_centre", 2000, selection={"top_n": 2, "stages": impossible})
    chosen = select_sites(result, study)
    assert len(chosen) == 2 and not chosen.stage_condition_met.iloc[0]  # taken anyway, and said so
    with pytest.raises(ProfileError, match="add up to top_n"):
        scored(world, tmp_path, "staged3", "reuse_centre", 2000, selection={"top_n": 5, "stages": stages})


# --- the embedded data ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedded():
    from geo_almaty.pipeline import load_inputs, score_facility

    facilities = ("composting_hub", "material_bank", "reuse_warehouse")
    inputs = load_inputs(profiles=list(facilities))
    return inputs, {f: score_facility(inputs, f) for f in facilities}


def test_no_top_site_lies_in_a_zone_on_the_embedded_data(embedded):
    inputs, outcomes = embedded
    study = inputs.study
    rules = load_siting_rules()
    for facility, outcome in outcomes.items():
        result = outcome.result
        sites = result.candidates.geometries(study, outcome.selection.candidate.to_numpy())
        zone = result.siting.zone
        for receptor in rules.receptors:
            frame = study.layer(receptor["layer"])
            if frame is None or zone.width_m == 0:
                continue
            if "classes" in receptor:
                frame = frame[frame[study.catalog.layer(receptor["layer"]).class_column].isin(receptor["classes"])]
            column = receptor.get("buffer_column")
            footprint = frame[column].fillna(0).to_numpy() if column in frame.columns else 0.0
            gaps = np.array([(shapely.distance(s, frame.geometry.values) - footprint).min() for s in sites])
            assert (gaps >= zone.width_m - EDGE_TOLERANCE_M).all(), (facility, receptor["id"], gaps.min())
        if rules.facility_types[result.siting.facility_type]["attracts_birds"]:
            airports = study.layer("airports").geometry.values
            assert min(shapely.distance(s, airports).min() for s in sites) >= 15_000 - EDGE_TOLERANCE_M, facility
        rivers = study.layer("rivers").geometry.values
        assert min(shapely.distance(s, rivers).min() for s in sites) >= 35 - EDGE_TOLERANCE_M, facility
        water = study.layer("land_use")
        water = water[water["class"] == "water"].geometry.values
        assert min(shapely.distance(s, water).min() for s in sites) >= 35 - EDGE_TOLERANCE_M, facility
        assert not result.excluded[outcome.selection.candidate].any()


def test_embedded_profiles_apply_their_zones_and_report_their_land(embedded):
    inputs, outcomes = embedded
    hub = outcomes["composting_hub"].result
    assert (hub.siting.zone.hazard_class, hub.siting.zone.width_m) == ("I", 1000)  # 50 kt/yr: over the 40 kt boundary
    assert {"bird_hazard", "sanitary_housing", "sanitary_settlements", "water_strip_rivers", "water_zone_rivers"} <= {r.id for r in hub.rules.rules}
    assert {m.rule for m in hub.siting.missing} == {"sanitary_dachas"}  # no embedded garden plots: said, not ignored
    assert {"sanitary_schools", "sanitary_hospitals"} <= {r.id for r in hub.rules.rules}
    bank = outcomes["material_bank"].result
    assert bank.siting.zone.width_m == 300 and "bird_hazard" not in {r.id for r in bank.rules.rules}
    reuse = outcomes["reuse_warehouse"]
    land = candidate_jurisdiction(inputs.study, reuse.result.candidates)
    assert (land.kind[reuse.selection.candidate] == "city").all()  # required
    assert reuse.selection.stage.iloc[0] == "pilot" and reuse.selection.district_id.is_unique
    assert reuse.result.raw[reuse.selection.candidate.iloc[0], reuse.result.criterion_index("waste_plant")] <= 3  # km by road
    from geo_almaty.export import top_sites_frame

    top = top_sites_frame(hub, inputs.study, outcomes["composting_hub"].selection, inputs.allocations, "en")
    assert {"jurisdiction", "jurisdiction_unit", "jurisdiction_name", "hazard_class", "sanitary_zone_m", "flags"} <= set(top.columns)
    assert set(top.jurisdiction) <= {"city", "oblast_district"} and (top.sanitary_zone_m == 1000).all()


def test_hospitals_from_a_user_catalog_become_receptors(tmp_path, geodata_dir):
    """Real hospital points (../shared, no licence: used only here) as the sensitive_sites layer of a user catalog."""
    from geo_almaty.pipeline import load_inputs, score_facility

    from .conftest import write_catalog

    import geopandas as gpd

    hospitals = gpd.read_file(geodata_dir / "almaty_health" / "hospitals.geojson")
    hospitals = gpd.GeoDataFrame({"site_id": hospitals["medical_organization_id"].astype(str), "class": "hospital"},
                                 geometry=hospitals.geometry, crs=hospitals.crs)
    hospitals.to_file(tmp_path / "hospitals.geojson", driver="GeoJSON")
    catalog = write_catalog(tmp_path / "catalog.yaml", {"sensitive_sites": {"source": {"path": "hospitals.geojson"}}})
    inputs = load_inputs(catalog, profiles=["composting_hub"])
    outcome = score_facility(inputs, "composting_hub")
    assert "sanitary_hospitals" in {r.id for r in outcome.result.rules.rules}
    hospitals = inputs.study.layer("sensitive_sites").geometry.values
    sites = outcome.result.candidates.geometries(inputs.study, outcome.selection.candidate.to_numpy())
    assert min(shapely.distance(s, hospitals).min() for s in sites) >= 1000 - EDGE_TOLERANCE_M


# --- the command line --------------------------------------------------------------------------------

def test_cli_why_names_every_rule_with_its_source(capsys):
    assert main(["why", "--facility", "composting_hub", "--lon", "76.95", "--lat", "43.25", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "excluded:" in out and "ҚР ДСМ-2" in out and "bird-strike" in out and "(verify)" in out
    assert "not applied" in out and "garden_plots" in out  # missing receptor layers are said
    assert main(["why", "--facility", "reuse_warehouse", "--lon", "76.95", "--lat", "43.25", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["facility"] == "reuse_warehouse" and isinstance(record["reasons"], list)


def test_cli_why_needs_a_location(capsys):
    assert main(["why", "--facility", "composting_hub", "--lon", "76.95"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--lon and --lat" in err


def test_score_writes_the_exclusion_bitmask_and_rules_table(tmp_path):
    import pyogrio

    out = tmp_path / "out"
    assert main(["score", "--facility", "material_bank", "--top", "3", "--out", str(out)]) == 0
    with rasterio.open(out / "material_bank_exclusions.tif") as src:
        legend = json.loads(src.tags()["rules"])
        data = src.read(1)
    assert src.dtypes[0] == "uint32" and {e["rule"] for e in legend} >= {"sanitary_housing", "water_strip_rivers"}
    assert (data > 0).any()
    table = pyogrio.read_dataframe(out / "material_bank_sites.gpkg", layer="siting_rules")
    assert "sanitary_housing" in set(table.rule) and table.status.str.startswith("not applied").any()

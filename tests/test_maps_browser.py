"""The exported maps, index, summary and Sankey pages in a real browser (headless Debian Chromium), offline,
on a desktop (1440x900) and a touch phone (390x844).

The session's one ``geo-almaty run`` on the embedded data (``main_run`` in conftest) and one small map
built from a user catalog (a tiny world whose names are markup, quotes, «» and Kazakh letters, with
synthetic settlements and rivers) are opened from ``file://`` with all other requests aborted, so the
tests also prove the pages need no network (basemap tiles aside). Screenshots of every page, viewport and
language go to ``test-artifacts/``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from pyproj import Transformer

from .browser import CHROMIUM, VIEWPORTS, open_offline

pytestmark = [pytest.mark.browser]

if not CHROMIUM.is_file():
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (set GEO_ALMATY_CHROMIUM to use another one)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed (pip install playwright)")
PlaywrightTimeout = sync_api.TimeoutError

from geo_almaty import settings  # noqa: E402
from geo_almaty.allocate import load_allocation_specs  # noqa: E402
from geo_almaty.catalog import load_catalog  # noqa: E402
from geo_almaty.i18n import messages  # noqa: E402
from geo_almaty.i18n import text as message  # noqa: E402
from geo_almaty.select import district_names  # noqa: E402
from geo_almaty.layers import load_layers  # noqa: E402
from geo_almaty.locate.outputs import district_site_table, locate_layers  # noqa: E402
from geo_almaty.pipeline import load_inputs, score_facility  # noqa: E402
from geo_almaty.render.citizen import build_citizen_map  # noqa: E402
from geo_almaty.render.maps import save_map  # noqa: E402
from geo_almaty.render.planner import build_planner_map  # noqa: E402
from geo_almaty.render.recipes import load_recipe  # noqa: E402

from .synthetic import CX, CY, HALF, _write, box, pt, tiny_world, write_profile  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"
KAZAKH = "ә ғ қ ң ө ұ ү һ і"
TO_LONLAT = Transformer.from_crs(settings.ANALYSIS_CRS, settings.GEOGRAPHIC_CRS, always_xy=True)


# --- fixtures: outputs built once -----------------------------------------------------------------

@pytest.fixture(scope="module")
def run(main_run):
    """``geo-almaty run`` on the embedded data, in Russian (the session's one run)."""
    return main_run


@pytest.fixture(scope="module")
def recipes():
    return {name: load_recipe(name) for name in ("planner", "citizen")}


@pytest.fixture(scope="module")
def embedded_layers(recipes):
    """The embedded catalog's layers the maps draw, read independently of the map code."""
    catalog = load_catalog(None)
    names = {item["layer"] for r in recipes.values() for item in r.get("layers", [])} | {"districts"}
    return load_layers(catalog, sorted(n for n in names if catalog.has_data(n)))


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory):
    """Planner and citizen maps of the tiny world, with names that are markup, quotes, «» and Kazakh letters."""
    folder = tmp_path_factory.mktemp("hostile")
    catalog_path = tiny_world(folder)
    src = {"source": 'survey "2024" «полевой» ' + KAZAKH, "accuracy_m": 1.0}
    x0, y0, x1, y1 = CX - HALF, CY - HALF, CX + HALF, CY + HALF
    names = {
        "west": {"name_ru": EVIL, "name_kk": EVIL, "name_en": EVIL},
        "east": {"name_ru": 'Восточный «Шығыс» "кавычки"', "name_kk": f"Шығыс {KAZAKH}", "name_en": "East 'quoted' & co"},
        "market_evil": {"name_ru": EVIL},
        "market_kk": {"name_ru": "Барахолка «Көк базар» 'ә'", "name_kk": f"Көк базар {KAZAKH}"},
        "producer_evil": {"name_ru": EVIL},
        "producer_kk": {"name_ru": 'Пищекомбинат «Әл-Фараби» "Ғ"', "name_kk": f"Тағам {KAZAKH}"},
    }
    _write(folder / "districts.geojson", [
        ({"district_id": "west", **names["west"], "population": 100000, "population_year": 2024, **src}, box(x0, y0, CX, y1)),
        ({"district_id": "east", **names["east"], "population": 300000, "population_year": 2024, **src}, box(CX, y0, x1, y1)),
    ])
    # The hostile market stands alone in the north-east so a real mouse can reach it.
    _write(folder / "markets.geojson", [
        ({"market_id": "m_evil", "class": "food_market", **names["market_evil"], **src}, pt(CX + 1375, CY + 1375)),
        ({"market_id": "m_kk", "class": "bazaar", **names["market_kk"], **src}, pt(CX - 1375, CY - 1375)),
    ])
    _write(folder / "organic_producers.geojson", [
        ({"producer_id": "p_evil", "class": "poultry_farm", **names["producer_evil"], "size_weight": 1.0, **src}, pt(CX + 1375, CY - 1375)),
        ({"producer_id": "p_kk", "class": "food_processor", **names["producer_kk"], "tonnage_t_yr": 1000.0, **src}, pt(CX - 1375, CY + 1375)),
    ])
    # Settlements and rivers (the geo stream adds them to the embedded catalog; defined here if it has not yet).
    _write(folder / "settlements.geojson", [
        ({"settlement_id": "s_evil", "name_ru": EVIL, "place": "village", **src}, pt(CX - 600, CY - 1500)),
        ({"settlement_id": "s_kk", "name_ru": "Аул «Көк-Төбе»", "name_kk": f"Көктөбе {KAZAKH}", "place": "town", "population": 12000, **src}, pt(CX + 600, CY + 1500)),
    ])
    _write(folder / "rivers.geojson", [
        ({"river_id": "r1", "name_ru": "река «Есентай» <b>", "name_kk": "Есентай өзені", "class": "river", **src},
         {"type": "LineString", "coordinates": [[CX - 1900, CY - 1000], [CX, CY - 900], [CX + 1900, CY - 1100]]}),
        ({"river_id": "r2", "class": "stream", **src}, {"type": "LineString", "coordinates": [[CX - 1900, CY + 900], [CX + 1900, CY + 950]]}),
    ])
    document = yaml.safe_load(catalog_path.read_text(encoding="utf-8"))
    document["layers"]["markets"]["source"] = {"path": "markets.geojson"}
    names_columns = {f"name_{lang}": {"type": "str"} for lang in settings.LANGUAGES}
    context = {"source": {"type": "str"}, "accuracy_m": {"type": "float"}}
    document["layers"].setdefault("settlements", {
        "title": {"ru": "Населённые пункты", "kk": "Елді мекендер", "en": "Settlements"}, "role": "context", "geometry": "point",
        "id_column": "settlement_id", "columns": {"settlement_id": {"type": "str", "required": True}, **names_columns, "place": {"type": "str"},
                                                  "population": {"type": "float"}, "oblast_district": {"type": "str"}, **context}})
    document["layers"].setdefault("rivers", {
        "title": {"ru": "Реки", "kk": "Өзендер", "en": "Rivers"}, "role": "context", "geometry": "line", "id_column": "river_id",
        "columns": {"river_id": {"type": "str", "required": True}, **names_columns, "class": {"type": "str"}, **context}})
    document["layers"]["settlements"]["source"] = {"path": "settlements.geojson"}
    document["layers"]["rivers"]["source"] = {"path": "rivers.geojson"}
    catalog_path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")

    # A user profile standing in for the composting hub (the shipped one needs layers the tiny world lacks).
    profile_path = write_profile(folder, "composting_hub", [
        {"id": "producers", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 2},
        {"id": "markets", "type": "distance", "layer": "markets", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1},
    ], selection={"top_n": 3})
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
    profile["title"] = {"ru": f'Хаб «Тест» "кавычки" {KAZAKH}', "kk": f"Хаб {KAZAKH}", "en": "Hub 'test' & <b>bold</b>"}
    profile["criteria"][0]["label"] = {"ru": "Расстояние до «фермы» <i>x</i>", "kk": f"Қашықтық {KAZAKH}", "en": 'Distance to "farms" <i>x</i>'}
    profile_path.write_text(yaml.safe_dump(profile, allow_unicode=True, sort_keys=False), encoding="utf-8")

    inputs = load_inputs(catalog_path, 250)
    outcomes = {"composting_hub": score_facility(inputs, profile_path)}
    specs = set(load_allocation_specs())
    planner = save_map(build_planner_map(load_recipe("planner", inputs.catalog, specs), inputs, outcomes, "ru"), folder / "planner_map.html", "ru")
    citizen = save_map(build_citizen_map(load_recipe("citizen", inputs.catalog, specs), inputs, outcomes, "ru"), folder / "citizen_map.html", "ru")
    lonlat = {key: TO_LONLAT.transform(x, y) for key, (x, y) in
              {"market_evil": (CX + 1375, CY + 1375), "west": (CX - 1000, CY - 700), "east": (CX + 1000, CY + 700)}.items()}
    return {"planner": planner, "citizen": citizen, "names": names, "lonlat": lonlat, "outcomes": outcomes, "profile": profile}


# --- expectations from the run's own outputs ----------------------------------------------------

def site_lonlats(outcome) -> list[tuple[float, float]]:
    """(lon, lat) of the chosen sites, in rank order."""
    idx = outcome.selection.candidate.to_numpy()
    lon, lat = TO_LONLAT.transform(outcome.result.candidates.x[idx], outcome.result.candidates.y[idx])
    return list(zip(np.atleast_1d(lon).tolist(), np.atleast_1d(lat).tolist()))


def drawn_features(frame) -> int:
    """Leaflet draws one path per (multi)polygon or line and one circle marker per point."""
    geoms = [g for g in frame.geometry if g is not None and not g.is_empty]
    return sum(len(g.geoms) if g.geom_type == "MultiPoint" else 1 for g in geoms)


def visible_text(locator) -> str:
    return " ".join(locator.inner_text().split())


def same_points(actual: list[list[float]], expected: list[tuple[float, float]], tol: float = 2e-5) -> bool:
    """Marker (lat, lon) lists equal as multisets, to ``tol`` degrees."""
    remaining = [(lat, lon) for lon, lat in expected]
    for lat, lon in actual:
        hit = next((i for i, (a, b) in enumerate(remaining) if abs(a - lat) < tol and abs(b - lon) < tol), None)
        if hit is None:
            return False
        remaining.pop(hit)
    return not remaining


def numbers_in(text: str) -> list[float]:
    return [float(n.replace(",", ".")) for n in re.findall(r"\d+[.,]\d+", text)]


def overlay_labels(page) -> list[str]:
    """The layer control's overlay labels, in Russian."""
    return page.js("() => Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
                   ".map(l => (l.querySelector('.t-ru') || l).textContent.trim())")


def overlay_index(page, *parts: str, without: str | None = None) -> int:
    """Index of the one overlay whose Russian label contains every one of ``parts`` (and not ``without``)."""
    labels = overlay_labels(page)
    hits = [i for i, label in enumerate(labels) if all(p in label for p in parts) and not (without and without in label)]
    assert len(hits) == 1, f"expected one overlay labelled with {parts} (without {without!r}), found {len(hits)} in {labels}"
    return hits[0]


def overlay_checkbox(page, index: int):
    return page.page.locator(".leaflet-control-layers-overlays label").nth(index).locator("input")


def toggle_twice(page, index: int, selector: str, features: int) -> None:
    """Click overlay ``index`` twice: ``features`` elements matching ``selector`` go (or come), then the map is as before."""
    checkbox = overlay_checkbox(page, index)
    before, shown = page.count(selector), checkbox.is_checked()
    checkbox.click()
    assert checkbox.is_checked() != shown
    after = page.count(selector)
    assert after == (before - features if shown else before + features), \
        f"overlay {index} {'hidden' if shown else 'shown'}: {before} → {after} '{selector}', expected a change of {features}"
    checkbox.click()
    assert checkbox.is_checked() == shown and page.count(selector) == before


def expand_layer_control(page) -> None:
    control = page.page.locator(".leaflet-control-layers").first
    control.hover()
    page.page.wait_for_selector(".leaflet-control-layers-expanded", timeout=5_000)


# --- planner map -----------------------------------------------------------------------------------

VIEWPORT_NAMES = ("desktop", "phone")


def visible_labels(page, css: str, city_view: bool = False) -> list[str]:
    """Texts of the offline base's labels of one kind that are drawn (not culled) on the main map.

    ``city_view`` first shows the city at zoom 11: sites spread over the oblast make the first view
    so wide that districts are too small to name, and that is right.
    """
    if city_view:
        page.js("() => GA.map.setView([43.25, 76.90], 11, {animate: false})")
    return page.js("""css => Array.from(document.querySelectorAll('.leaflet-pane ' + css + ' .ga-label-text'))
        .filter(e => getComputedStyle(e).visibility !== 'hidden' && e.getBoundingClientRect().width > 0)
        .map(e => e.innerText.trim())""", css)


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_planner_map_offline_draws_sites_clear_of_panels_and_labels_districts(run, recipes, embedded_layers, browser, viewport):
    recipe = recipes["planner"]
    with open_offline(browser, run.maps[0], viewport=viewport) as page:
        page.screenshot(f"planner_map_{viewport}.png")
        markers = page.count("img.leaflet-marker-icon")
        marker_points = page.js("() => gaTest.markerLatLngs()")
        images = page.js("() => Array.from(document.querySelectorAll('img.leaflet-image-layer')).map(i => [i.src.slice(0, 22), i.naturalWidth])")
        problems = {f["facility"]: page.js("f => gaTest.pinProblems(f)", f["facility"]) for f in recipe["facilities"]}
        districts = visible_labels(page, ".ga-label-district", city_view=True)
        minimap = page.js("() => Array.from(document.querySelectorAll('.leaflet-control-minimap')).some(gaTest.shown)")
        scale = page.js("() => document.querySelector('.leaflet-control-scale').innerText")
        page.assert_clean()
    expected_sites = [p for f in recipe["facilities"] if f["facility"] in run.outcomes for p in site_lonlats(run.outcomes[f["facility"]])]
    assert markers == len(expected_sites) == sum(len(o.selection) for o in run.outcomes.values())
    assert same_points(marker_points, expected_sites), "the markers are not at the chosen sites"
    assert images and all(src.startswith("data:image/png") and width > 0 for src, width in images), images
    assert not any(problems.values()), problems
    names = set(embedded_layers["districts"]["name_ru"])
    assert sum(any(n.startswith(label) for n in names) for label in set(districts)) >= 3, f"district labels drawn offline: {districts}"
    assert not minimap, "the minimap shows although it has no tiles (offline)"
    assert "км" in scale and "mi" not in scale and "ft" not in scale, scale


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_planner_popup_opens_above_every_control_with_id_and_coordinates(run, browser, viewport):
    outcome = run.outcomes["composting_hub"]
    labels = [c["label"] for c in outcome.profile.criteria if c.get("weight", 1)]
    with open_offline(browser, run.maps[0], viewport=viewport) as page:
        site = page.tag_clear_marker(site_lonlats(outcome))
        score = float(outcome.selection.score.iloc[site])
        popup = page.open_tagged_popup(f"planner_popup_{viewport}.png")
        assert page.popup_cover() == [], f"controls or panels cover the popup: {page.popup_cover()[:5]}"
        text = visible_text(popup)
        assert outcome.profile.title["ru"] in text
        assert message("score", "ru") in text and any(abs(n - score) < 0.0051 for n in numbers_in(text)), f"score {score:.3f} not in: {text}"
        candidate = outcome.result.candidates.labels()[outcome.selection.candidate.iloc[site]]
        lon, lat = site_lonlats(outcome)[site]
        assert candidate in text and f"{lat:.5f}, {lon:.5f}" in text, "the popup lacks the candidate id or the coordinates"
        assert message("reach_overlaps", "ru") in text
        assert popup.locator("table").count() >= 1 and any(label["ru"] in text for label in labels)

        page.set_language("en")
        assert popup.is_visible(), "switching the language closed the popup"
        text = visible_text(popup)
        assert outcome.profile.title["en"] in text and message("criterion", "en") in text and message("score", "en") in text
        assert message("criterion", "ru") not in text and outcome.profile.title["ru"] not in text, "Russian text still visible in English"
        page.set_language("kk")
        text = visible_text(popup)
        assert outcome.profile.title["kk"] in text and message("score", "kk") in text and outcome.profile.title["en"] not in text
        page.assert_clean()


def legend_state(page) -> dict:
    """Legend sections shown, and the keys of the registered layers on the map."""
    page.page.wait_for_function("() => document.getElementById('ga-sheet').getAttribute('data-legend-synced')")
    page.js("() => GA.syncLegend()")
    return page.js("""() => ({
        shown: Array.from(document.querySelectorAll('[data-legend-key]')).filter(e => !e.hidden).map(e => e.getAttribute('data-legend-key')),
        on: Object.keys(GA.layers).filter(k => GA.map.hasLayer(GA.layers[k]))})""")


def open_panel(page) -> None:
    if page.js("() => !document.getElementById('ga-sheet').classList.contains('ga-open')"):
        page.page.locator(".ga-sheet-toggle").click()


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_legend_follows_the_visible_layers_and_never_covers_the_layer_list(run, recipes, browser, viewport):
    allocation = recipes["planner"]["choropleths"][1]["allocation"]
    title = load_allocation_specs()[allocation]["title"]["ru"]
    with open_offline(browser, run.maps[0], viewport=viewport) as page:
        state = legend_state(page)
        assert sorted(state["shown"]) == sorted(k for k in state["on"] if page.js("k => !!document.querySelector(`[data-legend-key=\"${k}\"]`)", k))
        assert f"flow:{allocation}" not in state["shown"]
        open_panel(page)
        expand_layer_control(page)
        overlay_checkbox(page, overlay_index(page, title)).click()
        page.page.wait_for_function("k => !document.querySelector(`[data-legend-key=\"${k}\"]`).hidden", arg=f"flow:{allocation}")
        assert f"flow:{allocation}" in legend_state(page)["shown"]
        page.screenshot(f"planner_layers_and_legend_{viewport}.png")
        overlap = page.js("""() => {
            const list = document.querySelector('.leaflet-control-layers-expanded');
            const legend = document.querySelector('.ga-legend');
            if (!list || !gaTest.shown(list)) { return 'layer list not open'; }
            if (!gaTest.shown(legend)) { return null; }
            return gaTest.overlap(gaTest.box(list), gaTest.box(legend)) ? [gaTest.box(list), gaTest.box(legend)] : null; }""")
        assert overlap is None, f"legend and open layer list overlap: {overlap}"
        overlay_checkbox(page, overlay_index(page, title)).click()
        page.page.wait_for_function("k => document.querySelector(`[data-legend-key=\"${k}\"]`).hidden", arg=f"flow:{allocation}")
        page.assert_clean()


def test_legend_gives_each_choropleth_its_own_classes(run, browser):
    with open_offline(browser, run.maps[0]) as page:
        page.js("() => Object.keys(GA.layers).forEach(k => GA.map.addLayer(GA.layers[k]))")
        rows = page.js("""() => Array.from(document.querySelectorAll('[data-legend-key^="flow:"]')).map(s =>
            Array.from(s.querySelectorAll('.ga-legend-row')).map(r => [r.querySelector('.ga-sym').getAttribute('data-colour'), r.innerText.trim()]))""")
        page.assert_clean()
    assert rows and all(rows), rows
    colours = [c for section in rows for c, _ in section]
    assert len(colours) == len(set(colours)), "two choropleths share a colour"
    assert not [t for section in rows for _, t in section if re.match(r"^0 \S+ – 0 ", t)], "an empty '0 – 0' class"


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_ranked_site_list_zooms_to_the_site_and_opens_its_popup(run, browser, viewport):
    outcome = run.outcomes["material_bank"]
    lon, lat = site_lonlats(outcome)[1]
    with open_offline(browser, run.maps[0], viewport=viewport) as page:
        open_panel(page)
        page.page.locator("details.ga-sites").nth(1).locator("summary").click()
        page.page.locator('[data-site-facility="material_bank"][data-site-rank="2"]').click()
        popup = page.popup()
        popup.wait_for(state="visible", timeout=5_000)
        page.settle()
        assert "#2" in visible_text(popup) and f"{lat:.5f}, {lon:.5f}" in visible_text(popup)
        x, y = page.js("([lat, lon]) => gaTest.containerPoint(lat, lon)", [lat, lon])
        assert 0 <= x <= VIEWPORTS[viewport]["viewport"]["width"] and 0 <= y <= VIEWPORTS[viewport]["viewport"]["height"]
        assert page.js("() => GA.map.getZoom()") >= 14
        assert page.popup_cover() == []
        page.screenshot(f"planner_site_list_{viewport}.png")
        page.page.locator('.ga-info-close:visible, .leaflet-popup-close-button:visible').first.click()
        page.page.wait_for_function("() => !document.querySelector('.leaflet-popup') && document.getElementById('ga-info').hidden")
        open_panel(page)
        page.page.locator('[data-fit-facility="material_bank"]').click()
        assert page.js("() => gaTest.pinProblems('material_bank')") == []
        page.assert_clean()


def test_planner_layer_control_toggles_features_markers_and_surfaces(run, recipes, embedded_layers, browser):
    catalog = load_catalog(None)
    producers = catalog.layer("organic_producers").title["ru"]
    districts = len(embedded_layers["districts"])
    composting = run.outcomes["composting_hub"]
    with open_offline(browser, run.maps[0]) as page:
        expand_layer_control(page)
        assert overlay_checkbox(page, overlay_index(page, producers)).is_checked()
        toggle_twice(page, overlay_index(page, producers), "path.leaflet-interactive", drawn_features(embedded_layers["organic_producers"]))
        title, suitability = composting.profile.title["ru"], message("suitability", "ru")
        top = message("top_n", "ru").format(n=len(composting.selection))
        toggle_twice(page, overlay_index(page, title, top), "img.leaflet-marker-icon", len(composting.selection))
        toggle_twice(page, overlay_index(page, title, suitability), "img.leaflet-image-layer", 1)
        allocation = recipes["planner"]["choropleths"][0]["allocation"]
        toggle_twice(page, overlay_index(page, load_allocation_specs()[allocation]["title"]["ru"]), "path.leaflet-interactive", districts)
        assert not [label for label in overlay_labels(page) if re.search(r"\btop\b", label)], "English 'top' in a Russian layer name"
        page.assert_clean()


def test_measure_tool_gives_metric_distance_in_the_page_language(run, browser):
    with open_offline(browser, run.maps[0]) as page:
        page.page.locator(".ga-measure-button").click()
        box = page.js("() => gaTest.box(GA.map.getContainer())")
        cx, cy = (box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2
        for dx, dy in ((-120, 40), (120, 40), (0, -100)):
            page.page.mouse.click(cx + dx, cy + dy)
        text = visible_text(page.page.locator(".ga-measure-panel"))
        # visible_text folds the thin-space thousands separator (U+202F) into a plain space
        assert re.search(r"Расстояние: \d{1,3}([\u202f ]\d{3})*(,\d+)?\s?км", text) and re.search(r"Площадь: \d{1,3}([\u202f ]\d{3})*(,\d+)?\s?(га|км²)", text), text
        page.set_language("kk")
        assert "Қашықтық" in visible_text(page.page.locator(".ga-measure-panel"))
        page.page.locator(".ga-measure-done").click()
        page.assert_clean()


# --- citizen map -----------------------------------------------------------------------------------

def test_citizen_map_is_small(run, recipes):
    size = run.maps[1].stat().st_size
    assert size <= min(2_000_000, recipes["citizen"].get("max_bytes", 2_000_000)), f"citizen map is {size / 1e6:.2f} MB"


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_citizen_map_one_tap_per_facility_refits_every_pin_clear_of_panels(run, recipes, browser, viewport):
    recipe = recipes["citizen"]
    with open_offline(browser, run.maps[1], viewport=viewport) as page:
        assert page.page.locator("[data-facility]").count() == len(recipe["facilities"])
        assert page.js("f => gaTest.pinProblems(f)", recipe["facilities"][0]["facility"]) == []
        assert len(visible_labels(page, ".ga-label-district", city_view=True)) >= 3
        for item in recipe["facilities"]:
            outcome = run.outcomes[item["facility"]]
            page.page.locator(f'[data-facility="{item["facility"]}"]').click()
            assert page.count("img.leaflet-marker-icon") == len(outcome.selection), item["facility"]
            assert same_points(page.js("() => gaTest.markerLatLngs()"), site_lonlats(outcome)), item["facility"]
            assert page.js("f => gaTest.pinProblems(f)", item["facility"]) == [], item["facility"]
            page.screenshot(f"citizen_{item['facility']}_{viewport}.png")
        page.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_citizen_popup_leads_with_the_place_and_carries_the_badge(run, recipes, browser, viewport):
    recipe = recipes["citizen"]
    item = recipe["facilities"][1]
    outcome = run.outcomes[item["facility"]]
    plain = item.get("plain") or outcome.profile.summary
    headline = item.get("headline") or outcome.profile.title
    districts = district_names(run.inputs.study)
    with open_offline(browser, run.maps[1], viewport=viewport) as page:
        page.page.locator(f'[data-facility="{item["facility"]}"]').click()
        site = page.tag_clear_marker(site_lonlats(outcome))
        popup = page.open_tagged_popup(f"citizen_popup_{viewport}.png")
        assert page.popup_cover() == [], page.popup_cover()[:5]
        first_line = popup.locator("h3").inner_text()
        district = districts[outcome.selection.district_id.iloc[site]]["ru"]
        assert district in first_line, f"the popup does not lead with the place: {first_line!r}"
        text = visible_text(popup)
        assert headline["ru"] in text and plain["ru"] in text and message("why_line", "ru") in text
        assert message("proposal_badge", "ru") in visible_text(popup.locator(".ga-badge"))
        assert popup.locator("table").count() == 0, "the citizen popup should be plain text, not a criterion table"
        page.set_language("en")
        text = visible_text(popup)
        assert headline["en"] in text and plain["en"] in text and plain["ru"] not in text and message("proposal_badge", "en") in text
        page.set_language("kk")
        assert plain["kk"] in visible_text(popup)
        page.assert_clean()


# --- the location-allocation on the maps ------------------------------------------------------------

FIT_CIRCLES = """key => {
    const circles = [];
    (function walk(l) { if (l instanceof L.CircleMarker) { circles.push(l); } else if (l.eachLayer) { l.eachLayer(walk); } })(GA.layers[key]);
    GA.map.closePopup();
    GA.fit(L.latLngBounds(circles.map(c => c.getLatLng())));
    return circles.length;
}"""

TAG_CLEAR_CIRCLE = """([key, attr]) => {
    document.querySelectorAll('[' + attr + ']').forEach(e => e.removeAttribute(attr));
    const circles = [];
    (function walk(l) { if (l instanceof L.CircleMarker) { circles.push(l); } else if (l.eachLayer) { l.eachLayer(walk); } })(GA.layers[key]);
    for (const c of circles) {
        const r = c._path.getBoundingClientRect();
        if (r.width && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === c._path) {
            c._path.setAttribute(attr, '1');
            return [c.getLatLng().lat, c.getLatLng().lng];
        }
    }
    return circles.map(c => { const r = c._path.getBoundingClientRect();
        const e = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return [Math.round(r.left), Math.round(r.top), e ? e.tagName + '.' + e.className.baseVal + e.className + '#' + e.id : null]; });
}"""


def open_located_popup(page, key: str, screenshot: str):
    """Fit the map to the located sites of layer ``key``, click one no panel covers and return its popup."""
    assert page.js(FIT_CIRCLES, key) > 0
    page.page.wait_for_timeout(400)  # the fit's animation
    page.settle()
    latlng = page.js(TAG_CLEAR_CIRCLE, [key, "data-test-located"])
    assert latlng and not isinstance(latlng[0], list), f"every located site of {key} is covered: {latlng}"
    return page.open_tagged_popup(screenshot, attr="data-test-located"), latlng


def served_names(outcome, lang: str) -> set[str]:
    """Names of the districts the located sites serve."""
    table = district_site_table(outcome, lang)
    return set(table[table.site_id != "unserved"].district)


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_planner_shows_located_sites_catchments_and_links_with_legends_and_popups(run, browser, viewport):
    assert run.maps[0].stat().st_size <= 6_000_000, f"planner map is {run.maps[0].stat().st_size / 1e6:.2f} MB"
    facility = "composting_hub"
    outcome = run.located[facility]
    layers = locate_layers(outcome, "ru")
    title = outcome.profile.title
    with open_offline(browser, run.maps[0], viewport=viewport) as page:
        open_panel(page)
        expand_layer_control(page)
        sites = overlay_index(page, message("locate_map_sites", "ru").format(facility=title["ru"]))
        catchments = overlay_index(page, message("locate_map_catchments", "ru").format(facility=title["ru"]))
        links = overlay_index(page, message("locate_map_links", "ru").format(facility=title["ru"]))
        assert overlay_checkbox(page, sites).is_checked() and not overlay_checkbox(page, catchments).is_checked()
        toggle_twice(page, sites, "path.leaflet-interactive", len(layers["sites"]))
        toggle_twice(page, catchments, "path.leaflet-interactive", int((layers["catchments"].site_id != "unserved").sum()))
        toggle_twice(page, links, "path.leaflet-interactive", len(layers["links"]))
        overlay_checkbox(page, catchments).click()
        state = legend_state(page)
        assert {f"located_sites:{facility}", f"located_catchments:{facility}"} <= set(state["shown"])
        assert f"located_links:{facility}" not in state["shown"], "the legend shows a layer that is off"
        overlay_checkbox(page, catchments).click()  # off again: the catchments are drawn over the sites they serve
        page.js("() => document.querySelectorAll('.leaflet-control-layers').forEach(c => c.classList.remove('leaflet-control-layers-expanded'))")
        if viewport == "phone" and page.js("() => document.getElementById('ga-sheet').classList.contains('ga-open')"):
            page.page.locator(".ga-sheet-toggle").click()  # the sheet covers most of a phone's map
        popup, _ = open_located_popup(page, f"located_sites:{facility}", f"planner_located_popup_{viewport}.png")
        assert page.popup_cover() == [], f"controls or panels cover the popup: {page.popup_cover()[:5]}"
        text = visible_text(popup)
        assert message("locate_map_serves", "ru") in text and title["ru"] in text
        assert any(name in text for name in served_names(outcome, "ru")), f"no served district in: {text}"
        page.set_language("en")
        text = visible_text(popup)
        assert message("locate_map_serves", "en") in text and message("locate_map_serves", "ru") not in text
        page.assert_clean()


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_citizen_located_site_popup_says_which_districts_it_would_serve(run, recipes, browser, viewport):
    item = recipes["citizen"]["facilities"][1]
    outcome = run.located[item["facility"]]
    with open_offline(browser, run.maps[1], viewport=viewport) as page:
        page.page.locator(f'[data-facility="{item["facility"]}"]').click()
        assert page.count("path.leaflet-interactive") >= len(outcome.site_location)
        popup, _ = open_located_popup(page, f"sites:{item['facility']}", f"citizen_located_popup_{viewport}.png")
        assert page.popup_cover() == [], page.popup_cover()[:5]
        text = visible_text(popup)
        assert message("locate_map_serves", "ru") in text, text
        assert any(name in text for name in served_names(outcome, "ru")), f"no served district in: {text}"
        assert message("proposal_badge", "ru") in visible_text(popup.locator(".ga-badge"))
        page.set_language("kk")
        text = visible_text(popup)
        assert message("locate_map_serves", "kk") in text and any(name in text for name in served_names(outcome, "kk"))
        other = recipes["citizen"]["facilities"][0]["facility"]
        page.js("() => GA.map.closePopup()")  # on a phone the popup sheet covers the chips
        page.page.locator(f'[data-facility="{other}"]').click()
        assert page.js("k => GA.map.hasLayer(GA.layers[k])", f"sites:{item['facility']}") is False, "located sites stay after a tap elsewhere"
        page.assert_clean()


# --- every page: titles, translations, language across pages, touch targets, screenshots -------------

PAGES = ("index", "summary", "planner", "citizen", "sankey")


def page_paths(run) -> dict[str, Path]:
    return {"index": run.index, "summary": run.summary_page, "planner": run.maps[0], "citizen": run.maps[1], "sankey": run.sankeys[0]}


def wait_for(name: str) -> str:
    return "html[data-ga-ready]" if name in ("planner", "citizen") else "body"


def english_ui_strings(run) -> list[str]:
    """English interface strings that must not show in a Russian or Kazakh page."""
    strings = {v["en"] for k, v in messages().items() if v["en"] != v["ru"] and len(v["en"]) >= 4 and not k.startswith("unit_")}
    catalog = load_catalog(None)
    strings |= {spec.title["en"] for spec in catalog.layers.values() if spec.title.get("en")}
    strings |= {o.profile.title["en"] for o in run.outcomes.values()}
    strings |= {"Zoom in", "Zoom out", "Full Screen", "Exit Full Screen", "Layers", "Measure distances and areas",
                "Create a new measurement", "No basemap", "OpenStreetMap.Mapnik", "Esri.WorldImagery", "proxy", "accuracy_m",
                "tonnage_t_yr", "size_weight", "t/yr", "kt/yr", "table rows", "top 10", "top 8"}
    return sorted(strings)


SCAN_UI = """() => {
    const hidden = Array.from(document.querySelectorAll('.ga-data'));
    hidden.forEach(e => { e.dataset.display = e.style.display; e.style.display = 'none'; });
    const out = [document.title, document.body.innerText];
    document.querySelectorAll('[title], [aria-label], [alt], [placeholder]').forEach(e => {
        if (e.closest('.ga-data') || !(e.getClientRects().length)) { return; }
        ['title', 'aria-label', 'alt', 'placeholder'].forEach(a => { if (e.getAttribute(a)) { out.push(e.getAttribute(a)); } });
    });
    hidden.forEach(e => { e.style.display = e.dataset.display; });
    return out.join('\\n');
}"""


TARGETS = """() => Array.from(document.querySelectorAll(
    'button, .leaflet-bar a, .leaflet-control-layers-toggle, summary, .ga-index-link, .leaflet-control-layers-expanded label'))
    .filter(e => gaTest.shown(e) && getComputedStyle(e).visibility !== 'hidden')
    .map(e => { const r = e.getBoundingClientRect(); return [e.tagName + '.' + e.className + ' ' + (e.innerText || e.title || '').slice(0, 30), Math.round(r.width), Math.round(r.height)]; })
    .filter(([, w, h]) => w < 44 || h < 44)"""


OPEN_FIRST_POPUP = """k => {
    const group = GA.layers[k];
    GA.map.closePopup();
    GA.map.addLayer(group);
    let done = false;
    (function visit(l) {
        if (done) { return; }
        if (l.getPopup && l.getPopup()) { l.openPopup(); done = true; } else if (l.eachLayer) { l.eachLayer(visit); }
    })(group);
}"""


def run_allocation(run) -> str:
    """The first choropleth's allocation (its popup names the proxy and the report lines)."""
    return load_recipe("planner")["choropleths"][0]["allocation"]


def english_found(text: str, strings: list[str]) -> list[str]:
    found = [s for s in strings if re.search(r"(?<![\\w])" + re.escape(s) + r"(?![\\w])", text)]
    found += re.findall(r"\b\d+ (?:mi|ft)\b", text)
    return found


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_every_page_has_a_title_and_no_english_ui_string_in_russian_or_kazakh(run, browser, viewport):
    """Also writes a screenshot of every page in every language to test-artifacts/ and, on the phone,
    checks that every touch target (buttons, map controls, layer rows, the popup sheet's close) is at least 44 px."""
    strings = english_ui_strings(run)
    problems, small = {}, {}
    for name, path in page_paths(run).items():
        with open_offline(browser, path, viewport=viewport, wait_for=wait_for(name)) as page:
            for lang in settings.LANGUAGES:
                page.set_language(lang)
                assert page.screenshot(f"page_{name}_{viewport}_{lang}.png").stat().st_size > 1000
                title = page.js("() => document.title")
                assert title.strip(), f"{name} has no <title>"
                if lang == "en":
                    continue
                texts, targets = [page.js(SCAN_UI)], page.js(TARGETS)
                if name in ("planner", "citizen"):
                    open_panel(page)
                    texts.append(page.js(SCAN_UI))
                    targets += page.js(TARGETS)
                    if name == "planner":
                        expand_layer_control(page)
                        texts.append(page.js(SCAN_UI))
                        targets += page.js(TARGETS)
                        page.js("() => document.querySelector('.leaflet-control-layers').classList.remove('leaflet-control-layers-expanded')")
                        for key in ("layer:organic_producers", "layer:districts", f"flow:{run_allocation(run)}"):
                            page.js(OPEN_FIRST_POPUP, key)
                            texts.append(page.js(SCAN_UI))
                    page.js("() => { GA.map.closePopup(); GA.zoomToSite('composting_hub', 1); }")
                    texts.append(page.js(SCAN_UI))
                    targets += page.js(TARGETS)
                    page.js("() => { GA.map.closePopup(); GA.fit(L.latLngBounds(GA.config.home)); }")
                found = english_found("\n".join(texts), strings)
                if found:
                    problems[f"{name} ({lang}, {viewport})"] = found
                if viewport == "phone" and targets:
                    small[name] = targets[:8]
            page.assert_clean()
    assert not problems, problems
    assert not small, f"touch targets under 44 px: {small}"


def test_the_language_survives_a_page_change_and_pages_link_back(run, browser):
    with open_offline(browser, run.index, wait_for="body") as page:
        page.set_language("kk")
        page.page.locator(f'a[href^="{run.maps[1].name}"]').first.click()
        page.page.wait_for_selector("html[data-ga-ready]")
        assert page.js("() => document.documentElement.getAttribute('data-lang')") == "kk", "the language was lost on the way to the map"
        page.page.locator("a.ga-index-link").first.click()
        page.page.wait_for_selector("body")
        assert page.page.url.split("?")[0].endswith("index.html")
        assert page.js("() => document.documentElement.getAttribute('data-lang')") == "kk"
        # A page opened afresh (no ?lang=) takes the last choice from local storage.
        page.page.goto(run.sankeys[0].as_uri())
        assert page.js("() => document.documentElement.getAttribute('data-lang')") == "kk"
        assert page.page.locator("a.ga-index-link").count() == 1
        page.assert_clean()





# --- index, summary and Sankey pages ------------------------------------------------------------------

def test_index_page_works_offline_and_links_every_output(run, browser):
    with open_offline(browser, run.index, wait_for="body") as page:
        hrefs = page.js("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href').split('?')[0].split('#')[0])")
        text_ru = visible_text(page.page.locator("body"))
        page.set_language("en")
        text_en = visible_text(page.page.locator("body"))
        page.assert_clean()
    root = run.index.parent
    assert {p.relative_to(root).as_posix() for p in run.maps + run.sankeys + [run.summary_page]} <= set(hrefs)
    assert all((root / h).is_file() for h in hrefs if not h.startswith(("http:", "https:", "#"))), hrefs
    assert run.outcomes["composting_hub"].profile.title["ru"] in text_ru
    assert run.outcomes["composting_hub"].profile.title["en"] in text_en and run.outcomes["composting_hub"].profile.title["ru"] not in text_en
    assert message("reach_overlaps", "ru") in text_ru


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_sankey_page_draws_every_diagram_offline_with_tabs_and_tap_values(run, browser, viewport):
    path = run.sankeys[0]
    assert path.stat().st_size < 1_000_000
    with open_offline(browser, path, viewport=viewport, wait_for="svg.ga-sankey-svg") as page:
        layout = "wide" if viewport == "desktop" else "narrow"
        svgs = page.js(f"() => Array.from(document.querySelectorAll('div.ga-sankey-{layout}')).filter(e => e.getBoundingClientRect().width > 0).length")
        assert svgs == 1, "one diagram (the first tab) is shown, in the layout that fits the screen"
        tabs = page.page.locator("[data-tab]")
        assert tabs.count() == 4
        tabs.nth(2).click()
        section = page.page.locator(".ga-sankey:visible")
        assert section.get_attribute("id") == tabs.nth(2).get_attribute("data-tab")
        section.locator(f"div.ga-sankey-{layout} path.ga-band").first.dispatch_event("click")
        caption = visible_text(section.locator(".ga-caption"))
        assert "→" in caption and re.search(r"\d тыс\. т/год", caption), caption
        page.set_language("kk")
        assert "мың т/жыл" in visible_text(section.locator(".ga-caption"))
        page.screenshot(f"sankey_{viewport}.png")
        page.assert_clean()


# --- offline self-containment --------------------------------------------------------------------

REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I)
REMOTE_STYLESHEET = re.compile(r"<link\b(?=[^>]*\brel\s*=\s*[\"']?stylesheet)[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.I)
REMOTE_IMPORT = re.compile(r"@import\s+(?:url\()?\s*[\"']?(?:https?:)?//", re.I)


def test_pages_link_no_remote_scripts_or_stylesheets(run):
    for path in [run.index, *run.maps, *run.sankeys]:
        html = path.read_text(encoding="utf-8")
        for pattern in (REMOTE_SCRIPT, REMOTE_STYLESHEET, REMOTE_IMPORT):
            match = pattern.search(html)
            assert match is None, f"{path.name} links {html[match.start():match.start() + 120]!r}"


def test_leaflet_images_are_inlined(run, browser):
    with open_offline(browser, run.maps[0]) as page:
        icons = page.js("() => Array.from(document.querySelectorAll('img.leaflet-marker-icon, .leaflet-marker-shadow')).map(i => i.src.slice(0, 40))")
        toggle = page.js("() => getComputedStyle(document.querySelector('.leaflet-control-layers-toggle')).backgroundImage")
        decoded = page.js("() => Array.from(document.querySelectorAll('img.leaflet-marker-icon')).every(i => i.complete && i.naturalWidth > 0)")
        page.assert_clean()
    assert icons and all(src.startswith("data:image/png") for src in icons), icons[:3]
    assert toggle.startswith(('url("data:image/', "url('data:image/", "url(data:image/")), toggle[:60]
    assert decoded, "a marker icon did not decode"
    with open_offline(browser, run.maps[1]) as page:
        icons = page.js("() => Array.from(document.querySelectorAll('img.leaflet-marker-icon')).map(i => i.src.slice(0, 40))")
        page.assert_clean()
    assert icons and all(src.startswith("data:image/png") for src in icons), icons[:3]


# --- escaping --------------------------------------------------------------------------------------

OPEN_EVERYTHING = r"""
() => {
  const map = gaTest.map(), out = [];
  const seen = new Set();
  map.eachLayer(l => {
    if (seen.has(l) || !(l.getPopup || l.getTooltip)) { return; }
    seen.add(l);
    for (const kind of ['Popup', 'Tooltip']) {
      const bound = l['get' + kind] && l['get' + kind]();
      if (!bound) { continue; }
      bound.options.autoPan = false;  // no panning: keeps the sweep fast and the view still
      l['open' + kind]();
      const el = bound.getElement ? bound.getElement() : bound._container;
      if (el) {
        out.push({kind: kind, text: el.innerText, textContent: el.textContent,
                  images: el.querySelectorAll('img').length, markup: el.querySelectorAll('i, b b, script, iframe').length});
      }
      l['close' + kind]();
    }
  });
  return out;
}
"""


def base_labels(page) -> list[str]:
    """The offline base's labels drawn at zoom 14 over the tiny world (no markup became elements)."""
    page.js("() => GA.map.setView(GA.map.getCenter(), 14, {animate: false})")
    assert page.js("() => document.querySelectorAll('.ga-label-text img, .ga-label-text b').length") == 0
    return page.js("() => Array.from(document.querySelectorAll('.ga-label-text')).filter(e => getComputedStyle(e).visibility !== 'hidden').map(e => e.innerText.trim())")


def _hover_and_read_tooltip(page, lon: float, lat: float) -> str:
    x, y = page.js("([lat, lon]) => gaTest.containerPoint(lat, lon)", [lat, lon])
    hit = page.js("([x, y]) => { const e = document.elementFromPoint(x, y); return e ? e.tagName + '.' + (e.className.baseVal ?? e.className) : null; }", [x, y])
    assert hit and hit.lower().startswith("path") and "leaflet-interactive" in hit, f"the test point ({lat:.5f}, {lon:.5f}) is covered by {hit}"
    page.page.mouse.move(x, y)
    tooltip = page.page.locator(".leaflet-tooltip")
    tooltip.last.wait_for(state="visible", timeout=5_000)
    return " | ".join(t.inner_text() for t in tooltip.all())


def test_hostile_names_show_as_text_on_the_planner_map(hostile_world, browser):
    names = hostile_world["names"]
    with open_offline(browser, hostile_world["planner"]) as page:
        page.screenshot("hostile_planner_map.png")
        # A real mouse: tooltip, then popup of the market named like markup.
        lon, lat = hostile_world["lonlat"]["market_evil"]
        assert EVIL in _hover_and_read_tooltip(page, lon, lat)
        x, y = page.js("([lat, lon]) => gaTest.containerPoint(lat, lon)", [lat, lon])
        page.page.mouse.click(x, y)
        popup = page.page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible", timeout=5_000)
        assert EVIL in popup.inner_text()
        assert popup.locator("img").count() == 0
        assert 'survey "2024" «полевой» ' + KAZAKH in popup.inner_text()
        page.settle()
        page.screenshot("hostile_planner_popup.png")
        page.page.keyboard.press("Escape")

        # Districts, settlements and rivers named like markup: their permanent labels show the text.
        labels = base_labels(page)
        assert sum(EVIL in t for t in labels) >= 2 and "река «Есентай» <b>" in labels and "Аул «Көк-Төбе»" in labels, labels

        # Every overlay on (the control's own click handler; real clicks are tested above), every popup and tooltip opened.
        page.js("() => document.querySelectorAll('.leaflet-control-layers-overlays input').forEach(i => { if (!i.checked) { i.click(); } })")
        assert page.js("() => Array.from(document.querySelectorAll('.leaflet-control-layers-overlays input')).every(i => i.checked)")
        opened = page.js(OPEN_EVERYTHING)
        assert page.js("() => document.querySelectorAll('img[src=\"x\"], img[src=x]').length") == 0
        label_markup = page.js("() => document.querySelectorAll('.leaflet-control-layers label b').length")
        page.set_language("en")
        expand_layer_control(page)
        control_text = visible_text(page.page.locator(".leaflet-control-layers-overlays"))
        page.set_language("kk")
        opened_kk = page.js(OPEN_EVERYTHING)
        page.assert_clean()

    assert opened, "no popup or tooltip found"
    assert not [o for o in opened + opened_kk if o["images"] or o["markup"]], "markup from data became HTML elements"
    texts = " ".join(o["text"] for o in opened)
    assert texts.count(EVIL) >= 5, "the hostile names should show in market, producer and district popups/tooltips"
    for key in ("east", "market_kk", "producer_kk"):
        assert names[key]["name_ru"] in texts, f"{names[key]['name_ru']!r} not shown verbatim"
    profile = hostile_world["profile"]
    assert profile["title"]["ru"] in texts, "the profile title (quotes, «», Kazakh) is not shown verbatim in the site popup"
    assert profile["criteria"][0]["label"]["ru"] in texts, "a criterion label with markup is not shown as text"
    kk_texts = " ".join(o["text"] for o in opened_kk)
    assert names["east"]["name_kk"] in kk_texts and names["market_kk"]["name_kk"] in kk_texts
    assert label_markup == 0 and profile["title"]["en"] in control_text, "the layer control renders a title's markup"


def test_hostile_names_show_as_text_on_the_citizen_map(hostile_world, browser):
    names = hostile_world["names"]
    outcome = hostile_world["outcomes"]["composting_hub"]
    with open_offline(browser, hostile_world["citizen"]) as page:
        page.screenshot("hostile_citizen_map.png")
        labels = base_labels(page)
        assert EVIL in labels and names["east"]["name_ru"] in labels, labels
        page.set_language("kk")
        assert names["east"]["name_kk"] in base_labels(page) and f"Көктөбе {KAZAKH}" in base_labels(page)
        page.set_language("ru")
        page.page.locator('[data-facility="composting_hub"]').click()
        assert page.count("img.leaflet-marker-icon") == len(outcome.selection)
        opened = page.js(OPEN_EVERYTHING)
        page.set_language("kk")
        opened_kk = page.js(OPEN_EVERYTHING)
        assert page.js("() => document.querySelectorAll('img[src=\"x\"], img[src=x]').length") == 0
        page.assert_clean()
    assert not [o for o in opened + opened_kk if o["images"] or o["markup"]]
    assert EVIL in " ".join(o["text"] for o in opened)
    assert names["east"]["name_kk"] in " ".join(o["text"] for o in opened_kk)


# --- why not here ----------------------------------------------------------------------------------

def _why_probe_points(outcome) -> dict[str, tuple[float, float]]:
    """Lon/lat of candidates whose whole 1 km neighbourhood has no rule, and the bird-hazard rule only with others."""
    from scipy.spatial import cKDTree

    result = outcome.result
    masks = result.rules.masks
    bird = [j for j, r in enumerate(result.rules.rules) if r.kind == "bird_hazard"]
    xy = np.column_stack([result.candidates.x, result.candidates.y])
    neighbours = cKDTree(xy).query_ball_point(xy, r=1000.0)
    clean = next(i for i, n in enumerate(neighbours) if len(n) > 20 and not masks[n].any())
    hazard = next(i for i, n in enumerate(neighbours) if len(n) > 20 and masks[n][:, bird].all())
    return {name: TO_LONLAT.transform(xy[i, 0], xy[i, 1]) for name, i in (("clean", clean), ("hazard", hazard))}


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
def test_planner_map_says_why_not_here(run, browser, viewport):
    outcome = run.outcomes["composting_hub"]
    points = _why_probe_points(outcome)
    bird_label = next(r.label["ru"] for r in outcome.result.rules.rules if r.kind == "bird_hazard")
    with open_offline(browser, run.maps[0], viewport=viewport) as page:
        page.page.wait_for_function("() => GA.config.why && GA.config.why.every(e => e.ctx)", timeout=10_000)
        ask = "([lon, lat]) => { const d = document.createElement('div'); d.innerHTML = GA.whyNotHere(L.latLng(lat, lon));" \
              " document.body.appendChild(d); const t = d.innerText; d.remove(); return t; }"
        clean, hazard, outside = (page.js(ask, list(points["clean"])), page.js(ask, list(points["hazard"])), page.js(ask, [70.0, 40.0]))
        assert message("why_no_rule", "ru") in clean and bird_label not in clean, clean
        assert bird_label in hazard and "исключено" in hazard and message("why_no_rule", "ru") not in hazard, hazard
        assert message("why_no_candidate", "ru") in outside, outside
        # a real tap on the map opens the answer in a popup (the phone shows it in the sheet); every other overlay is
        # switched off first, so no feature there (e.g. a located site, whose place depends on the solver's time limit) takes the tap
        page.js("() => Object.keys(GA.layers).filter(k => k !== 'surface:composting_hub').forEach(k => GA.map.removeLayer(GA.layers[k]))")
        page.js("([lon, lat]) => GA.map.setView([lat, lon], 12, {animate: false})", list(points["hazard"]))
        popup = page.popup()
        for attempt in range(2):  # on a busy machine the first tap may land before the map has settled and painted
            page.settle()
            spot = page.js("([lon, lat]) => { const p = GA.map.latLngToContainerPoint([lat, lon]); const b = GA.map.getContainer().getBoundingClientRect();"
                           " return [b.left + p.x, b.top + p.y]; }", list(points["hazard"]))
            page.page.mouse.click(*spot)
            try:
                popup.wait_for(state="visible", timeout=5_000)
                break
            except PlaywrightTimeout:
                under = page.js("([x, y]) => { const e = document.elementFromPoint(x, y); return e ? e.tagName + ' ' + e.className : null; }", spot)
                assert attempt == 0, f"no popup after two taps at {spot}; the element there: {under}"
        assert bird_label in visible_text(popup), visible_text(popup)
        assert not page.popup_cover(), page.popup_cover()
        page.screenshot(f"why_not_here_{viewport}.png")
        page.set_language("kk")
        kazakh = next(r.label["kk"] for r in outcome.result.rules.rules if r.kind == "bird_hazard")
        assert kazakh in visible_text(page.popup())
        page.assert_clean()


# --- robustness on the planner map ----------------------------------------------------------------

def test_planner_map_shows_selection_frequency_and_robust_sites(run, browser):
    from geo_almaty.robust import robust_sites_frame

    analysis = run.robust["composting_hub"]
    sites = robust_sites_frame(analysis, run.inputs.study)
    title = analysis.profile.title["ru"]
    with open_offline(browser, run.maps[0]) as page:
        expand_layer_control(page)
        frequency = overlay_index(page, title, message("robust_frequency", "ru"))
        assert not overlay_checkbox(page, frequency).is_checked()  # hidden until asked for
        toggle_twice(page, frequency, "img.leaflet-image-layer", 1)
        if len(sites):
            index = overlay_index(page, title, message("robust_robust_sites", "ru").lower())
            toggle_twice(page, index, "path.leaflet-interactive", len(sites))
            overlay_checkbox(page, index).click()
            page.js("() => GA.map.setView([%f, %f], 13, {animate: false})" % (sites.lat.iloc[0], sites.lon.iloc[0]))
            heading = f"{message('robust_robust_sites', 'ru')}: {title}"
            opened = page.js("h => { let done = false; GA.map.eachLayer(l => { if (!done && l.feature && l.getLatLng &&"
                             " (l.feature.properties._popup || '').includes(h)) { l.openPopup(); done = true; } }); return done; }", heading)
            assert opened, "no robust-site marker with its popup on the map"
            text = visible_text(page.popup())
            assert message("robust_nearby", "ru") in text and "%" in text and message("robust_median_rank", "ru") in text, text
        page.assert_clean()

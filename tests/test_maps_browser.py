"""The exported maps, index and Sankey pages in a real browser (headless Debian Chromium through playwright), offline.

One ``geo-almaty run`` on the embedded data and one small map built from a user
catalog (a tiny world whose names are markup, quotes, «» and Kazakh letters) are
rendered once per module; every page is opened from ``file://`` with all other
requests aborted, so the tests also prove the pages need no network (basemap
tiles aside). Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from pyproj import Transformer

from .browser import CHROMIUM, launch, open_offline

pytestmark = [pytest.mark.browser]

if not CHROMIUM.is_file():
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (set GEO_ALMATY_CHROMIUM to use another one)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed (pip install playwright)")

from geo_almaty import settings  # noqa: E402
from geo_almaty.allocate import load_allocation_specs  # noqa: E402
from geo_almaty.catalog import load_catalog  # noqa: E402
from geo_almaty.i18n import text as message  # noqa: E402
from geo_almaty.layers import load_layers  # noqa: E402
from geo_almaty.pipeline import load_inputs, run_main_job, score_facility  # noqa: E402
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
def run(tmp_path_factory):
    """``geo-almaty run`` on the embedded data, in Russian (≈30 s)."""
    return run_main_job(None, tmp_path_factory.mktemp("run"), "ru")


@pytest.fixture(scope="module")
def recipes():
    return {name: load_recipe(name) for name in ("planner", "citizen")}


@pytest.fixture(scope="module")
def embedded_layers(recipes):
    """The embedded catalog's layers the maps draw, read independently of the map code."""
    catalog = load_catalog(None)
    names = {item["layer"] for r in recipes.values() for item in r.get("layers", [])}
    return load_layers(catalog, sorted(n for n in names if catalog.has_data(n)))


@pytest.fixture(scope="module")
def browser():
    manager = sync_api.sync_playwright().start()
    try:
        chromium = launch(manager)
    except Exception as exc:  # a broken Chromium install is an environment problem, not a test failure
        manager.stop()
        pytest.skip(f"cannot launch {CHROMIUM}: {exc}")
    yield chromium
    chromium.close()
    manager.stop()


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
    document = yaml.safe_load(catalog_path.read_text(encoding="utf-8"))
    document["layers"]["markets"]["source"] = {"path": "markets.geojson"}
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


def shown_layers(recipe: dict, layers: dict) -> list[str]:
    return [item["layer"] for item in recipe.get("layers", []) if item.get("show", True) and item["layer"] in layers]


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

def test_planner_map_works_offline_and_draws_every_layer_and_site(run, recipes, embedded_layers, browser):
    recipe = recipes["planner"]
    with open_offline(browser, run.maps[0]) as page:
        page.screenshot("planner_map.png")
        markers = page.count(".leaflet-marker-icon")
        paths = page.count("path.leaflet-interactive")
        images = page.js("() => Array.from(document.querySelectorAll('img.leaflet-image-layer')).map(i => [i.src.slice(0, 22), i.naturalWidth])")
        marker_points = page.js("() => gaTest.markerLatLngs()")
        page.assert_clean()

    expected_sites = [p for f in recipe["facilities"] if f["facility"] in run.outcomes for p in site_lonlats(run.outcomes[f["facility"]])]
    assert markers == len(expected_sites) == sum(len(o.selection) for o in run.outcomes.values())
    assert same_points(marker_points, expected_sites), "the markers are not at the chosen sites"
    expected_paths = sum(drawn_features(embedded_layers[name]) for name in shown_layers(recipe, embedded_layers))
    assert paths == expected_paths, f"{paths} paths drawn, {expected_paths} features in the shown layers {shown_layers(recipe, embedded_layers)}"
    assert images, "no suitability image overlay"
    assert all(src.startswith("data:image/png") and width > 0 for src, width in images), images


def test_planner_layer_control_toggles_features_markers_and_surfaces(run, recipes, embedded_layers, browser):
    catalog = load_catalog(None)
    producers = catalog.layer("organic_producers").title["ru"]
    districts = len(embedded_layers["districts"])
    composting = run.outcomes["composting_hub"]
    with open_offline(browser, run.maps[0]) as page:
        expand_layer_control(page)
        # An input layer (shown by default): its circle markers go and come back.
        assert overlay_checkbox(page, overlay_index(page, producers)).is_checked()
        toggle_twice(page, overlay_index(page, producers), "path.leaflet-interactive", drawn_features(embedded_layers["organic_producers"]))
        # A facility's top sites, and its suitability surface.
        title, suitability = composting.profile.title["ru"], message("suitability", "ru")
        toggle_twice(page, overlay_index(page, title, without=suitability), ".leaflet-marker-icon", len(composting.selection))
        toggle_twice(page, overlay_index(page, title, suitability), "img.leaflet-image-layer", 1)
        # A choropleth: one polygon per district.
        allocation = recipes["planner"]["choropleths"][0]["allocation"]
        toggle_twice(page, overlay_index(page, load_allocation_specs()[allocation]["title"]["ru"]), "path.leaflet-interactive", districts)
        page.assert_clean()


def test_planner_top_site_popup_explains_the_score_in_three_languages(run, browser):
    outcome = run.outcomes["composting_hub"]
    labels = [c["label"] for c in outcome.profile.criteria if c.get("weight", 1)]
    with open_offline(browser, run.maps[0]) as page:
        site = page.tag_clear_marker(site_lonlats(outcome))
        score = float(outcome.selection.score.iloc[site])
        popup = page.open_tagged_popup("planner_popup.png")
        text = visible_text(popup)
        assert outcome.profile.title["ru"] in text
        assert message("score", "ru") in text and any(abs(n - score) < 0.0051 for n in numbers_in(text)), f"score {score:.3f} not in: {text}"
        assert popup.locator("table").count() >= 1
        assert message("criterion", "ru") in text
        assert any(label["ru"] in text for label in labels), "no criterion of the profile is named in the popup"

        page.set_language("en")
        assert popup.is_visible(), "switching the language closed the popup"
        text = visible_text(popup)
        assert outcome.profile.title["en"] in text and message("criterion", "en") in text and message("score", "en") in text
        assert any(label["en"] in text for label in labels)
        assert message("criterion", "ru") not in text and outcome.profile.title["ru"] not in text, "Russian text still visible in English"

        page.set_language("kk")
        text = visible_text(popup)
        assert outcome.profile.title["kk"] in text and message("score", "kk") in text
        assert outcome.profile.title["en"] not in text
        page.assert_clean()


# --- citizen map -----------------------------------------------------------------------------------

def test_citizen_map_is_small_and_works_offline(run, recipes, embedded_layers, browser):
    recipe = recipes["citizen"]
    size = run.maps[1].stat().st_size
    assert size <= 2_000_000, f"citizen map is {size / 1e6:.2f} MB"
    assert size <= recipe.get("max_bytes", 2_000_000)
    first = run.outcomes[recipe["facilities"][0]["facility"]]
    with open_offline(browser, run.maps[1]) as page:
        page.screenshot("citizen_map.png")
        assert page.count(".leaflet-marker-icon") == len(first.selection)
        expected_paths = sum(drawn_features(embedded_layers[name]) for name in shown_layers(recipe, embedded_layers))
        assert page.count("path.leaflet-interactive") == expected_paths
        assert page.page.locator("[data-facility]").count() == len(recipe["facilities"])
        page.assert_clean()


def test_citizen_map_one_click_per_facility_type(run, recipes, browser):
    recipe = recipes["citizen"]
    with open_offline(browser, run.maps[1]) as page:
        for item in recipe["facilities"]:
            outcome = run.outcomes[item["facility"]]
            page.page.locator(f'[data-facility="{item["facility"]}"]').click()
            assert page.count(".leaflet-marker-icon") == len(outcome.selection), item["facility"]
            assert same_points(page.js("() => gaTest.markerLatLngs()"), site_lonlats(outcome)), \
                f"{item['facility']}: the markers shown are not that type's sites (others not hidden?)"
        page.assert_clean()


def test_citizen_popup_is_plain_language_and_switches_language(run, recipes, browser):
    recipe = recipes["citizen"]
    item = recipe["facilities"][1]
    outcome = run.outcomes[item["facility"]]
    plain = item.get("plain") or outcome.profile.summary
    headline = item.get("headline") or outcome.profile.title
    with open_offline(browser, run.maps[1]) as page:
        page.page.locator(f'[data-facility="{item["facility"]}"]').click()
        page.tag_clear_marker(site_lonlats(outcome))
        popup = page.open_tagged_popup("citizen_popup.png")
        text = visible_text(popup)
        assert headline["ru"] in text and plain["ru"] in text and message("reasons", "ru") in text
        assert popup.locator("li").count() >= 1, "no reasons listed"
        assert popup.locator("table").count() == 0, "the citizen popup should be plain text, not a criterion table"
        page.set_language("en")
        text = visible_text(popup)
        assert headline["en"] in text and plain["en"] in text and plain["ru"] not in text
        page.set_language("kk")
        assert plain["kk"] in visible_text(popup)
        page.assert_clean()


# --- index and Sankey pages --------------------------------------------------------------------------

def test_index_page_works_offline_and_links_every_output(run, browser):
    with open_offline(browser, run.index, wait_for=None) as page:
        page.screenshot("index.png")
        hrefs = page.js("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
        text_ru = visible_text(page.page.locator("body"))
        page.set_language("en")
        text_en = visible_text(page.page.locator("body"))
        page.assert_clean()
    root = run.index.parent
    assert {p.relative_to(root).as_posix() for p in run.maps + run.sankeys} <= set(hrefs)
    assert all((root / h).is_file() for h in hrefs if not h.startswith(("http:", "https:", "#"))), hrefs
    assert run.outcomes["composting_hub"].profile.title["ru"] in text_ru
    assert run.outcomes["composting_hub"].profile.title["en"] in text_en and run.outcomes["composting_hub"].profile.title["ru"] not in text_en


def test_sankey_page_renders_offline(run, browser):
    path = run.sankeys[0]
    with open_offline(browser, path, wait_for=".js-plotly-plot") as page:
        page.page.wait_for_selector(".js-plotly-plot .sankey-node", state="attached", timeout=15_000)
        assert page.page.locator(".js-plotly-plot .sankey-node").count() > 2
        page.screenshot(f"{path.stem}.png")
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
        icons = page.js("() => Array.from(document.querySelectorAll('.leaflet-marker-icon, .leaflet-marker-shadow')).map(i => i.src.slice(0, 40))")
        toggle = page.js("() => getComputedStyle(document.querySelector('.leaflet-control-layers-toggle')).backgroundImage")
        decoded = page.js("() => Array.from(document.querySelectorAll('img.leaflet-marker-icon')).every(i => i.complete && i.naturalWidth > 0)")
        page.assert_clean()
    assert icons and all(src.startswith("data:image/png") for src in icons), icons[:3]
    assert toggle.startswith(('url("data:image/', "url('data:image/", "url(data:image/")), toggle[:60]
    assert decoded, "a marker icon did not decode"
    with open_offline(browser, run.maps[1]) as page:
        icons = page.js("() => Array.from(document.querySelectorAll('.leaflet-marker-icon')).map(i => i.src.slice(0, 40))")
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

        # A district named like markup: its tooltip on hover.
        lon, lat = hostile_world["lonlat"]["west"]
        assert EVIL in _hover_and_read_tooltip(page, lon, lat)

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
        lon, lat = hostile_world["lonlat"]["west"]
        assert EVIL in _hover_and_read_tooltip(page, lon, lat)
        lon, lat = hostile_world["lonlat"]["east"]
        assert names["east"]["name_ru"] in _hover_and_read_tooltip(page, lon, lat)
        page.page.locator('[data-facility="composting_hub"]').click()
        assert page.count(".leaflet-marker-icon") == len(outcome.selection)
        opened = page.js(OPEN_EVERYTHING)
        page.set_language("kk")
        opened_kk = page.js(OPEN_EVERYTHING)
        assert page.js("() => document.querySelectorAll('img[src=\"x\"], img[src=x]').length") == 0
        page.assert_clean()
    assert not [o for o in opened + opened_kk if o["images"] or o["markup"]]
    assert EVIL in " ".join(o["text"] for o in opened)
    assert names["east"]["name_kk"] in " ".join(o["text"] for o in opened_kk)

"""Map and page rendering without a browser: byte-identical rebuilds, legend colours, classes, translations,
the Markdown summary, the short summary of ``run``, the offline base, and the one-call layer API."""
from __future__ import annotations

import hashlib
import re

import folium
import numpy as np
import pytest

from geo_almaty import settings
from geo_almaty.cli import main
from geo_almaty.i18n import messages
from geo_almaty.render.basemap import add_offline_base, fit_zoom, without_shared_word
from geo_almaty.render.citizen import build_citizen_map
from geo_almaty.render.index import md_text, summary_html, summary_markdown
from geo_almaty.render.legend import LegendItem, reused_colours
from geo_almaty.render.maps import render_map
from geo_almaty.render.planner import build_planner_map, choropleth_classes
from geo_almaty.render.recipes import load_recipe
from geo_almaty.render.sankey_page import sankey_page_html
from geo_almaty.render.shell import add_overlay
from geo_almaty.sankey import load_sankey_diagrams

UUID = re.compile(r"\b[a-z_]+_[0-9a-f]{32}\b")


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


@pytest.fixture(scope="module")
def recipes():
    return {name: load_recipe(name) for name in ("planner", "citizen")}


# --- determinism ---------------------------------------------------------------------------------------

def test_two_builds_of_every_page_are_byte_identical(main_run, recipes):
    inputs, outcomes = main_run.inputs, main_run.outcomes
    located = main_run.located
    planner = render_map(build_planner_map(recipes["planner"], inputs, outcomes, "ru", index_href="index.html", robust=main_run.robust,
                                           located=located), "ru")
    citizen = render_map(build_citizen_map(recipes["citizen"], inputs, outcomes, "ru", index_href="index.html", located=located), "ru")
    assert sha256(planner) == sha256(main_run.maps[0].read_bytes()), "the planner map differs between two identical builds"
    assert sha256(citizen) == sha256(main_run.maps[1].read_bytes()), "the citizen map differs between two identical builds"
    for html in (planner, citizen):
        assert not UUID.search(html), f"a random element id is left: {UUID.search(html).group(0)}"
    diagrams = load_sankey_diagrams(inputs.flows, inputs.labels)
    assert sha256(sankey_page_html(diagrams, inputs.labels, "ru", index_href="../index.html")) == sha256(main_run.sankeys[0].read_bytes())
    page = summary_html(outcomes, inputs, "ru", index_href="index.html", located=main_run.located)
    assert sha256(page) == sha256(main_run.summary_page.read_bytes())


# --- legend ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["planner", "citizen"])
def test_no_colour_is_reused_across_layers(main_run, recipes, name):
    build = build_planner_map if name == "planner" else build_citizen_map
    m = build(recipes[name], main_run.inputs, main_run.outcomes, "ru", located=main_run.located)
    assert m.shell.legend, "no legend"
    assert reused_colours(m.shell.legend) == {}, "colours drawn by more than one layer"
    for section in m.shell.legend:
        colours = [c for item in section.items for c in item.colours()]
        assert len(colours) == len(set(colours)), f"{section.key} repeats a colour"


def test_reused_colours_are_found():
    from geo_almaty.render.legend import LegendSection

    a = LegendSection("a", {"ru": "a", "kk": "a", "en": "a"}, "base", [LegendItem({"ru": "x", "kk": "x", "en": "x"}, "#E31A1C", "line")])
    b = LegendSection("b", {"ru": "b", "kk": "b", "en": "b"}, "base", [LegendItem({"ru": "y", "kk": "y", "en": "y"}, "#e31a1c", "circle")])
    assert reused_colours([a, b]) == {"#e31a1c": ["a", "b"]}


def test_choropleth_classes_are_never_empty():
    values = np.array([0.0, 0.0, 0.0, 0.0, 5.0, 6.0, 7.0, 100.0])
    classes, ranges = choropleth_classes(values, "Quantiles", 4)
    assert sorted(set(classes)) == list(range(len(ranges)))
    for c, (lo, hi) in enumerate(ranges):
        members = values[classes == c]
        assert len(members) and members.min() == lo and members.max() == hi
    classes, ranges = choropleth_classes(np.zeros(8), "NaturalBreaks", 4)
    assert ranges == [(0.0, 0.0)] and set(classes) == {0}


def test_planner_legend_has_the_promised_groups_and_entries(main_run, recipes):
    m = build_planner_map(recipes["planner"], main_run.inputs, main_run.outcomes, "ru")
    groups = {s.group for s in m.shell.legend}
    assert groups == {"facilities", "flows", "base"}
    surface = next(s for s in m.shell.legend if s.key.startswith("surface:"))
    assert [i.symbol for i in surface.items] == ["ramp", "hatch"], "a suitability surface shows its ramp and the excluded cells"
    points = next(s for s in m.shell.legend if s.key == "layer:organic_producers")
    assert {i.symbol for i in points.items} == {"circle"}, "points are drawn as circles, so the legend shows circles"
    sites = next(s for s in m.shell.legend if s.key == "sites:composting_hub")
    assert sites.items[0].symbol == "pin"


# --- layers added by other streams -----------------------------------------------------------------------

def test_another_stream_adds_a_layer_and_its_legend_in_one_call(main_run, recipes):
    m = build_planner_map(recipes["planner"], main_run.inputs, main_run.outcomes, "ru")
    group = folium.FeatureGroup()
    folium.CircleMarker([43.25, 76.95], radius=5, color="#123456").add_to(group)
    title = {"ru": "Зоны обслуживания", "kk": "Қызмет көрсету аймақтары", "en": "Catchments"}
    add_overlay(m, group, key="loc:catchments", title=title, group="facilities", show=False,
                legend=[LegendItem({"ru": "Зона", "kk": "Аймақ", "en": "Catchment"}, "#123456", "fill")])
    with pytest.raises(ValueError, match="used twice"):
        add_overlay(m, folium.FeatureGroup(), key="loc:catchments", title=title, group="facilities")
    with pytest.raises(ValueError, match="legend group"):
        add_overlay(m, folium.FeatureGroup(), key="x", title=title, group="nowhere", legend=[LegendItem(title, "#654321")])
    m.shell.add_legend_group("rules", {"ru": "Ограничения размещения", "kk": "Орналастыру шектеулері", "en": "Siting rules"})
    add_overlay(m, folium.FeatureGroup(), key="rules:airport", title=title, group="rules", legend=[LegendItem(title, "#13579b", "hatch")])
    html = render_map(m, "ru")
    assert html.index('data-group="rules"') > html.index('data-group="base"'), "a new group comes after the standard ones"
    assert 'data-legend-key="loc:catchments"' in html and "Зоны обслуживания" in html and 'GA.registerLayer("loc:catchments"' in html


# --- offline base ------------------------------------------------------------------------------------------

def test_offline_base_draws_what_the_catalog_has_and_skips_the_rest(main_run):
    m = folium.Map(tiles=None)
    from geo_almaty.render.maps import new_map

    m = new_map((76.8, 43.1, 77.1, 43.4), "ru", {"ru": "т", "kk": "т", "en": "t"}, kind="planner")
    drawn = add_offline_base(m, {"base": {"layers": ["districts", "settlements", "rivers", "roads"]}}, main_run.inputs)
    expected = [n for n in ("districts", "rivers", "roads", "settlements") if main_run.inputs.study.layer(n) is not None]
    assert drawn == expected
    assert add_offline_base(new_map((76.8, 43.1, 77.1, 43.4), "ru", {"ru": "т", "kk": "т", "en": "t"}, kind="citizen"),
                            {"base": {"layers": []}}, main_run.inputs) == []


def test_label_zoom_grows_as_features_shrink_and_shared_words_go():
    assert fit_zoom(20_000, 100, 43.2) < fit_zoom(2_000, 100, 43.2) <= 16
    names = [{"ru": "Медеуский район", "kk": "Медеу ауданы", "en": "Medeu District"},
             {"ru": "Алмалинский район", "kk": "Алмалы ауданы", "en": "Almaly"}, None]
    short = without_shared_word(names)
    assert short[0]["ru"] == "Медеуский" and short[1]["kk"] == "Алмалы" and short[0]["en"] == "Medeu District" and short[2] is None


# --- translations ------------------------------------------------------------------------------------------

def test_every_message_has_three_languages_with_the_same_placeholders():
    for key, entry in messages().items():
        assert set(entry) == set(settings.LANGUAGES), key
        assert all(isinstance(v, str) and v.strip() for v in entry.values()), key
        placeholders = {lang: set(re.findall(r"\{(\w+)\}", v)) for lang, v in entry.items()}
        assert len({frozenset(p) for p in placeholders.values()}) == 1, f"{key}: {placeholders}"


# --- summaries ----------------------------------------------------------------------------------------------

def test_summary_markdown_has_no_html_and_escapes_names(main_run):
    text = main_run.summary.read_text(encoding="utf-8")
    assert "<br" not in text and not re.search(r"<[a-z]+[ >]", text)
    assert "| --- |" not in text and text.count("\n1. ") == len(main_run.outcomes)
    assert md_text("<b>x</b> | *y*") == "&lt;b&gt;x&lt;/b&gt; \\| \\*y\\*"  # markup shown as text, one escaping for every output
    assert "do not add up" in summary_markdown(main_run.outcomes, main_run.inputs, "en")


def test_run_locate_time_limit_reaches_location_allocation_and_zero_skips_it(monkeypatch, tmp_path):
    import geo_almaty.pipeline as pipeline

    from geo_almaty.errors import InputError

    seen, run_main_job = [], pipeline.run_main_job

    def stop(*args, **kwargs):
        seen.append(kwargs["locate_time_limit"])
        raise InputError("stopped by the test", column="--locate-time-limit", expected="nothing")

    monkeypatch.setattr(pipeline, "run_main_job", stop)
    assert main(["run", "--locate-time-limit", "7.5", "--out", str(tmp_path / "a")]) == 2 and seen == [7.5]
    with pytest.raises(SystemExit) as refused:
        main(["run", "--locate-time-limit", "-1", "--out", str(tmp_path / "b")])
    assert refused.value.code == 2 and seen == [7.5] and not (tmp_path / "b").exists()
    calls = []
    monkeypatch.setattr(pipeline, "locate_facilities", lambda *a, **k: calls.append(k["time_limit"]) or {})
    outputs = run_main_job(None, tmp_path / "c", "en", cell_size=2000.0, robust_samples=0, locate_time_limit=0)
    assert calls == [] and outputs.located == {} and not list((tmp_path / "c" / "results").glob("*locate*"))
    run_main_job(None, tmp_path / "d", "en", cell_size=2000.0, robust_samples=0, locate_time_limit=3)
    assert calls == [3]


def test_run_prints_a_short_summary(main_run, monkeypatch, capsys, tmp_path):
    import geo_almaty.pipeline as pipeline

    monkeypatch.setattr(pipeline, "run_main_job", lambda *a, **k: main_run)
    assert main(["run", "--out", str(tmp_path / "x")]) == 0
    printed = capsys.readouterr().out
    assert str(main_run.index) in printed and "<br" not in printed
    assert len(printed.splitlines()) <= 2 + 5 * len(main_run.outcomes) + 1  # per facility: a road line, a title and three sites
    for outcome in main_run.outcomes.values():
        assert outcome.profile.title["ru"] in printed
    assert "#3 " in printed and "#4 " not in printed
    assert "Этап «пилот»: " in printed  # the reuse warehouse's pilot says which stage condition it meets

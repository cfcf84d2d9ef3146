"""Outputs of the robustness analysis: tables, a frequency GeoTIFF, a tornado chart, an index-page section, map layers.

Vector outputs are in EPSG:32643 in memory and EPSG:4326 on disk (GeoPackage,
lon/lat columns in CSV); the frequency GeoTIFF stays on the analysis grid. The
tornado chart is a static SVG drawn with matplotlib's SVG backend (no pyplot,
no global state), with fixed ids and no date, so identical inputs give
identical bytes.
"""
from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine

from .. import settings
from ..atomic import atomic_path, write_text_atomic
from ..export import candidate_surface, write_csv, write_geopackage
from ..i18n import text as message
from ..prepare import Study
from ..select import district_names
from .analysis import RANK_QUANTILES, RobustResult

def _t(key: str, lang: str, **kwargs) -> str:
    """The robustness message ``robust_<key>`` (``locale/messages.yaml``) in ``lang``, formatted with ``kwargs``."""
    text = message(f"robust_{key}", lang)
    return text.format(**kwargs) if kwargs else text


# --- tables ----------------------------------------------------------------------------------------

def _site_columns(result: RobustResult, study: Study, rows: np.ndarray, lang: str) -> dict:
    candidates = result.result.candidates
    names = district_names(study)
    from ..select import candidate_districts

    districts = candidate_districts(study, result.result)[rows]
    geometry = gpd.points_from_xy(candidates.x[rows], candidates.y[rows], crs=settings.ANALYSIS_CRS)
    lonlat = gpd.GeoSeries(geometry).to_crs(settings.GEOGRAPHIC_CRS)
    columns = {
        "candidate_id": candidates.labels(rows),
        "facility": result.profile.id,
        "score": result.result.score[rows],
        "nearby_frequency": result.nearby_frequency[rows],
        "match_radius_m": result.settings.match_radius_m,
        "selected_frequency": result.selected_frequency[rows],
        "top_k_frequency": result.top_k_frequency[rows],
        "base_rank": result.base_rank[rows],
    }
    for q, values in zip(RANK_QUANTILES, result.rank_quantiles[rows].T):
        columns[f"rank_p{round(q * 100):02d}"] = values
    columns.update({
        "district_id": districts, "district": [names.get(d, {}).get(lang, d) for d in districts],
        "lon": lonlat.x.round(6).to_numpy(), "lat": lonlat.y.round(6).to_numpy(), "geometry": geometry,
    })
    return columns


def robust_sites_frame(result: RobustResult, study: Study, lang: str = settings.DEFAULT_LANGUAGE) -> gpd.GeoDataFrame:
    """The robust sites as points (EPSG:32643): frequencies, rank quantiles (NaN: beyond the recorded pool), base site, district."""
    table = result.robust_sites
    rows = table["candidate"].to_numpy()
    data = {"site": table["site"].to_numpy(), **_site_columns(result, study, rows, lang), "base_site_rank": table["base_site_rank"].to_numpy()}
    return gpd.GeoDataFrame(data, geometry="geometry", crs=settings.ANALYSIS_CRS)


def base_sites_frame(result: RobustResult, study: Study, lang: str = settings.DEFAULT_LANGUAGE) -> gpd.GeoDataFrame:
    """The sites chosen at the base weights (EPSG:32643), with how often a site is chosen near them."""
    rows = result.base_selection["candidate"].to_numpy()
    data = {"rank": result.base_selection["rank"].to_numpy(), **_site_columns(result, study, rows, lang)}
    data["robust"] = result.nearby_frequency[rows] >= result.settings.threshold - 1e-12
    return gpd.GeoDataFrame(data, geometry="geometry", crs=settings.ANALYSIS_CRS)


def chosen_cells_frame(result: RobustResult, study: Study) -> gpd.GeoDataFrame:
    """Every candidate chosen, or among the k best, in at least one sample (polygons, EPSG:32643)."""
    rows = np.flatnonzero((np.nan_to_num(result.selected_frequency) > 0) | (np.nan_to_num(result.top_k_frequency) > 0))
    columns = _site_columns(result, study, rows, settings.DEFAULT_LANGUAGE)
    columns.pop("district")
    columns["geometry"] = result.result.candidates.geometries(study, rows)
    return gpd.GeoDataFrame(columns, geometry="geometry", crs=settings.ANALYSIS_CRS)


def factor_label(result: RobustResult, factor: str, kind: str, lang: str) -> str:
    """A criterion's label (weights) or a flow row id (flows), prefixed by what it is."""
    if kind == "weight":
        spec = next(c for c in result.result.criteria if c["id"] == factor)
        return f"{spec['label'][lang]} ({_t('weight', lang)})"
    return f"{_t('flow', lang)}: {factor}"


def oat_frame(result: RobustResult, lang: str = settings.DEFAULT_LANGUAGE) -> pd.DataFrame:
    """The one-at-a-time table with a readable label per factor."""
    table = result.oat.copy()
    table.insert(1, "label", [factor_label(result, f, k, lang) for f, k in zip(table["factor"], table["kind"])])
    table.insert(0, "facility", result.profile.id)
    return table


def settings_frame(result: RobustResult) -> pd.DataFrame:
    """The analysis parameters and notes as a two-column table."""
    s = result.settings
    rows = [("samples", s.samples), ("seed", s.seed), ("sources", ",".join(s.sources)), ("dirichlet_concentration", s.concentration),
            ("top_n", s.top_n), ("min_spacing_m", result.model.spacing_m), ("max_per_district", result.model.per_district or ""),
            ("match_radius_m", s.match_radius_m), ("robust_threshold", s.threshold), ("rank_pool", s.rank_pool),
            ("oat_weight_change", s.weight_change)]
    rows += [("jittered", f"{jc.layer} (≤ {jc.reach_m:g} m) for {result.result.criteria[jc.column]['id']}") for jc in result.model.jittered]
    rows += [("jittered_exclusion", f"{e.layer} (≤ {e.reach_m:g} m) for {e.rule_id}") for e in result.model.exclusions]
    if result.ahp_inconsistent_share is not None:
        rows.append(("ahp_share_inconsistent", result.ahp_inconsistent_share))
    rows += [("note", note) for note in result.notes]
    return pd.DataFrame(rows, columns=["parameter", "value"]).astype({"value": str})


# --- raster ----------------------------------------------------------------------------------------

FREQUENCY_BANDS = (
    ("nearby_frequency", "share of samples with a chosen site within the match radius"),
    ("selected_frequency", "share of samples in which this candidate is chosen (the profile's selection rule)"),
    ("top_k_frequency", "share of samples in which this candidate is among the k best scores (no spacing)"),
    ("rank_p50", "median score rank (1 = best; NaN beyond the recorded pool)"),
)


def frequency_surfaces(result: RobustResult, study: Study) -> np.ndarray:
    """``(4, rows, cols)`` float32 surfaces on the analysis grid, in the order of :data:`FREQUENCY_BANDS`."""
    median = result.rank_quantiles[:, RANK_QUANTILES.index(0.5)]
    arrays = (result.nearby_frequency, result.selected_frequency, result.top_k_frequency, median)
    return np.stack([candidate_surface(a, result.result.candidates, study) for a in arrays])


def write_frequency_geotiff(path: str | Path, result: RobustResult, study: Study) -> Path:
    """The frequency surfaces as a 4-band GeoTIFF on the EPSG:32643 grid (NaN = excluded or outside the study area)."""
    path = Path(path)
    profile = dict(driver="GTiff", height=study.grid.height, width=study.grid.width, count=len(FREQUENCY_BANDS), dtype="float32",
                   crs=settings.ANALYSIS_CRS, transform=study.grid.transform, nodata=np.nan, compress="deflate", tiled=True)
    s = result.settings
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            if result.surface is None:
                dst.write(frequency_surfaces(result, study))
            else:  # a grid scored in tiles: strip by strip
                from rasterio.windows import Window

                for tile in study.tiles:
                    dst.write(result.surface.bands(tile), window=Window(0, tile.row0, study.grid.width, tile.row1 - tile.row0))
            for band, (name, description) in enumerate(FREQUENCY_BANDS, start=1):
                dst.set_band_description(band, f"{name}: {description}")
            dst.update_tags(facility=result.profile.id, samples=str(s.samples), seed=str(s.seed), sources=",".join(s.sources),
                            dirichlet_concentration=f"{s.concentration:g}", top_n=str(s.top_n), match_radius_m=f"{s.match_radius_m:.1f}",
                            robust_threshold=f"{s.threshold:g}", crs_note="EPSG:32643")
    return path


# --- tornado chart ---------------------------------------------------------------------------------

def tornado_svg(result: RobustResult, lang: str = settings.DEFAULT_LANGUAGE) -> str:
    """A tornado chart of the OAT table: sites replaced at the low (left) and high (right) setting of each factor."""
    if lang not in result.charts:
        result.charts[lang] = _draw_tornado(result, lang)
    return result.charts[lang]


def _draw_tornado(result: RobustResult, lang: str) -> str:
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    table = result.oat
    k = result.settings.top_n
    factors = list(dict.fromkeys(zip(table["factor"], table["kind"])))
    low = np.array([table[(table.factor == f) & (table.setting == "low")]["sites_replaced"].sum() for f, _ in factors], dtype=float)
    high = np.array([table[(table.factor == f) & (table.setting == "high")]["sites_replaced"].sum() for f, _ in factors], dtype=float)
    order = np.lexsort((np.arange(len(factors)), -(low + high), -np.maximum(low, high)))[::-1]  # largest at the top
    labels = [textwrap.fill(factor_label(result, *factors[i], lang), 38) for i in order]
    lines = sum(label.count("\n") + 1 for label in labels)
    percent = round(result.settings.weight_change * 100)
    reach = int(max(low.max(initial=0), high.max(initial=0), 1))
    # ids differ per facility and language (several charts share the index page) but never between runs
    style = {"svg.hashsalt": f"geo_almaty-{result.profile.id}-{lang}", "svg.fonttype": "none", "font.family": "DejaVu Sans",
             "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
    with rc_context(style):
        height = 0.17 * lines + 0.12 * len(labels) + 1.6
        fig = Figure(figsize=(6.0, height))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        y = np.arange(len(order))
        ax.barh(y, -low[order], color="#4575b4", label=_t("low", lang, p=percent))
        ax.barh(y, high[order], color="#d73027", label=_t("high", lang, p=percent))
        ax.axvline(0, color="#333", linewidth=0.8)
        ax.set_yticks(y, labels)
        ticks = np.arange(-reach, reach + 1, max(1, reach // 4))
        ax.set_xticks(ticks, [str(abs(int(t))) for t in ticks])
        ax.set_xlim(-reach - 0.5, reach + 0.5)
        ax.set_xlabel(_t("axis", lang, k=k))
        ax.set_title(textwrap.fill(_t("title", lang, name=result.profile.title[lang]), 60), loc="left", fontsize=10)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55 / (0.77 * height)), fontsize=8, frameon=False)  # below the x label
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


# --- files -----------------------------------------------------------------------------------------

def write_robust_outputs(result: RobustResult, study: Study, out_dir: str | Path, lang: str = settings.DEFAULT_LANGUAGE) -> list[Path]:
    """``<facility>_frequency.tif``, ``_robust_sites.csv``, ``_robust.gpkg``, ``_oat.csv`` and ``_tornado.svg`` in ``out_dir``."""
    out_dir = Path(out_dir)
    pid = result.profile.id
    robust = robust_sites_frame(result, study, lang)
    oat = oat_frame(result, lang)
    return [
        write_frequency_geotiff(out_dir / f"{pid}_frequency.tif", result, study),
        write_csv(out_dir / f"{pid}_robust_sites.csv", robust),
        write_geopackage(out_dir / f"{pid}_robust.gpkg", {
            "robust_sites": robust, "base_sites": base_sites_frame(result, study, lang), "chosen_cells": chosen_cells_frame(result, study),
            "oat": oat, "settings": settings_frame(result),
        }),
        write_csv(out_dir / f"{pid}_oat.csv", oat),
        write_text_atomic(out_dir / f"{pid}_tornado.svg", tornado_svg(result, lang)),
    ]


# --- what a map should draw --------------------------------------------------------------------------

@dataclass
class FrequencyLayer:
    """What a map draws for one facility: the nearby-frequency surface and the robust sites.

    ``surface`` is float32 on the analysis grid (``transform``, ``crs``; NaN where
    no candidate lies or a fixed exclusion removes it), values 0-1: the share of
    samples with a chosen site within ``match_radius_m``. ``robust_sites`` are
    points in EPSG:32643 (see :func:`robust_sites_frame`).
    """

    facility: str
    surface: np.ndarray
    transform: Affine
    crs: str
    robust_sites: gpd.GeoDataFrame
    match_radius_m: float
    threshold: float
    samples: int


def frequency_layer(result: RobustResult, study: Study, lang: str = settings.DEFAULT_LANGUAGE) -> FrequencyLayer:
    """The frequency surface and robust sites a map should draw for ``result``."""
    if result.surface is None:
        surface = candidate_surface(result.nearby_frequency, result.result.candidates, study)
    else:  # a grid scored in tiles: the nearby band strip by strip (float32, as the tiled score surface)
        surface = np.vstack([result.surface.bands(tile)[0] for tile in study.tiles])
    return FrequencyLayer(result.profile.id, surface, study.grid.transform, settings.ANALYSIS_CRS, robust_sites_frame(result, study, lang),
                          result.settings.match_radius_m, result.settings.threshold, result.settings.samples)


# --- index page section --------------------------------------------------------------------------------

def method_text(result: RobustResult, lang: str, study: Study | None = None) -> str:
    """What the samples varied and what "nearby" and "robust" mean, in one or two sentences (layer titles from ``study``'s catalog)."""
    s = result.settings
    varied = []
    if "weights" in s.sources:
        how = _t("ahp", lang) if result.profile.weights["method"] == "ahp" else _t("dirichlet", lang, k=s.concentration)
        varied.append(_t("weights_varied", lang, how=how))
    if result.model.totals:
        varied.append(_t("flows_varied", lang))
    layers = sorted({jc.layer for jc in result.model.jittered} | {e.layer for e in result.model.exclusions})
    if layers:
        if study is not None:
            layers = [study.catalog.layer(name).display_title(lang) for name in layers]
        varied.append(_t("positions_varied", lang, layers=", ".join(layers)))
    text = _t("method", lang, samples=s.samples, seed=s.seed, varied="; ".join(varied) or _t("nothing_varied", lang))
    return f"{text} {_t('nearby_definition', lang, radius=_radius_text(s.match_radius_m, lang), threshold=s.threshold)}"


def _radius_text(metres: float, lang: str) -> str:
    from ..explain import format_distance

    return format_distance(round(metres, -1), lang)


def robust_section_html(results: dict[str, RobustResult], study: Study, links: dict[str, list[tuple[str, str]]] | None = None) -> str:
    """A trilingual section for the index page: method, robust sites and a tornado chart per facility, links to the files.

    ``links`` maps a facility id to ``(file name, relative href)`` pairs. Every text
    from data is escaped; the tornado SVGs are inlined (one per language).
    """
    from ..render.text import esc, tr, tr_message

    blocks = [f"<h2>{tr_message('robust_section')}</h2>"]
    for pid, result in results.items():
        per_lang = {}
        for lang in settings.LANGUAGES:
            method = method_text(result, lang, study)
            sites = robust_sites_frame(result, study, lang)
            if len(sites):
                head = "".join(f"<th>{esc(h)}</th>" for h in ("#", message("district", lang), _t("nearby", lang), _t("here", lang),
                                                                     _t("base_rank", lang), _t("median_rank", lang)))
                body = "".join(
                    f"<tr><td>{int(r.site)}</td><td>{esc(r.district)}</td><td>{r.nearby_frequency:.0%}</td><td>{r.selected_frequency:.0%}</td>"
                    f"<td>{'' if np.isnan(r.base_site_rank) else int(r.base_site_rank)}</td>"
                    f"<td>{'' if np.isnan(r.rank_p50) else int(r.rank_p50)}</td></tr>" for r in sites.itertuples())
                table = f"<table><tr>{head}</tr>{body}</table>"
            else:
                table = f"<p>{esc(_t('none_robust', lang))}</p>"
            svg = tornado_svg(result, lang)
            svg = svg[svg.index("<svg"):]
            per_lang[lang] = (f'<p class="ga-note">{esc(method)}</p><h4>{esc(_t("robust_sites", lang))}</h4>{table}'
                              f'<div class="ga-tornado">{svg}</div>')
        files = "".join(f'<li><a href="{esc(href)}">{esc(name)}</a></li>' for name, href in (links or {}).get(pid, []))
        files_html = f"<p>{tr_message('robust_files')}</p><ul>{files}</ul>" if files else ""
        blocks.append(f"<h3>{tr(result.profile.title)}</h3>{tr(per_lang, escape=False)}{files_html}")
    style = "<style>.ga-tornado svg{max-width:100%;height:auto}</style>"
    return style + "".join(blocks)

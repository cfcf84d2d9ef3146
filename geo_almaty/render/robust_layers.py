"""The robustness analysis on the planner map: how often each place gets a site, and the robust sites.

Per facility type with a :class:`geo_almaty.robust.RobustResult`: the nearby-frequency surface
(the share of Monte Carlo variants with a chosen site within the match radius; cells never near
one are left transparent) as an image overlay, and the robust sites as markers whose popup gives
the frequencies and rank quantiles. Both start hidden; the layer list switches them on.
"""
from __future__ import annotations

import folium
import numpy as np

from .. import settings
from ..explain import format_distance
from ..i18n import text as message
from ..robust import frequency_layer, robust_sites_frame
from ..select import district_names
from .elements import FeatureLayer
from .legend import LegendItem
from .maps import coordinates_text, to_lonlat_features
from .overlay import hex_colour, ramp_css, surface_overlay
from .shell import add_overlay
from .text import esc, per_language, tr

#: Colour stops of the frequency surface (0 → 1 of the variants), the same on every facility's layer.
FREQUENCY_RAMP = ((0.0, (255, 247, 243)), (0.5, (221, 52, 151)), (1.0, (73, 0, 106)))
#: Robust-site markers: a yellow disc with a dark ring, unlike any pin or layer of the recipes.
ROBUST_SITE_STYLE = {"radius": 7, "color": "#1a1a1a", "weight": 2, "fillColor": "#ffd92f", "fillOpacity": 0.95}


def percent(value: float, lang: str) -> str:
    """'85 %' (a share 0-1), '—' when unknown."""
    return "—" if not np.isfinite(value) else f"{value * 100:.0f}\u00a0%"


def robust_site_popup(row, title: dict[str, str], districts: dict[str, dict[str, str]]) -> str:
    """One robust site: nearby and own-cell frequency, base rank, median score rank (5-95 %), district, coordinates."""
    def rank(value: float) -> str:
        return "—" if not np.isfinite(value) else f"{value:.0f}"

    def body(lang: str) -> str:
        lines = [
            (message("robust_nearby", lang), percent(row.nearby_frequency, lang)),
            (message("robust_here", lang), percent(row.selected_frequency, lang)),
            (message("robust_base_rank", lang), rank(row.base_rank)),
            (message("robust_median_rank", lang), f"{rank(row.rank_p50)} ({rank(row.rank_p05)}–{rank(row.rank_p95)})"),
            (message("district", lang), districts.get(row.district_id, {}).get(lang, str(row.district_id))),
            (message("coordinates", lang), coordinates_text(row.lat, row.lon)),
        ]
        return "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in lines)

    heading = tr({lang: f"{message('robust_robust_sites', lang)}: {title[lang]}" for lang in settings.LANGUAGES})
    return f'<div class="ga-popup"><h3>{heading}</h3><table>{tr(per_language(body), escape=False)}</table></div>'


def add_robustness(m: folium.Map, recipe: dict, inputs, robust: dict) -> None:
    """Frequency surface and robust sites of every recipe facility that has a robustness result."""
    study = inputs.study
    max_pixels = recipe.get("surface", {}).get("max_pixels", 700)
    opacity = recipe.get("surface", {}).get("opacity", 0.7)
    districts = district_names(study)
    ramp_colours = tuple(hex_colour(c) for _, c in FREQUENCY_RAMP)
    drawn = 0
    for item in recipe["facilities"]:
        analysis = robust.get(item["facility"])
        if analysis is None:
            continue
        layer = frequency_layer(analysis, study)
        title = analysis.profile.title
        surface = np.where(layer.surface > 0, layer.surface, np.nan)
        image, bounds = surface_overlay(surface, study.grid, max_pixels, FREQUENCY_RAMP)
        overlay = folium.raster_layers.ImageOverlay(image=image, bounds=bounds, opacity=opacity, pixelated=True)
        definition = per_language(lambda lang: message("robust_nearby_definition", lang).format(
            radius=format_distance(layer.match_radius_m, lang), threshold=layer.threshold))
        ends = per_language(lambda lang: f"{message('robust_nearby', lang)}: 0 … 100 %")
        name = {lang: f"{title[lang]}: {message('robust_frequency', lang)}" for lang in settings.LANGUAGES}
        add_overlay(m, overlay, key=f"frequency:{item['facility']}", title=name, group="facilities", show=False,
                    legend=[LegendItem(ends, None, "ramp", gradient=ramp_css(FREQUENCY_RAMP))], note=definition)
        if drawn:
            m.shell.legend[-1].shared_colours = ramp_colours  # one ramp means "frequency" on every facility
        sites = robust_sites_frame(analysis, study)
        if len(sites):
            props = [{"_style": ROBUST_SITE_STYLE, "_popup": robust_site_popup(row, title, districts),
                      "_tooltip": tr({lang: f"{message('robust_robust_sites', lang)}: {percent(row.nearby_frequency, lang)}"
                                      for lang in settings.LANGUAGES})}
                     for row in sites.itertuples()]
            group = folium.FeatureGroup()
            FeatureLayer(to_lonlat_features(sites, props)).add_to(group)
            label = {lang: f"{title[lang]}: {message('robust_robust_sites', lang).lower()} ({len(sites)})" for lang in settings.LANGUAGES}
            add_overlay(m, group, key=f"robust_sites:{item['facility']}", title=label, group="facilities", show=False,
                        legend=[LegendItem(label, ROBUST_SITE_STYLE["fillColor"], "circle", outline=ROBUST_SITE_STYLE["color"])])
            if drawn:
                m.shell.legend[-1].shared_colours = (ROBUST_SITE_STYLE["fillColor"], ROBUST_SITE_STYLE["color"])
        drawn += 1

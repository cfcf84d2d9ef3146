"""Tables and layers of a located facility type, and the files for the akimat's GIS.

Every number here is summed from :attr:`LocateOutcome.allocation` (kg per grid cell,
flow and site), so the tables add up: per flow, served + unserved = eligible supply
and eligible + not eligible = the flow's total; per site, the flows it receives sum to
its assigned tonnes. Layers are built in EPSG:32643 (:func:`locate_layers`, ready for
the maps) and written in EPSG:4326.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from ..apportion import KG_PER_T
from ..export import write_csv, write_geopackage
from ..i18n import text
from ..siting import sanitary_zone_width
from .facility import UNSERVED, LocateOutcome

def site_table(outcome: LocateOutcome, lang: str) -> pd.DataFrame:
    """One row per opened site: band, capacity, assigned t/yr (in all and per flow), utilisation, district, inside the city."""
    frame = outcome.locations.frame.iloc[outcome.site_location].reset_index(drop=True)
    kg = outcome.site_kg()
    bands = [outcome.spec.bands[b] for b in outcome.site_band]
    assigned = kg.sum(axis=1).to_numpy() / KG_PER_T
    capacity = np.array([b.capacity for b in bands])
    name = frame[f"name_{lang}"].where(frame[f"name_{lang}"] != "", frame["name_ru"])
    table = pd.DataFrame({
        "site_id": frame["site_id"].to_numpy(),
        "facility": outcome.profile.id,
        "kind": np.where(frame["kind"] == "existing", "existing", "new"),
        "name": name.to_numpy(),
        "size_band": [b.id for b in bands],
        "size_band_label": [b.label.get(lang, b.id) for b in bands],
        "capacity_t_yr": capacity,
        "assigned_t_yr": assigned,
        "utilisation": np.where(capacity > 0, assigned / capacity, np.nan),
    })
    for flow in outcome.flow_ids:
        table[f"t_yr_{flow}"] = kg[flow].to_numpy() / KG_PER_T
    facility_type = (outcome.profile.siting or {}).get("facility_type")
    if facility_type:  # the size band fixes the sanitary zone (rules/sanitary_zones.yaml)
        zones = [sanitary_zone_width(facility_type, c) for c in capacity]
        table["hazard_class"] = [z.hazard_class or "" for z in zones]
        table["sanitary_zone_m"] = [z.width_m for z in zones]
        table["sanitary_zone"] = [z.describe(lang) for z in zones]
    table["district_id"] = frame["district_id"].to_numpy()
    table["district"] = [outcome.district_name(d, lang) for d in frame["district_id"]]
    table["inside_city"] = frame["inside_city"].to_numpy(dtype=bool)
    table["score"] = frame["score"].to_numpy()
    table["x"] = frame["x"].to_numpy()
    table["y"] = frame["y"].to_numpy()
    return table


def flow_table(outcome: LocateOutcome, lang: str) -> pd.DataFrame:
    """Per supply flow: total, eligible, served, unserved (of which out of reach), not eligible (t/yr), share, impact."""
    served, unserved, lost = outcome.served_kg(), outcome.unserved_kg(), outcome.out_of_reach_kg()
    rows = []
    for flow in outcome.supply:
        rows.append({
            "flow": flow.allocation, "title": flow.title.get(lang, flow.allocation),
            "total_t_yr": flow.total_kg / KG_PER_T, "share": flow.share,
            "share_parameter": flow.share_parameter.id if flow.share_parameter else "",
            "share_status": flow.share_parameter.status if flow.share_parameter else "",
            "eligible_t_yr": flow.eligible_kg / KG_PER_T, "served_t_yr": served[flow.allocation] / KG_PER_T,
            "unserved_t_yr": unserved[flow.allocation] / KG_PER_T, "out_of_reach_t_yr": lost[flow.allocation] / KG_PER_T,
            "not_eligible_t_yr": flow.not_eligible_kg / KG_PER_T,
            "impact": flow.impact, "flow_rows": ";".join(flow.rows), "why": flow.why,
        })
    return pd.DataFrame(rows)


def district_site_table(outcome: LocateOutcome, lang: str) -> pd.DataFrame:
    """t/yr from each district to each site (and to 'unserved'), per flow and in all."""
    table = outcome.allocation.copy()
    table["district_id"] = outcome.cell_district[np.searchsorted(outcome.points.cell, table.cell.to_numpy())]
    labels = outcome.locations.frame["site_id"].to_numpy()
    table["site_id"] = np.where(table.location == UNSERVED, "unserved", labels[table.location.clip(lower=0)])
    wide = table.pivot_table(index=["district_id", "site_id"], columns="flow", values="kg", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=outcome.flow_ids, fill_value=0)
    out = pd.DataFrame({"district_id": wide.index.get_level_values(0), "site_id": wide.index.get_level_values(1)})
    out["district"] = [outcome.district_name(d, lang) for d in out["district_id"]]
    out["t_yr"] = wide.sum(axis=1).to_numpy() / KG_PER_T
    for flow in outcome.flow_ids:
        out[f"t_yr_{flow}"] = wide[flow].to_numpy() / KG_PER_T
    return out.sort_values(["site_id", "t_yr"], ascending=[True, False], kind="stable").reset_index(drop=True)


def impact_table(outcome: LocateOutcome) -> pd.DataFrame:
    """Impact figures with units, then the coefficients used and the notes."""
    rows = [{"figure": f, "value": v, "unit": u, "detail": ""} for f, v, u in outcome.impact.rows()]
    rows += [{"figure": f"coefficient:{k}", "value": np.nan, "unit": "", "detail": v} for k, v in outcome.impact.coefficients.items()]
    rows += [{"figure": "note", "value": np.nan, "unit": "", "detail": text(f"locate_note_{n}", "en")} for n in outcome.impact.notes]
    rows.append({"figure": "distances", "value": np.nan, "unit": "", "detail": outcome.costs.describe()})
    return pd.DataFrame(rows)


def locate_layers(outcome: LocateOutcome, lang: str = settings.DEFAULT_LANGUAGE) -> dict[str, gpd.GeoDataFrame]:
    """``sites`` (points), ``catchments`` (polygons) and ``links`` (lines) in EPSG:32643, ready to draw.

    Catchments: the grid cells whose supply goes mostly to a site, dissolved per site
    (``unserved`` for cells mostly left unserved); their ``t_yr`` is the site's whole
    assigned tonnage. Links: demand point (block centroid) → site, with tonnes and haul.
    """
    sites = site_table(outcome, lang)
    site_layer = gpd.GeoDataFrame(sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites.x, sites.y), crs=settings.ANALYSIS_CRS)
    labels = outcome.locations.frame["site_id"].to_numpy()
    alloc = outcome.allocation
    # Catchments: each cell to the destination taking most of it (ties: lower location, unserved last).
    per_cell = alloc.groupby(["cell", "location"], sort=True)["kg"].sum().reset_index()
    per_cell["rank_key"] = np.where(per_cell.location == UNSERVED, np.iinfo(np.int64).max, per_cell.location)
    per_cell = per_cell.sort_values(["cell", "kg", "rank_key"], ascending=[True, False, True], kind="stable")
    main = per_cell.drop_duplicates("cell")
    cells = main.cell.to_numpy()
    size = outcome.cell_size_m
    cx = outcome.points.cell_x[np.searchsorted(outcome.points.cell, cells)]
    cy = outcome.points.cell_y[np.searchsorted(outcome.points.cell, cells)]
    boxes = shapely.box(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
    site_key = np.where(main.location == UNSERVED, "unserved", labels[main.location.clip(lower=0)])
    district = outcome.cell_district[np.searchsorted(outcome.points.cell, cells)]
    cells_frame = gpd.GeoDataFrame({"site_id": site_key, "district_id": district}, geometry=boxes, crs=settings.ANALYSIS_CRS)
    dissolved = cells_frame.dissolve(by="site_id", sort=True, aggfunc={"district_id": lambda d: "; ".join(sorted(set(d)))})
    dissolved = dissolved.reset_index().rename(columns={"district_id": "district_ids"})
    assigned = dict(zip(sites.site_id, sites.assigned_t_yr))
    unserved_t = sum(outcome.unserved_kg().values()) / KG_PER_T
    dissolved["t_yr"] = [assigned.get(s, unserved_t if s == "unserved" else 0.0) for s in dissolved.site_id]
    dissolved["districts"] = ["; ".join(outcome.district_name(d, lang) for d in ids.split("; ")) for ids in dissolved.district_ids]
    dissolved["cells"] = cells_frame.groupby("site_id").size().reindex(dissolved.site_id).to_numpy()
    dissolved["facility"] = outcome.profile.id
    catchments = dissolved[["site_id", "facility", "t_yr", "cells", "district_ids", "districts", "geometry"]]
    # Links: demand point -> site.
    served = alloc[alloc.location != UNSERVED]
    point = outcome.points.cell_point[np.searchsorted(outcome.points.cell, served.cell.to_numpy())]
    link = pd.DataFrame({"point": point, "location": served.location.to_numpy(), "flow": served.flow.to_numpy(), "kg": served.kg.to_numpy()})
    wide = link.pivot_table(index=["point", "location"], columns="flow", values="kg", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=outcome.flow_ids, fill_value=0)
    p_idx = wide.index.get_level_values(0).to_numpy()
    l_idx = wide.index.get_level_values(1).to_numpy()
    from .facility import _point_site_km

    km = _point_site_km(outcome.costs, p_idx, l_idx)
    frame = outcome.locations.frame
    lines = shapely.linestrings(np.stack([np.c_[outcome.points.x[p_idx], outcome.points.y[p_idx]],
                                          np.c_[frame.x.to_numpy()[l_idx], frame.y.to_numpy()[l_idx]]], axis=1))
    links = gpd.GeoDataFrame({"point_id": [f"p{i}" for i in p_idx], "site_id": labels[l_idx], "facility": outcome.profile.id,
                              "t_yr": wide.sum(axis=1).to_numpy() / KG_PER_T, "haul_km": km}, geometry=lines, crs=settings.ANALYSIS_CRS)
    for flow in outcome.flow_ids:
        links[f"t_yr_{flow}"] = wide[flow].to_numpy() / KG_PER_T
    links["tkm"] = links["t_yr"] * links["haul_km"]
    return {"sites": site_layer, "catchments": gpd.GeoDataFrame(catchments, geometry="geometry", crs=settings.ANALYSIS_CRS), "links": links}


def write_locate_outputs(outcome: LocateOutcome, out_dir: str | Path, lang: str) -> list[Path]:
    """``<facility>_locate.gpkg`` (sites, catchments, links, district_site, flows, impact) and ``<facility>_locate_sites.csv``."""
    out_dir = Path(out_dir)
    layers = locate_layers(outcome, lang)
    pid = outcome.profile.id
    sites = layers["sites"].copy()
    lonlat = sites.geometry.to_crs(settings.GEOGRAPHIC_CRS)
    sites["lon"] = lonlat.x.round(6)
    sites["lat"] = lonlat.y.round(6)
    sites["distances"] = outcome.costs.describe()
    tables = {
        "sites": sites, "catchments": layers["catchments"], "links": layers["links"],
        "district_site": district_site_table(outcome, lang), "flows": flow_table(outcome, lang),
        "impact": impact_table(outcome),
    }
    return [write_geopackage(out_dir / f"{pid}_locate.gpkg", tables), write_csv(out_dir / f"{pid}_locate_sites.csv", sites)]


def write_locate_spread_outputs(spread, out_dir: str | Path) -> list[Path]:
    """``<facility>_locate_robust.csv`` (per location opened in any sample) and ``<facility>_locate_spread.csv`` (quantiles).

    ``spread``: a :class:`.uncertainty.LocateSpread`. Positions are written as lon/lat (EPSG:4326).
    """
    from .uncertainty import spread_sites, spread_table

    out_dir = Path(out_dir)
    pid = spread.base.profile.id
    sites = spread_sites(spread)
    lonlat = gpd.GeoSeries(gpd.points_from_xy(sites.x, sites.y), crs=settings.ANALYSIS_CRS).to_crs(settings.GEOGRAPHIC_CRS)
    sites.insert(3, "lon", lonlat.x.round(6).to_numpy())
    sites.insert(4, "lat", lonlat.y.round(6).to_numpy())
    sites = sites.drop(columns=["x", "y"])
    table = spread_table(spread)
    table["seed"] = spread.seed
    return [write_csv(out_dir / f"{pid}_locate_robust.csv", sites), write_csv(out_dir / f"{pid}_locate_spread.csv", table)]

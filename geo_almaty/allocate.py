"""Spread the report's city-wide flows over districts and the analysis grid (the *prepare* stage).

Each flow in ``data/allocation.yaml`` names its total (an expression over rows
of ``data/flows.csv``) and a proxy:

- ``population``: districts by their (official) population, then each district's
  share over its cells by the people living there (the ``population`` grid;
  residential and mixed land use when a catalog has no grid), by area where it has none;
- ``stated_tonnage``: point producers keep their stated t/yr; the rest of the
  total is shared equally (``weights: equal``) or by ``size_weight``; ``classes`` and
  ``within_layer`` restrict it to the producers it plausibly comes from;
- ``area``: polygons (parks) by area; the amount *is* the area (ha) when the
  report gives no tonnage;
- ``construction_activity``: split by the share of the waste each activity generates
  (demolition, renovation, new build; a row with a range counts with its midpoint)
  over construction sites and the building stock (renovation by area × age; the stock
  planned for demolition and demolition sites take the demolition share); every
  feature row records its ``component`` (the activity).

Amounts are whole kilograms (or m² for areas) apportioned with the largest
remainder method, so every allocation sums *exactly* to its total, per feature,
per district and per grid cell.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .apportion import KG_PER_T, largest_remainder, largest_remainder_grouped, tonnes_to_kg
from .config import load_validated_yaml
from .errors import FlowDataError, LayerError
from .flows import evaluate, flow_row
from .grid import AnalysisGrid
from .rasterize import feature_cell_weights

log = logging.getLogger(__name__)

M2_PER_HA = 10_000
OUTSIDE_DISTRICTS = "outside"


@dataclass
class Allocation:
    """One flow spread over features, districts and grid cells.

    Amounts are integers in ``base_unit`` (kg/yr for t/yr flows, m² for areas);
    ``per_unit`` converts them to ``unit``.
    """

    id: str
    title: dict[str, str]
    unit: str
    base_unit: str
    per_unit: int
    total_base: int
    proxy: str
    note: str
    rows: tuple[str, ...]
    features: pd.DataFrame
    surface_base: np.ndarray = field(repr=False)
    report_lines: str = ""

    def by_district_component(self) -> pd.DataFrame:
        """Amount per (district, component) in ``unit``; ``component`` is '' for flows without parts."""
        frame = self.features.assign(component=self.features["component"] if "component" in self.features.columns else "")
        sums = frame.groupby(["district_id", "component"], sort=True)["amount_base"].sum().reset_index()
        sums["amount"] = sums["amount_base"] / self.per_unit
        return sums[["district_id", "component", "amount"]]

    @property
    def total(self) -> float:
        """Total in ``unit`` (t/yr or ha)."""
        return self.total_base / self.per_unit

    def surface(self) -> np.ndarray:
        """Amount per grid cell in ``unit`` (float64, grid shape)."""
        return self.surface_base / self.per_unit

    def by_district(self) -> pd.Series:
        """Amount per district id in ``unit`` (``'outside'`` for features outside every district)."""
        sums = self.features.groupby("district_id")["amount_base"].sum()
        return sums / self.per_unit


def allocation_specs_path() -> Path:
    """Default allocation definitions."""
    return settings.data_dir() / "allocation.yaml"


def load_allocation_specs(path: str | Path | None = None) -> dict[str, dict]:
    """The allocation definitions, schema-validated."""
    path = Path(path) if path else allocation_specs_path()
    return load_validated_yaml(path, "allocation", FlowDataError)["allocations"]


def allocate_flows(specs: dict[str, dict], flows: pd.DataFrame, layers: dict[str, gpd.GeoDataFrame], grid: AnalysisGrid,
                   people: np.ndarray) -> dict[str, Allocation]:
    """Allocate every flow in ``specs`` (see :func:`load_allocation_specs`) onto ``grid``.

    ``people`` weighs the grid cells for population-based flows: persons per cell
    (:meth:`Study.population_weights`), or any non-negative surface such as a residential share.
    """
    result = {}
    districts = _require(layers, "districts", "allocation")
    for flow_id, spec in specs.items():
        proxy = spec["proxy"]
        unit = spec.get("unit", "t/yr")
        rows: tuple[str, ...] = ()
        total_base = None
        if "total" in spec:
            quantity = evaluate(spec["total"], flows, where=f"allocations/{flow_id}/total")
            if quantity.unit != settings.MASS_FLOW_UNIT:
                raise FlowDataError(f"total in {quantity.unit}", column=f"allocations/{flow_id}/total", expected="a mass flow in t/yr")
            total_base, rows = tonnes_to_kg(quantity.value), quantity.rows
        elif unit != "ha":
            raise FlowDataError("no total", column=f"allocations/{flow_id}", expected="a total expression, or unit: ha for an area index")
        if proxy == "population":
            features, surface = allocate_by_population(total_base, districts, grid, people)
        elif proxy == "stated_tonnage":
            layer = _producers(layers, spec, flow_id)
            features, surface = allocate_by_stated_tonnage(total_base, layer, grid, districts, equal=spec.get("weights") == "equal")
        elif proxy == "area":
            layer = _require(layers, spec.get("layer", "parks"), flow_id)
            features, surface, total_base = allocate_by_area(layer, grid, districts, total_base)
        else:
            share_rows = spec["activity_shares"]
            shares = {k: central_value(flow_row(flows, v)) for k, v in share_rows.items()}
            rows = rows + tuple(share_rows.values())
            ref_year = int(flow_row(flows, spec["total"]["row"])["year"]) if "row" in spec.get("total", {}) else int(
                flow_row(flows, share_rows["new_build"])["year"])  # the year the stock's age is counted to
            features, surface = allocate_by_construction_activity(
                total_base, shares, layers.get("construction_sites"), _require(layers, "building_stock", flow_id), grid, districts, ref_year)
        features["proxy"] = proxy
        per_unit = KG_PER_T if unit == "t/yr" else M2_PER_HA
        result[flow_id] = Allocation(
            id=flow_id, title=dict(spec["title"]), unit=unit, base_unit="kg/yr" if unit == "t/yr" else "m2", per_unit=per_unit,
            total_base=int(total_base), proxy=proxy, note=spec["note"], rows=rows, features=features, surface_base=surface,
            report_lines=spec.get("report_lines", ""),
        )
        log.info("allocated %s: %.0f %s by %s over %d features", flow_id, result[flow_id].total, unit, proxy, len(features))
    return result


def central_value(row: pd.Series) -> float:
    """A row's canonical value, or the midpoint of its range when it gives one (``value_high``)."""
    low, high = float(row["value_canonical"]), float(row["value_high_canonical"])
    return (low + high) / 2 if np.isfinite(high) else low


def _producers(layers: dict[str, gpd.GeoDataFrame], spec: dict, flow_id: str) -> gpd.GeoDataFrame:
    """The producers a stated-tonnage flow may come from: ``classes`` of the layer, inside ``within_layer``."""
    name = spec.get("layer", "organic_producers")
    frame = _require(layers, name, flow_id)
    if "classes" in spec:
        frame = frame[frame["class"].isin(spec["classes"])]
    if "within_layer" in spec:
        area = shapely.union_all(_require(layers, spec["within_layer"], flow_id).geometry.values)
        shapely.prepare(area)
        frame = frame[shapely.intersects(area, frame.geometry.values)]
    if not len(frame):
        raise LayerError("no producer left for the flow", layer=name, column=f"allocations/{flow_id}",
                         expected="features of the allocation's classes inside its within_layer")
    return frame


def _require(layers: dict[str, gpd.GeoDataFrame], name: str, purpose: str) -> gpd.GeoDataFrame:
    if name not in layers:
        raise LayerError(f"layer needed for {purpose} is not loaded", layer=name, expected="the layer in the catalog with a source")
    return layers[name]


# --- proxies ------------------------------------------------------------------------------------

def allocate_by_population(total_kg: int, districts: gpd.GeoDataFrame, grid: AnalysisGrid,
                           people: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Split ``total_kg`` over districts by ``population``, then over each district's cells.

    Within a district, cells are weighted by ``people`` (persons per cell, or a 0-1
    residential share) times the share of the cell inside the district; a district
    where nobody lives uses area alone. Vectorised over (district, cell) pairs.
    """
    if "population" not in districts.columns or districts["population"].isna().any():
        raise LayerError("population missing", layer="districts", column="population",
                         expected="a population for every district (needed to spread flows by population)")
    population = districts["population"].to_numpy(dtype=np.float64)
    if population.sum() <= 0:
        raise LayerError("populations sum to zero", layer="districts", column="population", expected="positive populations")
    district_kg = largest_remainder(total_kg, population)
    feature, cell, count = feature_cell_weights(districts.geometry.values, grid)
    living = np.asarray(people, dtype=np.float64).ravel()[cell] * count
    inhabited = np.bincount(feature, weights=living, minlength=len(districts)) > 0
    weights = np.where(inhabited[feature], living, count)
    cell_kg = largest_remainder_grouped(district_kg, feature, weights)
    surface = np.bincount(cell, weights=cell_kg, minlength=grid.width * grid.height).astype(np.int64).reshape(grid.shape)
    features = pd.DataFrame({
        "layer": "districts", "feature_id": districts["district_id"].to_numpy(), "district_id": districts["district_id"].to_numpy(),
        "amount_base": district_kg, "weight": population,
    })
    return features, surface


def allocate_by_stated_tonnage(total_kg: int, producers: gpd.GeoDataFrame, grid: AnalysisGrid,
                               districts: gpd.GeoDataFrame, *, equal: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Producers with a stated ``tonnage_t_yr`` keep it; the rest of ``total_kg`` goes by ``size_weight`` (or equally)."""
    stated = producers["tonnage_t_yr"] if "tonnage_t_yr" in producers.columns else pd.Series(np.nan, index=producers.index)
    stated_kg = np.where(stated.notna(), np.round(stated.fillna(0).to_numpy(float) * KG_PER_T), 0).astype(np.int64)
    if stated_kg.sum() > total_kg:
        raise LayerError(f"stated tonnages sum to {stated_kg.sum() / KG_PER_T:,.0f} t/yr, more than the flow total {total_kg / KG_PER_T:,.0f} t/yr",
                         layer="organic_producers", column="tonnage_t_yr", expected="stated tonnages within the report's total")
    size = producers["size_weight"] if "size_weight" in producers.columns and not equal else pd.Series(1.0, index=producers.index)
    size = size.fillna(1.0).to_numpy(float)
    unstated = stated.isna().to_numpy()
    rest = total_kg - int(stated_kg.sum())
    if rest and unstated.any():
        weights = np.where(unstated, size, 0.0)
    else:
        weights = stated_kg.astype(float) if stated_kg.sum() else size
    amounts = stated_kg + (largest_remainder(rest, weights) if rest else 0)
    features = _feature_table(producers, "organic_producers", "producer_id", amounts, districts, weights)
    return features, spread_features(amounts, producers.geometry.values, grid)


def allocate_by_area(polygons: gpd.GeoDataFrame, grid: AnalysisGrid, districts: gpd.GeoDataFrame,
                     total_kg: int | None = None) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Spread by polygon area: ``total_kg`` if given, otherwise the area itself in whole m²."""
    area = shapely.area(polygons.geometry.values)
    if total_kg is None:
        amounts = np.round(area).astype(np.int64)
        total = int(amounts.sum())
    else:
        amounts = largest_remainder(total_kg, area)
        total = total_kg
    id_column = _id_column(polygons)
    features = _feature_table(polygons, "parks", id_column, amounts, districts, area)
    return features, spread_features(amounts, polygons.geometry.values, grid), total


def allocate_by_construction_activity(total_kg: int, shares: dict[str, float], sites: gpd.GeoDataFrame | None,
                                      stock: gpd.GeoDataFrame, grid: AnalysisGrid, districts: gpd.GeoDataFrame,
                                      reference_year: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Split C&D waste by the share each activity generates, then within each activity over its features.

    - new build (offcuts) → ``new_build`` sites (equally), or the stock by area without any;
    - renovation (and ``maintenance`` when given separately) → the building stock by area × age (apartment
      renovation happens all over the ageing stock) plus ``renovation`` sites, each weighing as much as an
      average stock block;
    - demolition → stock with ``demolition_planned`` (by area) and ``demolition`` sites (each as an average
      planned block); the stock by area × age when neither exists.

    Each feature row keeps its ``component`` (the activity); totals are exact per activity.
    """
    activities = [a for a in ("demolition", "renovation", "maintenance", "new_build") if a in shares]
    activity_kg = dict(zip(activities, largest_remainder(total_kg, np.array([shares[a] for a in activities]))))
    stock_area = shapely.area(stock.geometry.values)
    stock_age = np.array([_period_age(p, reference_year) for p in stock["built_period"]])
    stock_weight = stock_area * stock_age
    site_class = sites["class"].to_numpy() if sites is not None and len(sites) else np.array([], dtype=object)

    parts: list[tuple[str, gpd.GeoDataFrame, str, str, np.ndarray, np.ndarray]] = []  # activity, frame, layer, id column, amounts, weights

    def spread(activity: str, pieces: list[tuple[gpd.GeoDataFrame, str, str, np.ndarray]]) -> None:
        """Share ``activity``'s total over several feature sets at once (one apportionment, exact)."""
        pieces = [p for p in pieces if len(p[0])]
        weights = np.concatenate([p[3] for p in pieces])
        amounts = largest_remainder(activity_kg[activity], weights)
        start = 0
        for frame, layer, id_column, w in pieces:
            parts.append((activity, frame, layer, id_column, amounts[start:start + len(frame)], w))
            start += len(frame)

    if activity_kg.get("new_build"):
        mask = site_class == "new_build"
        if mask.any():
            spread("new_build", [(sites[mask], "construction_sites", "site_id", np.ones(int(mask.sum())))])
        else:
            spread("new_build", [(stock, "building_stock", "stock_id", stock_area)])
    for activity in ("renovation", "maintenance"):
        if activity_kg.get(activity):
            mask = site_class == "renovation" if activity == "renovation" else np.zeros(len(site_class), bool)
            pieces = [(stock, "building_stock", "stock_id", stock_weight)]
            if mask.any():
                pieces.append((sites[mask], "construction_sites", "site_id", np.full(int(mask.sum()), stock_weight.mean())))
            spread(activity, pieces)
    if activity_kg.get("demolition"):
        planned = stock["demolition_planned"].fillna(False).astype(bool).to_numpy() if "demolition_planned" in stock.columns else np.zeros(len(stock), bool)
        demolition_sites = site_class == "demolition"
        if demolition_sites.any() or planned.any():
            site_weight = stock_area[planned].mean() if planned.any() else 1.0  # a demolition site counts as an average planned block
            pieces = [(stock[planned], "building_stock", "stock_id", stock_area[planned])]
            if demolition_sites.any():
                pieces.insert(0, (sites[demolition_sites], "construction_sites", "site_id", np.full(int(demolition_sites.sum()), site_weight)))
            spread("demolition", pieces)
        else:
            spread("demolition", [(stock, "building_stock", "stock_id", stock_weight)])

    tables, surface = [], np.zeros(grid.shape, dtype=np.int64)
    for activity, frame, layer, id_column, amounts, weights in parts:
        tables.append(_feature_table(frame, layer, id_column, amounts, districts, weights).assign(component=activity))
        surface += spread_features(amounts, frame.geometry.values, grid)
    features = pd.concat(tables, ignore_index=True)
    features = features.groupby(["component", "layer", "feature_id", "district_id"], as_index=False, sort=False).agg(
        amount_base=("amount_base", "sum"), weight=("weight", "sum"))
    return features, surface


# --- helpers -------------------------------------------------------------------------------------

def spread_features(amounts: np.ndarray, geometries: np.ndarray, grid: AnalysisGrid) -> np.ndarray:
    """Whole-unit amounts of features spread over the grid cells they cover (int64, grid shape); sums are exact."""
    amounts = np.asarray(amounts, dtype=np.int64)
    feature, cell, count = feature_cell_weights(geometries, grid)
    cell_amount = largest_remainder_grouped(amounts, feature, count)
    return np.bincount(cell, weights=cell_amount, minlength=grid.width * grid.height).round().astype(np.int64).reshape(grid.shape)


def district_of(geometries: np.ndarray, districts: gpd.GeoDataFrame) -> np.ndarray:
    """District id holding each geometry's representative point (``'outside'`` if none)."""
    points = shapely.point_on_surface(np.asarray(geometries))
    tree = shapely.STRtree(districts.geometry.values)
    point_idx, district_idx = tree.query(points, predicate="within")
    ids = np.full(len(points), OUTSIDE_DISTRICTS, dtype=object)
    ids[point_idx] = districts["district_id"].to_numpy()[district_idx]
    return ids


def _feature_table(frame: gpd.GeoDataFrame, layer: str, id_column: str, amounts: np.ndarray, districts: gpd.GeoDataFrame,
                   weights: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "layer": layer,
        "feature_id": frame[id_column].to_numpy() if id_column in frame.columns else np.arange(len(frame)).astype(str),
        "district_id": district_of(frame.geometry.values, districts),
        "amount_base": np.asarray(amounts, dtype=np.int64),
        "weight": np.asarray(weights, dtype=np.float64),
    })


def _id_column(frame: gpd.GeoDataFrame) -> str:
    candidates = [c for c in frame.columns if c.endswith("_id")]
    return candidates[0] if candidates else "index"


_PERIOD = re.compile(r"(\d{4})")


def _period_age(period: str, reference_year: int) -> float:
    """Age (years) of a ``built_…`` period at ``reference_year``, from the period's middle year.

    ``built_pre_1936`` is taken as 20 years before its bound, ``built_post_1991`` as
    halfway between its bound and the reference year; at least one year.
    """
    years = [int(y) for y in _PERIOD.findall(str(period))]
    if len(years) >= 2:
        middle = (years[0] + years[1]) / 2
    elif years and "pre" in period:
        middle = years[0] - 20
    elif years:
        middle = (years[0] + reference_year) / 2
    else:
        middle = reference_year - 30
    return max(1.0, reference_year - middle)

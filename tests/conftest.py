"""Shared fixtures: paths to ../shared (skipped when absent) and helpers that write small layers and catalogs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from geo_almaty import settings

SHARED = settings.project_root().parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests using it skip when a user's clone lacks it."""
    if not SHARED.is_dir():
        pytest.skip("../shared (report and third-party geodata) is not beside this checkout")
    return SHARED


@pytest.fixture
def report_file(shared_dir: Path) -> Path:
    path = shared_dir / "report" / "almaty_ce_report_ru.txt"
    if not path.is_file():
        pytest.skip("../shared/report/almaty_ce_report_ru.txt is absent")
    return path


@pytest.fixture
def geodata_dir(shared_dir: Path) -> Path:
    path = shared_dir / "geodata"
    if not path.is_dir():
        pytest.skip("../shared/geodata is absent")
    return path


def write_geojson(path: Path, features: list[dict], *, crs: str | None = None) -> Path:
    """Write a FeatureCollection; ``features`` are (properties, geometry) dicts."""
    collection: dict = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": f["properties"], "geometry": f["geometry"]} for f in features
    ]}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def write_catalog(path: Path, layers: dict, extends: str | None = "embedded") -> Path:
    """Write a user catalog YAML."""
    document: dict = {"version": 1, "layers": layers}
    if extends:
        document["extends"] = extends
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def square(lon: float, lat: float, half: float = 0.005) -> dict:
    return {"type": "Polygon", "coordinates": [[
        [lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half], [lon - half, lat - half],
    ]]}

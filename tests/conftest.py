"""Shared fixtures: paths to ../shared (skipped when absent) and helpers that write small layers and catalogs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from geo_almaty import settings

try:  # property tests check results, never speed: no per-example deadline (a busy CI machine trips it)
    import hypothesis

    hypothesis.settings.register_profile("geo_almaty", deadline=None)
    hypothesis.settings.load_profile("geo_almaty")
except ImportError:  # pragma: no cover - hypothesis is in the [test] extra
    pass

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


# --- outputs and a browser shared by every test module (built once per session) ----------------------

@pytest.fixture(scope="session")
def main_run(tmp_path_factory):
    """``geo-almaty run`` on the embedded data, in Russian, once per test session (≈15 s)."""
    from geo_almaty.pipeline import run_main_job

    return run_main_job(None, tmp_path_factory.mktemp("run"), "ru")


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (one per session); the tests using it skip when it is not installed."""
    from .browser import CHROMIUM, launch

    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (set GEO_ALMATY_CHROMIUM to use another one)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed (pip install playwright)")
    manager = sync_api.sync_playwright().start()
    try:
        chromium = launch(manager)
    except Exception as exc:  # a broken Chromium install is an environment problem, not a test failure
        manager.stop()
        pytest.skip(f"cannot launch {CHROMIUM}: {exc}")
    yield chromium
    chromium.close()
    manager.stop()

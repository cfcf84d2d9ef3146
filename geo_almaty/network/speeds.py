"""Travel speeds: a table by road class (``speeds.yaml``) and OSM ``maxspeed`` values where a road has one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import load_validated_yaml
from ..errors import NetworkError

SPEEDS_PATH = Path(__file__).with_name("speeds.yaml")
MPH_TO_KMH = 1.609344
_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class SpeedTable:
    """Speeds (km/h) by road class, which classes cars may use, OSM implicit limits and the connector speed."""

    kmh: dict[str, float]
    drivable: frozenset[str]
    default_kmh: float
    implicit: dict[str, float]
    connector_kmh: float

    def class_speed(self, classes: np.ndarray) -> np.ndarray:
        """Speed (km/h) of each road class; links take their class's speed, unknown drivable classes the default."""
        base = pd.Series(classes, dtype=object).map(road_class)
        return base.map(self.kmh).fillna(self.default_kmh).to_numpy(float)

    def is_drivable(self, classes: np.ndarray) -> np.ndarray:
        """True for classes cars may use (unknown classes count as drivable: a GraphML drive graph only holds drivable ways)."""
        base = pd.Series(classes, dtype=object).map(road_class)
        known = base.isin(self.kmh.keys()).to_numpy()
        return ~known | base.isin(self.drivable).to_numpy()


@lru_cache(maxsize=4)
def load_speeds(path: str | Path | None = None) -> SpeedTable:
    """The speed table (``geo_almaty/network/speeds.yaml`` by default), schema-validated."""
    path = Path(path) if path else SPEEDS_PATH
    document = load_validated_yaml(path, "speeds", NetworkError)
    classes = document["classes"]
    for name, entry in classes.items():
        if entry["drivable"] and entry["kmh"] <= 0:
            raise NetworkError(f"drivable class '{name}' has speed {entry['kmh']}", file=path, column=f"classes/{name}/kmh",
                               expected="a positive speed in km/h for a drivable class")
    return SpeedTable(
        kmh={name: float(entry["kmh"]) for name, entry in classes.items()},
        drivable=frozenset(name for name, entry in classes.items() if entry["drivable"]),
        default_kmh=float(document["default_kmh"]),
        implicit={key.lower(): float(v) for key, v in document["implicit"].items()},
        connector_kmh=float(document["connector_kmh"]),
    )


def road_class(value: object) -> str | None:
    """The road class of a value: 'primary_link' -> 'primary'; an OSM list ('secondary_link, secondary',
    "['primary', 'trunk']") -> its first item; empty -> None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
        return road_class(value)
    text = str(value).strip().strip("[]")
    first = re.split(r"[;,]", text)[0].strip().strip("'\"").strip()
    if not first:
        return None
    return first.removesuffix("_link")


def parse_maxspeed(values: object, implicit: dict[str, float] | None = None) -> np.ndarray:
    """OSM ``maxspeed`` values as km/h (NaN where absent or unreadable).

    Reads numbers ("60", 60.0), units ("30 mph"), lists ("60;80", "60, 40", ["60", "80"]: the lowest
    limit, as a truck must keep to it) and implicit limits ("RU:urban", "KZ:rural": from ``implicit``).
    """
    implicit = load_speeds().implicit if implicit is None else implicit
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values.astype(object)
    cache: dict[object, float] = {}

    def one(value: object) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return np.nan
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return float(value) if value > 0 else np.nan
        key = str(value) if not isinstance(value, (list, tuple)) else tuple(map(str, value))
        if key not in cache:
            items = list(key) if isinstance(key, tuple) else re.split(r"[;,|]", key.strip().strip("[]"))
            speeds = [_one_speed(item.strip().strip("'\""), implicit) for item in items]
            speeds = [s for s in speeds if np.isfinite(s)]
            cache[key] = min(speeds) if speeds else np.nan
        return cache[key]

    return np.fromiter((one(v) for v in series.to_numpy()), dtype=float, count=len(series))


def _one_speed(text: str, implicit: dict[str, float]) -> float:
    match = _NUMBER.match(text)
    if match:
        number = float(match.group(1).replace(",", "."))
        if match.group(2) and match.group(2).lower() == "mph":
            number *= MPH_TO_KMH
        return number if number > 0 else np.nan
    if ":" in text:  # RU:urban, KZ:rural, RU:motorway
        return implicit.get(text.split(":", 1)[1].strip().lower(), np.nan)
    return np.nan


def travel_speed_kmh(classes: np.ndarray, maxspeed: np.ndarray | None, table: SpeedTable | None = None) -> np.ndarray:
    """Speed (km/h) per road: ``maxspeed`` where given, else the class speed from the table."""
    table = table or load_speeds()
    speed = table.class_speed(classes)
    if maxspeed is not None:
        limit = parse_maxspeed(maxspeed, table.implicit)
        speed = np.where(np.isfinite(limit), limit, speed)
    return speed

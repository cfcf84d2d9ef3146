"""Settings in one place: CRSs, the Almaty reference extent, default parameters and paths.

Everything that later stages need as a constant lives here, so that a planner
who wants another cell size or a wider study area changes one line or one
command-line flag, not code scattered over modules.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The one metric CRS used for every computation (WGS 84 / UTM zone 43N, metres).
ANALYSIS_CRS = "EPSG:32643"
#: Geographic CRS used when reading lon/lat input and writing web maps.
GEOGRAPHIC_CRS = "EPSG:4326"

#: Republic Square, the centre used for plausibility checks (lon, lat; EPSG:4326).
ALMATY_CENTRE_LONLAT = (76.9457, 43.2383)
#: A layer whose features lie farther than this from the centre is refused (m).
#: The agglomeration reaches about 70 km (Kapshagay); a lon/lat swap lands thousands of km away.
MAX_DISTANCE_FROM_CENTRE_M = 150_000.0
#: Radius of the default study area used when no study-area layer is given (m).
STUDY_AREA_RADIUS_M = 45_000.0

#: Default candidate-grid cell size (m).
DEFAULT_CELL_SIZE_M = 250.0
#: Languages of every user-visible label.
LANGUAGES = ("ru", "kk", "en")
DEFAULT_LANGUAGE = "ru"

#: Canonical unit of every mass flow after normalisation.
MASS_FLOW_UNIT = "t/yr"


def project_root() -> Path:
    """Folder holding ``data/``, ``layers/``, ``maps/`` and ``profiles/``.

    ``GEO_ALMATY_HOME`` overrides it; by default it is the checkout the package
    was installed from (``pip install -e .``).
    """
    env = os.environ.get("GEO_ALMATY_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder of the flow tables (CSV)."""
    return project_root() / "data"


def layers_dir() -> Path:
    """Folder of the embedded spatial layers and their catalog."""
    return project_root() / "layers"


def default_catalog_path() -> Path:
    """The embedded Almaty layer catalog."""
    return layers_dir() / "catalog.yaml"


def maps_dir() -> Path:
    """Folder of the map recipes (YAML)."""
    return project_root() / "maps"


def profiles_dir() -> Path:
    """Folder of the facility profiles (YAML)."""
    return project_root() / "profiles"


def schemas_dir() -> Path:
    """JSON schemas shipped inside the package."""
    return Path(__file__).resolve().parent / "schemas"


# --- location-allocation (geo_almaty.locate) ---------------------------------------------------
#: Road distance ÷ straight-line distance used when the catalog has no road network. A FALLBACK, flagged in
#: every output that uses it: measured detour indexes are about 1.2-1.4 for national road networks (Ballou,
#: Rahardja & Sakai 2002, "Selected country circuity factors for road travel distance estimation",
#: Transportation Research A 36(9):843-848) and 1.417 on average for US hospital trips (Boscoe, Henry & Zdeb
#: 2012, The Professional Geographer 64(2):188-196). Replaced by road costs once a road network is loaded.
FALLBACK_CIRCUITY = 1.3
#: Side (m) of the square blocks that pool supply cells into demand points (supply-weighted centroid).
DEFAULT_DEMAND_BLOCK_M = 1000.0
#: Candidate sites offered to the location model: at most this many, the best-scoring one per spacing block.
DEFAULT_CANDIDATE_POOL = 3000
DEFAULT_CANDIDATE_SPACING_M = 1000.0
#: Proven relative gap and time limit (s) at which the solver stops.
DEFAULT_LOCATE_GAP = 0.001
DEFAULT_LOCATE_TIME_LIMIT = 120.0
#: The main job (geo-almaty run) locates every facility type to this gap or time limit (s) each, to stay quick.
RUN_LOCATE_GAP = 0.01
RUN_LOCATE_TIME_LIMIT = 20.0
#: Maximal coverage: an unserved tonne costs as much as hauling it this many times the maximum haul.
DEFAULT_UNSERVED_PENALTY_FACTOR = 100.0
#: Largest number of (demand point, candidate) pairs within the haul radius; above it the run is refused
#: with the estimate (each pair takes about 80 bytes in the solver).
MAX_LOCATE_ARCS = 12_000_000

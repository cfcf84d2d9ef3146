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



def rules_dir() -> Path:
    """Folder of the siting rules (YAML): regulations, sanitary zones, aviation and water protection."""
    return project_root() / "rules"

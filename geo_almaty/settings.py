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
#: A layer whose features lie farther than this from the centre is refused (m), when no study area is known
#: yet (the ``study_area`` layer itself). The agglomeration reaches about 70 km (Kapshagay); a lon/lat swap
#: lands thousands of km away.
MAX_DISTANCE_FROM_CENTRE_M = 150_000.0
#: Every feature of a layer must touch the study area grown by this margin (m). Producers that feed the
#: facilities may sit in the hinterland (embedded agricultural producers reach 15 km beyond the study area);
#: Kyrgyz territory south of the ridge (about 40 km beyond it) is refused.
STUDY_AREA_MARGIN_M = 20_000.0
#: Layers with ``extent: region`` in the catalog (oblast districts, settlements, airports) must touch a circle
#: of this radius (m) around the centre instead: Almaty oblast reaches about 300 km east to the Chinese border.
REGION_RADIUS_M = 400_000.0
#: Radius of the default study area used when no study-area layer is given (m).
STUDY_AREA_RADIUS_M = 45_000.0

#: Default candidate-grid cell size (m).
DEFAULT_CELL_SIZE_M = 250.0
#: Languages of every user-visible label.
LANGUAGES = ("ru", "kk", "en")
DEFAULT_LANGUAGE = "ru"

#: Road network (geo_almaty.network). Vertices of different roads closer than this are one junction (m).
#: OSM roads share their junction nodes exactly; a hand-drawn layer needs more (set it in the catalog).
NETWORK_SNAP_TOLERANCE_M = 1.0
#: A point farther than this from every road is reported (a counted warning per point); it still joins
#: the network by its straight connector (m).
MAX_CONNECTOR_M = 2_000.0
#: Memory for one block of Monte Carlo sample scores in the robustness analysis (bytes; shared by the strips
#: scored at a time), for its recorded ranks (8 bytes per sample and recorded cell), and the cells per sample
#: whose rank is recorded exactly.
ROBUST_BLOCK_BYTES = 192 * 2**20
ROBUST_RANK_RECORD_BYTES = 256 * 2**20
ROBUST_RANK_POOL = 1000
#: Memory the many-to-many search may use for the distance rows it holds at once (bytes), and the most
#: sources per chunk (smaller chunks keep the rows in cache: 64 measured ~20 % faster than 500 on the
#: benchmark's city).
OD_CHUNK_BYTES = 256 * 2**20
OD_CHUNK_MAX_SOURCES = 64
#: Processes for large many-to-many searches (0: one per core; 1: none), and the work (sources × nodes)
#: from which they are used. Off by default: spawned workers re-import a script's ``__main__``, so a
#: script that asks for them needs an ``if __name__ == "__main__":`` guard.
OD_WORKERS = 1
OD_PARALLEL_MIN_WORK = 20_000_000
#: Many-to-many searches from at least this many sources run on a contracted core of the network
#: (``geo_almaty.network.contract``; the contraction is cached per network, about 0.5 s for 60,000
#: nodes): nodes whose contraction adds at most ``OD_CONTRACT_MAX_ADDED`` edges net are contracted.
#: On the benchmark's city 0 to 16 were within the noise of each other (1.6-2.1 s CPU for 500 sources, a
#: shared machine); 4 contracts 66 % of the nodes in 9 rounds.
OD_CONTRACT_MIN_SOURCES = 64
OD_CONTRACT_MAX_ADDED = 4
#: Road distance / straight-line distance when a catalog has no road network: the median of
#: ``geo_almaty.network.measured_circuity`` on the embedded roads (node pairs 1-30 km apart, seed 0, 2,000
#: pairs on the city OSM roads joined to the 2012 regional roads), with its interquartile range. Pairs with
#: both ends outside the city give more, 1.42 (1.28-1.79): the regional network is sparse. Re-measure
#: whenever the embedded roads change: ``python benchmarks/bench_network.py --circuity``.
FALLBACK_CIRCUITY = 1.27
FALLBACK_CIRCUITY_IQR = (1.18, 1.40)
#: Mean speed (km/h) turning a fallback distance into minutes for ``road_min`` criteria without a network.
FALLBACK_SPEED_KMH = 40.0

#: Canonical unit of every mass flow after normalisation.
MASS_FLOW_UNIT = "t/yr"

#: Share of the RAM available when a command starts that it may plan to use; ``GEO_ALMATY_MEMORY_BUDGET``
#: (e.g. ``8GB``) or ``--memory-budget`` set an absolute budget instead. Half leaves room for the
#: browser, the GIS and the estimate's own error (see geo_almaty/memory.py).
MEMORY_BUDGET_FRACTION = 0.5

#: Flows are spread, and reachable sums (by disc or by road) computed, on a grid of this cell size (m) when the
#: candidate cells are finer: candidates sample the supply cell holding their centre, so a 10 m grid does not
#: multiply the allocation surfaces and their convolutions by 625 (see geo_almaty/prepare.py, ``Study.supply``).
SUPPLY_CELL_SIZE_M = 250.0
#: Grids whose in-memory estimate exceeds the memory budget are scored in tiles (geo_almaty/tiles.py). The
#: best candidates kept with their exact (float64) score while the tiles stream, for the selection walk and
#: the GeoPackage's best share; widened ×4 (another pass) when the walk needs more.
TILED_POOL_CANDIDATES = 1_000_000
#: Most grid cells a tiled score takes per strip scored at a time (1 in this process; a Dask cluster's
#: threads). Tiles bound the memory, not the time: bench_scale measured about 21k candidates/s per process on
#: 2 cores (the city at 10 m, 7.0 M candidates, in 333 s), so 60 M cells is about an hour. A finer grid is
#: refused with a cell size that fits; the Almaty region at 30 m (over 100 M cells) needs Dask workers.
MAX_TILED_CELLS = 60_000_000
#: Most candidates written to a facility's GeoPackage (the best share, ``export.DEFAULT_CANDIDATE_SHARE``,
#: capped); the GeoTIFF always holds every score.
MAX_GEOPACKAGE_CANDIDATES = 100_000
#: Where tiles are scored: ``local`` (this process, one tile after another) or ``dask`` (tasks on a Dask
#: cluster: a LocalCluster of ``DASK_WORKERS`` processes × ``DASK_THREADS`` threads unless an address is given).
TILE_ENGINE = "local"
DASK_WORKERS = 2
DASK_THREADS = 1

#: Timestamp written into GeoPackages (``gpkg_contents.last_change``) so that identical inputs give
#: byte-identical files; ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds convention)
#: overrides it.
OUTPUT_TIMESTAMP_DEFAULT = "1970-01-01T00:00:00.000Z"


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


def scenarios_dir() -> Path:
    """Folder of the shipped scenarios (YAML): overrides of weights, rules, capacities, flows and the catalog."""
    return project_root() / "scenarios"


def schemas_dir() -> Path:
    """JSON schemas shipped inside the package."""
    return Path(__file__).resolve().parent / "schemas"


def rules_dir() -> Path:
    """Folder of the siting rules (YAML): regulations, sanitary zones, aviation and water protection."""
    return project_root() / "rules"


def log_dir() -> Path:
    """Folder for logs of unexpected errors: ``GEO_ALMATY_LOG_DIR``, else ``$XDG_STATE_HOME/geo_almaty`` (``~/.local/state``)."""
    env = os.environ.get("GEO_ALMATY_LOG_DIR")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "geo_almaty"


# --- location-allocation (geo_almaty.locate) ---------------------------------------------------
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

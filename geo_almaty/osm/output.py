"""Writing imported layers as a GeoPackage plus a catalog that extends the embedded one."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import pyogrio
import yaml

from ..atomic import atomic_path, staged_output, write_text_atomic
from ..errors import OSMError
from ..progress import progress_bar
from ..reproducible import fixed_gdal_timestamp
from .graph import drive_graph_from_file, save_drive_graph
from .mapping import load_mapping
from .online import fetch_osm
from .readers import read_osm_file

log = logging.getLogger(__name__)


def write_osm_catalog(layers: dict[str, gpd.GeoDataFrame], gpkg_path: str | Path, graph_path: str | Path | None = None, *,
                      progress: bool = False) -> Path:
    """Write the layers to one GeoPackage and a catalog ``<stem>.catalog.yaml`` beside it; return the catalog path.

    The catalog ``extends: embedded`` and points each written layer at the
    GeoPackage; when ``graph_path`` (an existing GraphML file) is given, the
    ``network`` layer points at it and roads also get ``osm_graph``. Both files
    are written atomically.
    """
    gpkg_path = Path(gpkg_path)
    written = {name: frame for name, frame in layers.items() if len(frame)}
    if not written:
        raise OSMError("no layer has features", file=gpkg_path, expected="at least one OSM layer to write")
    if graph_path is not None and not Path(graph_path).is_file():
        raise OSMError("graph file not found", file=graph_path, expected="a GraphML file written by save_drive_graph")
    with atomic_path(gpkg_path) as tmp, fixed_gdal_timestamp():
        for name, frame in progress_bar(list(written.items()), desc="GeoPackage", unit="layer", enabled=progress):
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    catalog_path = gpkg_path.with_name(f"{gpkg_path.stem}.catalog.yaml")
    write_text_atomic(catalog_path, _catalog_text(list(written), gpkg_path, Path(graph_path) if graph_path else None))
    log.info("OSM layers %s written to %s, catalog %s", ", ".join(written), gpkg_path, catalog_path)
    return catalog_path


def _catalog_text(names: list[str], gpkg_path: Path, graph_path: Path | None) -> str:
    layers: dict[str, Any] = {}
    for name in names:
        source: dict[str, str] = {"path": gpkg_path.name, "layer": name}
        if name == "roads" and graph_path is not None:
            source["osm_graph"] = _relative(graph_path, gpkg_path.parent)
        layers[name] = {"source": source}
    if graph_path is not None:
        # The road network for distances by road (geo_almaty.network) comes from the drive graph.
        layers["network"] = {"source": {"path": _relative(graph_path, gpkg_path.parent)}}
    header = (
        "# Layers imported from OpenStreetMap by geo_almaty; the other layers come from the embedded catalog.\n"
        "# Map data (c) OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).\n"
    )
    attribution = "© OpenStreetMap contributors (ODbL 1.0)"
    document = {
        "version": 1, "extends": "embedded",
        "disclaimer": {"ru": f"Слои OSM: {attribution}; остальные — эскиз geo_almaty.", "kk": f"OSM қабаттары: {attribution}; қалғандары — geo_almaty эскизі.",
                       "en": f"OSM layers: {attribution}; the rest is the geo_almaty sketch."},
        "layers": layers,
    }
    return header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when possible (absolute across Windows drives), with '/'."""
    try:
        return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    except ValueError:
        return path.resolve().as_posix()


# --- one call for the command line -----------------------------------------------------------

def import_osm(gpkg_path: str | Path, *, place: str | None = None, osm_file: str | Path | None = None,
               progress: bool = False, overwrite: bool = False) -> Path:
    """Import OSM data for ``place`` (online) or from ``osm_file`` (offline); return the catalog path.

    Writes ``<stem>.gpkg``, the drive graph ``<stem>.drive.graphml`` and
    ``<stem>.catalog.yaml`` side by side, all or none of them
    (:func:`geo_almaty.atomic.staged_output`); existing files are refused unless
    ``overwrite``. When a file yields no graph (a .osm.pbf extract, or no
    drivable road) a warning is logged, roads are written without ``osm_graph``
    and an old ``.drive.graphml`` of the same name is removed.
    """
    if (place is None) == (osm_file is None):
        raise OSMError("give either a place or an OSM file", expected="exactly one of place and osm_file")
    gpkg_path = Path(gpkg_path)
    names = [gpkg_path.name, f"{gpkg_path.stem}.drive.graphml", f"{gpkg_path.stem}.catalog.yaml"]
    with staged_output(gpkg_path.absolute().parent, files=names, overwrite=overwrite, command="geo-almaty layers fetch-osm") as stage:
        mapping = load_mapping()
        graph: nx.MultiDiGraph | None
        if place is not None:
            layers, graph = fetch_osm(place, mapping, progress=progress)
        else:
            source = Path(str(osm_file))
            layers = read_osm_file(source, mapping, progress=progress)
            try:
                graph = drive_graph_from_file(source, mapping)
            except OSMError as exc:
                log.warning("no drive graph: %s", exc)
                graph = None
        graph_path = save_drive_graph(graph, stage / names[1]) if graph is not None else None
        staged_catalog = write_osm_catalog(layers, stage / names[0], graph_path, progress=progress)
    return gpkg_path.with_name(staged_catalog.name)

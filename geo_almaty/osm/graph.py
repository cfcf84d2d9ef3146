"""The drivable road network of an extract, as an osmnx graph saved to GraphML."""
from __future__ import annotations

import logging
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import osmnx as ox

from ..atomic import atomic_path
from ..errors import OSMError
from .mapping import DriveFilter, OSMMapping, load_mapping
from .readers import _one_line, _open_binary, _osm_kind

log = logging.getLogger(__name__)


def drive_graph_from_file(path: str | Path, mapping: OSMMapping | None = None) -> nx.MultiDiGraph:
    """The drivable road network of an OSM XML extract (EPSG:4326, simplified, all components).

    Only ways the mapping's ``drive_graph`` filter accepts (osmnx's "drive"
    network) and their nodes are passed to ``osmnx.graph_from_xml``. PBF
    extracts are refused; ``osmium tags-filter in.osm.pbf w/highway -o highways.osm``
    gives a small XML file of the roads.
    """
    path = Path(path)
    mapping = mapping or load_mapping()
    if _osm_kind(path) == "pbf":
        raise OSMError("the drive graph is built from OSM XML, not PBF", file=path,
                       expected="an .osm file; extract one with: osmium tags-filter FILE.osm.pbf w/highway -o highways.osm")
    with tempfile.TemporaryDirectory(prefix="geo_almaty_osm_") as folder:
        subset = Path(folder) / "drive.osm"
        ways = _write_drive_subset(path, subset, mapping.drive)
        if ways == 0:
            raise OSMError("no drivable road in the file", file=path, expected="ways tagged highway=* that cars may use")
        try:
            graph = ox.graph_from_xml(subset, simplify=True, retain_all=True)
        except ox._errors.InsufficientResponseError:
            raise OSMError("no drivable road in the file", file=path, expected="ways tagged highway=* whose nodes are in the file") from None
    log.info("drive graph of %s: %d ways, %d nodes, %d edges", path.name, ways, graph.number_of_nodes(), graph.number_of_edges())
    return graph


def _write_drive_subset(source: Path, target: Path, drive: DriveFilter) -> int:
    """Copy the drivable ways of an OSM XML file and the nodes they use to ``target``; return the way count.

    Two streaming passes: the first keeps the drivable ways, the second their
    nodes (stopping at the first way when, as usual, nodes come first).
    """
    ways: list[bytes] = []
    nodes: set[str] = set()
    nodes_first, seen_way = True, False
    for element in _iter_elements(source, ("node", "way")):
        if element.tag == "node":
            nodes_first &= not seen_way
            continue
        seen_way = True
        if drive.drivable({tag.get("k", ""): tag.get("v", "") for tag in element.iterfind("tag")}):
            nodes.update(nd.get("ref", "") for nd in element.iterfind("nd"))
            element.tail = "\n"
            ways.append(ET.tostring(element, encoding="utf-8", xml_declaration=False))
    if not ways:
        return 0
    with target.open("wb") as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="geo_almaty">\n')
        for element in _iter_elements(source, ("node", "way")):
            if element.tag == "way":
                if nodes_first:
                    break
                continue
            if element.get("id") in nodes:
                element.tail = "\n"
                out.write(ET.tostring(element, encoding="utf-8", xml_declaration=False))
        out.writelines(ways)
        out.write(b"</osm>\n")
    return len(ways)


def _iter_elements(path: Path, tags: tuple[str, ...]) -> Iterator[ET.Element]:
    """Stream the top-level OSM elements named ``tags``, freeing each after use."""
    try:
        with _open_binary(path) as handle:
            context = ET.iterparse(handle, events=("start", "end"))
            _, root = next(context)
            for event, element in context:
                if event == "end" and element.tag in ("node", "way", "relation"):
                    if element.tag in tags:
                        yield element
                    root.clear()
    except (ET.ParseError, OSError, EOFError) as exc:
        raise OSMError(f"truncated or malformed OSM XML ({_one_line(exc)})", file=path, expected="a complete OSM XML file") from None


def save_drive_graph(graph: nx.MultiDiGraph, path: str | Path) -> Path:
    """Write ``graph`` as GraphML (osmnx format) atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ox.save_graphml(graph, tmp)
    log.info("drive graph written to %s", path)
    return path

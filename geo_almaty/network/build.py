"""Building a :class:`RoadNetwork` from road lines (a catalog ``roads`` layer) or an osmnx GraphML drive graph.

Topology from lines: a node wherever lines end or share a vertex (within the snapping tolerance), and
where a line ends on another line's interior (a T-junction drawn without a shared vertex). Crossings
without a shared vertex are bridges in OpenStreetMap, so they only become junctions with
``split_crossings=True`` (for hand-drawn sketches). One-way roads follow ``oneway``; the largest
strongly connected component is kept and what it leaves out is reported.
"""
from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .. import settings
from ..errors import NetworkError
from .model import NetworkReport, RoadNetwork, directed_graph
from .speeds import SpeedTable, load_speeds, travel_speed_kmh

log = logging.getLogger(__name__)

_FORWARD_WORDS = {"yes", "true", "1", "t", "y"}
_BACKWARD_WORDS = {"-1", "reverse"}


def parse_oneway(values: object) -> np.ndarray:
    """OSM/catalog ``oneway`` as +1 (along the geometry), -1 (against it) or 0 (both ways).

    True, 'yes', 'true', '1' are +1; '-1' and 'reverse' are -1; False, 'no', empty and anything else 0.
    """
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values.astype(object)

    def one(value: object) -> int:
        if isinstance(value, (bool, np.bool_)):
            return int(bool(value))
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return 0
        if isinstance(value, (int, np.integer)):
            return 1 if value == 1 else -1 if value == -1 else 0
        text = str(value).strip().lower()
        return 1 if text in _FORWARD_WORDS else -1 if text in _BACKWARD_WORDS else 0

    return np.fromiter((one(v) for v in series.to_numpy()), dtype=np.int8, count=len(series))


def network_from_lines(frame: gpd.GeoDataFrame, *, snap_tolerance_m: float = settings.NETWORK_SNAP_TOLERANCE_M,
                       split_crossings: bool = False, speeds: SpeedTable | None = None, source: str = "roads",
                       class_column: str = "class") -> RoadNetwork:
    """The drivable network of road lines in a metric CRS (EPSG:32643).

    Columns used when present: ``class_column`` (non-drivable classes such as rail are left out,
    speeds by class), ``oneway`` (True/'yes'/'-1'), ``maxspeed`` (km/h or OSM text). Raises
    :class:`NetworkError` for a geographic CRS or when no two roads connect.
    """
    speeds = speeds or load_speeds()
    _check_metric_crs(frame.crs, source)
    if snap_tolerance_m < 0:
        raise NetworkError(f"snapping tolerance {snap_tolerance_m} m", layer=source, column="snap_tolerance_m", expected="a tolerance >= 0 m")
    classes = frame[class_column].to_numpy(object) if class_column in frame.columns else np.full(len(frame), "road", dtype=object)
    drivable = speeds.is_drivable(classes)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    ok = drivable & ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok &= np.isin(shapely.get_type_id(geoms), [1, 5])
    if not ok.any():
        raise NetworkError("no drivable road", layer=source, column=class_column,
                           expected="lines of drivable classes (" + ", ".join(sorted(speeds.drivable)) + ")")
    rows = np.flatnonzero(ok)
    oneway = parse_oneway(frame["oneway"].to_numpy(object)[rows]) if "oneway" in frame.columns else np.zeros(len(rows), np.int8)
    maxspeed = frame["maxspeed"].to_numpy(object)[rows] if "maxspeed" in frame.columns else None
    speed = travel_speed_kmh(classes[rows], maxspeed, speeds)
    parts, owner = shapely.get_parts(geoms[rows], return_index=True)
    parts = shapely.remove_repeated_points(parts, 0.0)
    good = shapely.get_num_coordinates(parts) >= 2
    parts, owner = parts[good], owner[good]
    report = NetworkReport(source, snap_tolerance_m=snap_tolerance_m)
    report.notes.append(f"{len(rows):,} drivable road features of {len(frame):,} ({len(frame) - len(rows):,} not drivable or empty)")
    parts, owner, forward, backward = _merge_twin_lines(parts, owner, oneway[owner], report)
    u, v, link_geoms, link_part = _split_at_nodes(parts, snap_tolerance_m, split_crossings)
    return assemble_network(
        u, v, link_geoms, shapely.length(link_geoms),
        speed_kmh=speed[owner][link_part], forward=forward[link_part], backward=backward[link_part],
        classes=np.asarray(classes[rows][owner][link_part], dtype=object), report=report, connector_kmh=speeds.connector_kmh,
        node_xy=None,
    )


def _merge_twin_lines(parts: np.ndarray, owner: np.ndarray, oneway: np.ndarray, report: NetworkReport):
    """Lines drawn twice with the same vertices (OSM two-way roads as reverse twins) become one line
    with both directions; returns the lines, their feature index and forward/backward flags."""
    start, end = shapely.get_point(parts, 0), shapely.get_point(parts, -1)
    sx, sy, ex, ey = shapely.get_x(start), shapely.get_y(start), shapely.get_x(end), shapely.get_y(end)
    flip = (sx > ex) | ((sx == ex) & (sy > ey))
    normal = parts.copy()
    normal[flip] = shapely.reverse(parts[flip])
    direction = np.where(flip, -oneway, oneway)
    group = pd.factorize(pd.Series(shapely.to_wkb(normal)))[0]
    first = np.unique(group, return_index=True)[1]
    forward = np.bincount(group, weights=direction >= 0, minlength=len(first)) > 0
    backward = np.bincount(group, weights=direction <= 0, minlength=len(first)) > 0
    if len(first) < len(parts):
        report.notes.append(f"{len(parts) - len(first):,} road lines drawn twice (two-way twins) merged")
    return normal[first], owner[first], forward, backward


def network_from_graphml(path: str | Path, *, speeds: SpeedTable | None = None) -> RoadNetwork:
    """The network of an osmnx GraphML drive graph (as ``geo-almaty layers fetch-osm`` writes it).

    Every edge needs ``length`` (m); ``highway`` and ``maxspeed`` give the speed. Edges are directed
    as in the file (osmnx writes two-way roads as two edges). Node and edge coordinates are in the
    graph's ``crs`` (EPSG:4326 for osmnx) and are projected to EPSG:32643.
    """
    import networkx as nx
    import osmnx as ox

    path = Path(path)
    speeds = speeds or load_speeds()
    if not path.is_file():
        raise NetworkError("GraphML file not found", file=path, layer="network", expected="a GraphML drive graph (geo-almaty layers fetch-osm writes one)")
    try:
        graph = ox.load_graphml(path)
    except (nx.NetworkXError, ValueError, KeyError, TypeError, SyntaxError) as exc:
        raise NetworkError(f"cannot read GraphML ({_one_line(exc)})", file=path, layer="network", expected="an osmnx GraphML drive graph") from None
    except Exception as exc:  # the XML parser raises its own ParseError types
        if type(exc).__name__ != "ParseError":
            raise
        raise NetworkError(f"not GraphML XML ({_one_line(exc)})", file=path, layer="network", expected="an osmnx GraphML drive graph") from None
    if graph.number_of_edges() == 0:
        raise NetworkError("the graph has no edges", file=path, layer="network", expected="a drive graph with roads")
    crs_text = graph.graph.get("crs")
    if not crs_text:
        raise NetworkError("the graph has no CRS", file=path, layer="network", column="crs", expected="a graph attribute crs, e.g. epsg:4326 (osmnx writes it)")
    try:
        crs = CRS.from_user_input(crs_text)
    except Exception:
        raise NetworkError(f"unknown CRS '{crs_text}'", file=path, layer="network", column="crs", expected="a CRS such as epsg:4326") from None
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    try:
        xs = np.array([float(graph.nodes[n]["x"]) for n in nodes])
        ys = np.array([float(graph.nodes[n]["y"]) for n in nodes])
    except (KeyError, TypeError, ValueError):
        raise NetworkError("a node lacks x/y coordinates", file=path, layer="network", column="x, y", expected="x and y on every node") from None
    edges = list(graph.edges(keys=True, data=True))
    lengths = np.array([_float(d.get("length")) for _, _, _, d in edges])
    missing = ~np.isfinite(lengths)
    if missing.any():
        raise NetworkError(f"{int(missing.sum()):,} of {len(edges):,} edges have no length", file=path, layer="network", column="length",
                           expected="an edge attribute length in metres on every edge (osmnx adds it; ox.distance.add_edge_lengths)")
    if (lengths < 0).any():
        raise NetworkError(f"negative edge length {lengths[lengths < 0][0]:g}", file=path, layer="network", column="length", expected="lengths >= 0 m")
    to_metric = Transformer.from_crs(crs, settings.ANALYSIS_CRS, always_xy=True)
    node_x, node_y = to_metric.transform(xs, ys)
    node_x, node_y = np.asarray(node_x, float), np.asarray(node_y, float)
    _check_near_almaty(node_x, node_y, path)
    u = np.array([index[a] for a, _, _, _ in edges], dtype=np.int64)
    v = np.array([index[b] for _, b, _, _ in edges], dtype=np.int64)
    geoms = np.array([d.get("geometry") for _, _, _, d in edges], dtype=object)
    straight = np.array([g is None for g in geoms])
    metric = np.empty(len(edges), dtype=object)
    if (~straight).any():
        metric[~straight] = shapely.transform(geoms[~straight], lambda c: np.column_stack(to_metric.transform(c[:, 0], c[:, 1])))
    if straight.any():
        ends = np.stack([np.column_stack([node_x[u[straight]], node_y[u[straight]]]), np.column_stack([node_x[v[straight]], node_y[v[straight]]])], axis=1)
        metric[straight] = shapely.linestrings(ends)
    classes = np.array([d.get("highway") for _, _, _, d in edges], dtype=object)
    maxspeed = np.array([d.get("maxspeed") for _, _, _, d in edges], dtype=object)
    report = NetworkReport(path.name)
    report.notes.append(f"GraphML: {len(nodes):,} nodes, {len(edges):,} directed edges (crs {crs_text})")
    forward = np.ones(len(edges), bool)
    return assemble_network(u, v, metric, lengths, speed_kmh=travel_speed_kmh(classes, maxspeed, speeds), forward=forward, backward=~forward,
                            classes=classes, report=report, connector_kmh=speeds.connector_kmh, node_xy=(node_x, node_y))


def assemble_network(u: np.ndarray, v: np.ndarray, geometry: np.ndarray, length: np.ndarray, *, speed_kmh: np.ndarray,
                     forward: np.ndarray, backward: np.ndarray, classes: np.ndarray, report: NetworkReport, connector_kmh: float,
                     node_xy: tuple[np.ndarray, np.ndarray] | None) -> RoadNetwork:
    """Links → a network: twins (a two-way road given as two opposite links) merged, the largest strongly
    connected component kept. ``node_xy`` are the node coordinates (taken from the link ends when None)."""
    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    length = np.asarray(length, float)
    time = length / (np.asarray(speed_kmh, float) / 3.6)
    forward, backward = np.asarray(forward, bool).copy(), np.asarray(backward, bool).copy()
    geometry = np.asarray(geometry, dtype=object).copy()
    loops = u == v
    if loops.any():
        report.notes.append(f"{int(loops.sum()):,} closed loop(s) without another junction left out")
    keep = ~loops
    u, v, length, time, forward, backward, geometry, classes = (a[keep] for a in (u, v, length, time, forward, backward, geometry, classes))
    # One orientation per link (u < v), so that twins meet in one group.
    flip = u > v
    u[flip], v[flip] = v[flip], u[flip].copy()
    forward[flip], backward[flip] = backward[flip], forward[flip].copy()
    geometry[flip] = shapely.reverse(geometry[flip])
    key = pd.DataFrame({"u": u, "v": v, "len": np.round(length, 1)})
    group = key.groupby(["u", "v", "len"], sort=False).ngroup().to_numpy()
    first = np.unique(group, return_index=True)[1]
    if len(first) < len(u):
        report.notes.append(f"{len(u) - len(first):,} two-way twin link(s) merged")
    fwd = np.bincount(group, weights=forward, minlength=len(first)) > 0
    bwd = np.bincount(group, weights=backward, minlength=len(first)) > 0
    fastest = pd.Series(time).groupby(group).min().to_numpy()
    u, v, length, geometry, classes = u[first], v[first], length[first], geometry[first], classes[first]
    forward, backward, time = fwd, bwd, fastest
    if node_xy is None:
        n = int(max(u.max(), v.max())) + 1
        start, end = shapely.get_point(geometry, 0), shapely.get_point(geometry, -1)
        node_x, node_y = np.zeros(n), np.zeros(n)
        node_x[u], node_y[u] = shapely.get_x(start), shapely.get_y(start)
        node_x[v], node_y[v] = shapely.get_x(end), shapely.get_y(end)
    else:
        node_x, node_y = node_xy
    n = len(node_x)
    graph = directed_graph(np.concatenate([u[forward], v[backward]]), np.concatenate([v[forward], u[backward]]),
                           np.ones(int(forward.sum() + backward.sum())), n)
    used = np.zeros(n, bool)
    used[u] = used[v] = True
    count, labels = connected_components(graph, directed=True, connection="strong")
    sizes = np.bincount(labels[used], minlength=count)
    largest = int(np.argmax(sizes))
    report.components = int((sizes > 0).sum())
    in_largest = labels == largest
    kept_links = in_largest[u] & in_largest[v]
    if sizes[largest] < 2 or (len(u) > 1 and kept_links.sum() < 2):
        raise NetworkError(f"no connected road network: {len(u):,} road pieces, the largest strongly connected part has {int(sizes[largest])} nodes "
                           f"(snapping tolerance {report.snap_tolerance_m:g} m)", layer=report.source, column="geometry",
                           expected="roads that meet at shared ends or vertices (raise the snapping tolerance for a hand-drawn layer)")
    report.dropped_links = int((~kept_links).sum())
    report.dropped_km = float(length[~kept_links].sum() / 1000)
    report.dropped_nodes = int((used & ~in_largest).sum())
    new_id = np.cumsum(in_largest) - 1
    u, v = new_id[u[kept_links]], new_id[v[kept_links]]
    network = RoadNetwork(
        node_x=np.asarray(node_x)[in_largest], node_y=np.asarray(node_y)[in_largest], link_u=u, link_v=v,
        link_length=length[kept_links], link_time=time[kept_links], link_forward=forward[kept_links], link_backward=backward[kept_links],
        link_class=np.asarray(classes, dtype=object)[kept_links], link_geometry=geometry[kept_links], report=report, connector_kmh=connector_kmh,
    )
    report.nodes, report.links = network.n_nodes, network.n_links
    report.length_km = float(network.link_length.sum() / 1000)
    report.one_way_links = int((network.link_forward != network.link_backward).sum())
    share = report.dropped_km / max(report.dropped_km + report.length_km, 1e-9)
    if share > 0.2:
        log.warning("road network %s: %.0f %% of the road length lies outside the largest strongly connected component", report.source, 100 * share)
    log.info("road network %s", report.summary())
    return network


# --- topology of lines ---------------------------------------------------------------------------

def _split_at_nodes(parts: np.ndarray, tolerance: float, split_crossings: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split lines at nodes; return link start/end node ids, link geometries and each link's part index."""
    coords, part = shapely.get_coordinates(parts, return_index=True)
    along = _along(coords, part)
    is_first = np.r_[True, part[1:] != part[:-1]]
    is_last = np.r_[part[1:] != part[:-1], True]
    extra = [_t_junctions(parts, coords[is_first | is_last], part[is_first | is_last], tolerance)]
    if split_crossings:
        extra.append(_crossings(parts))
    extra = [e for e in extra if len(e[0])]
    forced = np.zeros(len(coords), bool)
    if extra:
        e_part = np.concatenate([e[0] for e in extra])
        e_along = np.concatenate([e[1] for e in extra])
        e_xy = np.concatenate([e[2] for e in extra])
        part = np.concatenate([part, e_part])
        along = np.concatenate([along, e_along])
        coords = np.concatenate([coords, e_xy])
        forced = np.concatenate([forced, np.ones(len(e_part), bool)])
        order = np.lexsort((forced, along, part))  # original vertices first among equals
        part, along, coords, forced = part[order], along[order], coords[order], forced[order]
    cluster = _clusters(coords, tolerance)
    # Consecutive vertices of one part in one cluster collapse to the first of them.
    same = np.r_[False, (part[1:] == part[:-1]) & (cluster[1:] == cluster[:-1])]
    keep = ~same
    part, coords, cluster, forced = part[keep], coords[keep], cluster[keep], forced[keep]
    first = np.r_[True, part[1:] != part[:-1]]
    last = np.r_[part[1:] != part[:-1], True]
    occurrences = np.bincount(cluster)
    is_node = first | last | forced | (occurrences[cluster] >= 2)
    node_of_cluster = np.full(cluster.max() + 1, -1, dtype=np.int64)
    node_clusters = np.unique(cluster[is_node])
    node_of_cluster[node_clusters] = np.arange(len(node_clusters))
    # Node coordinates: the first vertex (in input order) of each node cluster; vertices snap to it.
    rep = np.full(cluster.max() + 1, -1, dtype=np.int64)
    order = np.arange(len(cluster))[::-1]
    rep[cluster[order]] = order
    coords = np.where(is_node[:, None], coords[rep[cluster]], coords)
    # Links per part: one between consecutive node vertices (none when a part collapsed to one vertex).
    # Membership: every vertex but a part's last starts or continues link k; every node vertex but a
    # part's first also ends link k - 1.
    part_links = np.bincount(part, weights=is_node, minlength=part.max() + 1).astype(np.int64) - 1
    offset = np.r_[0, np.cumsum(np.maximum(part_links, 0))[:-1]]
    nodes_before = np.cumsum(is_node) - 1
    start_of_part = np.r_[0, np.flatnonzero(first[1:]) + 1]
    local = nodes_before - nodes_before[start_of_part][np.cumsum(first) - 1]
    link_a = offset[part] + local
    members = np.concatenate([np.flatnonzero(~last), np.flatnonzero(is_node & ~first)])
    link_of = np.concatenate([link_a[~last], link_a[is_node & ~first] - 1])
    order = np.lexsort((members, link_of))
    members, link_of = members[order], link_of[order]
    n_links = int(np.maximum(part_links, 0).sum())
    geometry = shapely.linestrings(coords[members], indices=link_of)  # every link 0 … n_links - 1 has members
    start_vertex = members[np.r_[0, np.flatnonzero(np.diff(link_of)) + 1]]
    end_vertex = members[np.r_[np.flatnonzero(np.diff(link_of)), len(members) - 1]]
    u = node_of_cluster[cluster[start_vertex]]
    v = node_of_cluster[cluster[end_vertex]]
    link_part = np.repeat(np.arange(len(part_links)), np.maximum(part_links, 0))
    assert len(geometry) == len(u) == len(link_part) == n_links
    return u, v, np.asarray(geometry, dtype=object), link_part


def _along(coords: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Distance (m) of every vertex from the start of its part."""
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[np.r_[True, part[1:] != part[:-1]]] = 0.0
    total = np.cumsum(step)
    starts = np.r_[0, np.flatnonzero(part[1:] != part[:-1]) + 1]
    return total - np.repeat(total[starts], np.diff(np.r_[starts, len(part)]))


def _t_junctions(parts: np.ndarray, ends: np.ndarray, end_part: np.ndarray, tolerance: float):
    """Points to insert where a line end lies within ``tolerance`` of another line's interior."""
    if tolerance <= 0 or len(parts) < 2:
        return np.empty(0, np.int64), np.empty(0), np.empty((0, 2))
    points = shapely.points(ends)
    tree = shapely.STRtree(parts)
    which, line = tree.query(points, predicate="dwithin", distance=tolerance)
    other = line != end_part[which]
    which, line = which[other], line[other]
    if not len(which):
        return np.empty(0, np.int64), np.empty(0), np.empty((0, 2))
    position = shapely.line_locate_point(parts[line], points[which])
    length = shapely.length(parts[line])
    interior = (position > 0) & (position < length)
    line, position = line[interior], position[interior]
    xy = shapely.get_coordinates(shapely.line_interpolate_point(parts[line], position))
    return line.astype(np.int64), position, xy


def _crossings(parts: np.ndarray):
    """Points to insert where two lines cross (both lines get the point)."""
    tree = shapely.STRtree(parts)
    a, b = tree.query(parts, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    if not len(a):
        return np.empty(0, np.int64), np.empty(0), np.empty((0, 2))
    meet = shapely.intersection(parts[a], parts[b])
    points, which = shapely.get_parts(meet, return_index=True)
    is_point = shapely.get_type_id(points) == 0
    points, which = points[is_point], which[is_point]
    line = np.concatenate([a[which], b[which]])
    points = np.concatenate([points, points])
    position = shapely.line_locate_point(parts[line], points)
    return line.astype(np.int64), position, shapely.get_coordinates(points)


def _clusters(coords: np.ndarray, tolerance: float) -> np.ndarray:
    """Cluster id of every vertex: vertices within ``tolerance`` (chained) share one."""
    if tolerance <= 0:
        return np.unique(coords, axis=0, return_inverse=True)[1].ravel()
    pairs = cKDTree(coords).query_pairs(tolerance, output_type="ndarray")
    n = len(coords)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else coo_matrix((n, n))
    return connected_components(graph, directed=False)[1]


def _check_metric_crs(crs, source: str) -> None:
    if crs is None:
        raise NetworkError("the roads have no CRS", layer=source, column="geometry", expected="lines in EPSG:32643 (metres)")
    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        raise NetworkError(f"the roads are in a geographic CRS ({crs.to_string()}): lengths would be in degrees", layer=source, column="geometry",
                           expected=f"lines in a metric CRS, {settings.ANALYSIS_CRS} (reproject them first; catalog layers are reprojected on reading)")
    if crs != CRS.from_user_input(settings.ANALYSIS_CRS):
        raise NetworkError(f"the roads are in {crs.to_string()}", layer=source, column="geometry", expected=f"lines in {settings.ANALYSIS_CRS}")


def _check_near_almaty(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    from ..crs import centre_xy

    cx, cy = centre_xy()
    with np.errstate(invalid="ignore"):
        far = ~(np.hypot(x - cx, y - cy) <= settings.MAX_DISTANCE_FROM_CENTRE_M)
    if far.any():
        raise NetworkError(f"{int(far.sum()):,} of {len(x):,} nodes lie more than {settings.MAX_DISTANCE_FROM_CENTRE_M / 1000:.0f} km from Almaty",
                           file=path, layer="network", column="x, y", expected="a drive graph of Almaty; check the graph's crs and x/y order")


def _float(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__

"""Road network: topology from lines and GraphML, one-way roads, components, connectors, OD costs, criteria helpers."""
from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geo_almaty import settings
from geo_almaty.errors import NetworkError
from geo_almaty.network import (connect_points, load_speeds, measured_circuity, nearest_by_road, network_from_graphml,
                                network_from_lines, od_costs, parse_maxspeed, parse_oneway, reachable_by_road)

from .synthetic import CX, CY

X0, Y0 = CX - 1000.0, CY - 500.0


def line(*points: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in points])


def roads(lines: list[shapely.LineString], **columns) -> gpd.GeoDataFrame:
    data = {"class": columns.pop("cls", ["primary"] * len(lines)), **columns}
    return gpd.GeoDataFrame(data, geometry=lines, crs=settings.ANALYSIS_CRS)


def ladder(**columns) -> gpd.GeoDataFrame:
    """A 2 km × 1 km ladder: A(0,0) B(1000,0) C(2000,0) below, D(0,1000) E(1000,1000) F(2000,1000) above, rungs AD, BE, CF."""
    lines = [line((0, 0), (1000, 0)), line((1000, 0), (2000, 0)), line((0, 1000), (1000, 1000)), line((1000, 1000), (2000, 1000)),
             line((0, 0), (0, 1000)), line((1000, 0), (1000, 1000)), line((2000, 0), (2000, 1000))]
    return roads(lines, **columns)


def xy(*points: tuple[float, float]) -> np.ndarray:
    return np.array([(X0 + x, Y0 + y) for x, y in points], dtype=float)


def cost(network, a: tuple[float, float], b: tuple[float, float], weight: str = "length") -> float:
    result = od_costs(network, xy(a), xy(b), cutoff=1e9, weight=weight)
    return float(result.cost[0]) if len(result) else np.inf


# --- topology and costs on hand-made graphs ------------------------------------------------------

def test_known_shortest_paths_and_connectors():
    network = network_from_lines(ladder())
    assert (network.n_nodes, network.n_links) == (6, 7)
    assert cost(network, (0, 0), (2000, 1000)) == pytest.approx(3000.0, abs=1e-9)
    # 100 m below the middle of AB to the middle of CF: connector 100 + 500 to B + 1000 to C + 500 up CF.
    assert cost(network, (500, -100), (2000, 500)) == pytest.approx(2100.0, abs=1e-9)
    # Two points on one link drive straight along it (10 m connectors each).
    assert cost(network, (200, 10), (700, -10)) == pytest.approx(520.0, abs=1e-9)
    # A point on a node: no connector, no detour.
    assert cost(network, (1000, 0), (1000, 1000)) == pytest.approx(1000.0, abs=1e-9)


def test_travel_time_uses_class_speeds_maxspeed_and_connector_speed():
    speeds = load_speeds()
    network = network_from_lines(ladder(maxspeed=["60", None, None, None, None, None, None]))
    # (0, -50) → (1000, 0): 50 m connector at the connector speed, then AB (1000 m) at its maxspeed 60 km/h... minus the 0 m walk.
    expected = 50 / (speeds.connector_kmh / 3.6) + 1000 / (60 / 3.6)
    assert cost(network, (0, -50), (1000, 0), weight="time") == pytest.approx(expected, rel=1e-12)
    expected = 1000 / (speeds.kmh["primary"] / 3.6)
    assert cost(network, (1000, 0), (2000, 0), weight="time") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("flag, forward, backward", [(True, 1000.0, 3000.0), ("yes", 1000.0, 3000.0), ("-1", 3000.0, 1000.0),
                                                     ("no", 1000.0, 1000.0), (None, 1000.0, 1000.0)])
def test_one_way_streets(flag, forward, backward):
    network = network_from_lines(ladder(oneway=[flag, None, None, None, None, None, None]))  # AB drawn from A to B
    assert cost(network, (0, 0), (1000, 0)) == pytest.approx(forward)
    assert cost(network, (1000, 0), (0, 0)) == pytest.approx(backward)  # around B-E-D-A when AB runs A→B only
    if flag in (True, "yes"):
        # Against the one-way, from 700 to 200 on AB: to B (300), around (3000), then 200 along AB; 10 m connectors.
        assert cost(network, (700, 10), (200, 10)) == pytest.approx(300 + 3000 + 200 + 20)
        assert cost(network, (200, 10), (700, 10)) == pytest.approx(520)


def test_parse_oneway_and_maxspeed():
    assert parse_oneway([True, "yes", "-1", "no", None, np.nan, False, "reverse", 1, "1"]).tolist() == [1, 1, -1, 0, 0, 0, 0, -1, 1, 1]
    speeds = parse_maxspeed(["60", "60;80", "RU:urban", "30 mph", None, "none", "60, 40", 50.0, ["40", "60"], "KZ:rural", np.nan])
    assert speeds[:4].tolist() == pytest.approx([60, 60, 60, 30 * 1.609344])
    assert np.isnan(speeds[[4, 5, 10]]).all()
    assert speeds[[6, 7, 8, 9]].tolist() == [40, 50, 40, 90]


def test_disconnected_parts_are_reported_and_left_out(caplog):
    lines = list(ladder().geometry) + [line((5000, 0), (6000, 0))]
    network = network_from_lines(roads(lines))
    assert network.n_links == 7
    assert network.report.components == 2 and network.report.dropped_links == 1
    assert network.report.dropped_km == pytest.approx(1.0)
    assert "1 links, 1.0 km in the others left out" in network.report.summary()


def test_one_way_dead_end_leaves_the_strong_component():
    lines = list(ladder().geometry) + [line((2000, 0), (2500, 0))]
    network = network_from_lines(roads(lines, oneway=[None] * 7 + [True]))
    assert network.n_links == 7 and network.report.dropped_links == 1  # one can drive in but not out


def test_all_disjoint_segments_are_refused():
    lines = [line((0, 0), (100, 0)), line((300, 0), (400, 0)), line((0, 500), (100, 600))]
    with pytest.raises(NetworkError, match="no connected road network") as info:
        network_from_lines(roads(lines))
    assert "\n" not in str(info.value) and "layer 'roads'" in str(info.value)


def test_geographic_crs_is_refused():
    frame = ladder().to_crs(settings.GEOGRAPHIC_CRS)
    with pytest.raises(NetworkError, match="geographic CRS"):
        network_from_lines(frame)


def test_snapping_tolerance_makes_t_junctions_and_shared_vertices():
    stem = line((1000, 0.6), (1000, 1000))  # ends 0.6 m above the middle of AC, which has no vertex there
    base = line((0, 0), (2000, 0))
    with pytest.raises(NetworkError, match="no connected road network"):
        network_from_lines(roads([base, stem]), snap_tolerance_m=0.1)  # not joined: two disjoint pieces
    loose = network_from_lines(roads([base, stem]), snap_tolerance_m=1.0)
    assert (loose.n_nodes, loose.n_links) == (4, 3)
    # A shared interior vertex is a junction; a crossing without one is a bridge unless split_crossings.
    shared = network_from_lines(roads([line((0, 0), (1000, 0), (2000, 0)), line((1000, -500), (1000, 0), (1000, 500))]))
    assert (shared.n_nodes, shared.n_links) == (5, 4)
    bridge = [line((0, 0), (2000, 0)), line((1000, -500), (1000, 500))]
    with pytest.raises(NetworkError, match="no connected road network"):
        network_from_lines(roads(bridge))
    assert network_from_lines(roads(bridge), split_crossings=True).n_links == 4


def test_rail_and_planned_roads_are_not_driven():
    lines = list(ladder().geometry) + [line((0, 0), (2000, 1000))]
    network = network_from_lines(roads(lines, cls=["primary"] * 7 + ["rail"]))
    assert network.n_links == 7
    assert cost(network, (0, 0), (2000, 1000)) == pytest.approx(3000.0)


def test_two_way_twins_are_merged():
    lines = list(ladder().geometry)
    twins = lines + [shapely.reverse(g) for g in lines]
    network = network_from_lines(roads(twins, oneway=[False] * 14))
    assert network.n_links == 7 and network.link_forward.all() and network.link_backward.all()


def test_far_point_is_a_counted_warning_not_an_error(caplog):
    network = network_from_lines(ladder())
    with caplog.at_level(logging.WARNING, logger="geo_almaty.network.connect"):
        joined = connect_points(network, *xy((500, -3000), (500, -10)).T, max_connector_m=2000)
    assert joined.far.tolist() == [True, False]
    assert joined.connector_m.tolist() == pytest.approx([3000.0, 10.0])
    assert "1 of 2 points lie farther than 2000 m" in caplog.text
    assert "median" in joined.summary() and "1 farther than 2,000 m" in joined.summary()


def test_connector_is_the_exact_nearest_point_on_long_lines():
    rng = np.random.default_rng(3)
    lines = [shapely.LineString(np.column_stack([X0 + np.sort(rng.uniform(0, 5000, 30)), Y0 + rng.uniform(0, 5000, 30)])) for _ in range(6)]
    lines += [line((0, 0), (0, 5000)), line((0, 5000), (5000, 5000))]
    network = network_from_lines(roads(lines), split_crossings=True)
    points = np.column_stack([X0 + rng.uniform(-500, 5500, 2000), Y0 + rng.uniform(-500, 5500, 2000)])
    joined = connect_points(network, points[:, 0], points[:, 1])
    exact = shapely.distance(shapely.points(points), shapely.union_all(network.link_geometry))
    near = exact <= 1000
    assert np.allclose(joined.connector_m[near], exact[near], atol=1e-6)
    assert (joined.connector_m - exact <= 10.0 + 1e-6).all()
    on_link = shapely.distance(shapely.points(joined.snap_x, joined.snap_y), network.link_geometry[joined.link])
    assert on_link.max() < 1e-6


# --- many-to-many against networkx --------------------------------------------------------------

def random_city(seed: int = 0, n: int = 8, spacing: float = 400.0) -> gpd.GeoDataFrame:
    """A perturbed grid of streets with some one-way ones."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-60, 60, (n, n, 2))
    grid = np.stack(np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing, indexing="ij"), axis=-1) + jitter
    lines = []
    for i in range(n):
        for j in range(n):
            if i + 1 < n:
                lines.append(line(tuple(grid[i, j]), tuple(grid[i + 1, j])))
            if j + 1 < n:
                lines.append(line(tuple(grid[i, j]), tuple((grid[i, j] + grid[i, j + 1]) / 2 + rng.uniform(-30, 30, 2)), tuple(grid[i, j + 1])))
    oneway = rng.choice([None, True, "-1"], size=len(lines), p=[0.7, 0.2, 0.1])
    classes = rng.choice(["primary", "secondary", "tertiary"], size=len(lines))
    return roads(lines, cls=list(classes), oneway=list(oneway))


def split_graph(network, points: dict[str, object], weight: str) -> nx.DiGraph:
    """An independent reference: every link cut at the snapped points, each point joined by its connector both ways."""
    graph = nx.DiGraph()
    link_cost = network.link_cost(weight)
    rate = network.connector_rate(weight)
    cuts: dict[int, list[tuple[float, str]]] = {}
    for prefix, joined in points.items():
        for i in range(len(joined)):
            name = f"{prefix}{i}"
            cuts.setdefault(int(joined.link[i]), []).append((float(joined.fraction[i]), f"snap_{name}"))
            graph.add_edge(name, f"snap_{name}", w=joined.connector_m[i] * rate)
            graph.add_edge(f"snap_{name}", name, w=joined.connector_m[i] * rate)
    for k in range(network.n_links):
        stops = [(0.0, int(network.link_u[k]))] + sorted(cuts.get(k, [])) + [(1.0, int(network.link_v[k]))]
        for (f0, a), (f1, b) in zip(stops[:-1], stops[1:]):
            w = (f1 - f0) * link_cost[k]
            for p, q, ok in ((a, b, network.link_forward[k]), (b, a, network.link_backward[k])):
                if ok and (not graph.has_edge(p, q) or graph[p][q]["w"] > w):
                    graph.add_edge(p, q, w=w)
    return graph


@pytest.mark.parametrize("contract", [False, True])
@pytest.mark.parametrize("weight, swap", [("length", False), ("time", False), ("length", True)])
def test_od_costs_equal_networkx_on_a_random_city(weight, swap, contract):
    network = network_from_lines(random_city())
    rng = np.random.default_rng(1)
    span = 8 * 400.0
    a = np.column_stack([X0 + rng.uniform(-200, span, 25), Y0 + rng.uniform(-200, span, 25)])
    b = np.column_stack([X0 + rng.uniform(-200, span, 35), Y0 + rng.uniform(-200, span, 35)])
    b[:5] = a[:5] + rng.uniform(-20, 20, (5, 2))  # some pairs share a link
    origins, destinations = (b, a) if swap else (a, b)  # more origins than destinations: searched backwards
    cutoff = 2500.0 if weight == "length" else 200.0
    result = od_costs(network, origins, destinations, cutoff=cutoff, weight=weight, contract=contract)
    graph = split_graph(network, {"o": result.origins, "d": result.destinations}, weight)
    expected = np.full(result.shape, np.inf)
    for i in range(len(origins)):
        lengths = nx.single_source_dijkstra_path_length(graph, f"o{i}", weight="w")
        for j in range(len(destinations)):
            expected[i, j] = lengths.get(f"d{j}", np.inf)
    got = result.to_csr().toarray()
    within = expected <= cutoff
    present = np.zeros(result.shape, bool)
    present[result.origin, result.destination] = True
    assert (present == within).all()
    assert np.allclose(got[within], expected[within], atol=1e-6, rtol=0)
    assert np.all(np.diff(result.origin) >= 0)


def test_zero_cost_pairs_are_kept():
    network = network_from_lines(ladder())
    result = od_costs(network, xy((1000, 0)), xy((1000, 0), (3000, 3000)), cutoff=500.0)
    assert result.cost.tolist() == [0.0] and result.to_csr().nnz == 1


def test_nearest_by_road_equals_the_minimum_of_od_costs():
    network = network_from_lines(random_city(seed=4))
    rng = np.random.default_rng(2)
    sources = connect_points(network, X0 + rng.uniform(0, 3000, 40), Y0 + rng.uniform(0, 3000, 40))
    targets = connect_points(network, X0 + rng.uniform(0, 3000, 300), Y0 + rng.uniform(0, 3000, 300))
    targets = targets.subset(np.r_[np.arange(300), np.arange(5)])  # duplicates are fine
    for towards in (False, True):
        got, which = nearest_by_road(network, sources, targets, "length", towards_sources=towards)
        full = (od_costs(network, targets, sources, cutoff=1e9) if towards else od_costs(network, sources, targets, cutoff=1e9)).to_csr().toarray()
        full[full == 0] = np.inf  # no exact zero here: random points
        expected = full.min(axis=1) if towards else full.min(axis=0)
        assert np.allclose(got, expected, atol=1e-6)
        chosen = full[np.arange(len(targets)), which] if towards else full[which, np.arange(len(targets))]
        assert np.allclose(chosen, expected, atol=1e-6)


def test_reachable_by_road_matches_its_definition():
    network = network_from_lines(random_city(seed=5))
    rng = np.random.default_rng(3)
    supply = connect_points(network, X0 + rng.uniform(0, 3000, 200), Y0 + rng.uniform(0, 3000, 200))
    amounts = np.vstack([rng.uniform(0, 10, 200), rng.integers(0, 2, 200)])
    sites = connect_points(network, X0 + rng.uniform(0, 3000, 150), Y0 + rng.uniform(0, 3000, 150))
    limit = 1200.0
    got = reachable_by_road(network, supply, amounts, sites, limit)
    # Brute force: each supply point's access node, all-pairs node distances, each site's two legs.
    out_nodes, out_costs = supply.legs(network, "length", leaving=True)
    access = out_nodes[np.arange(200), np.argmin(out_costs, axis=1)]
    nodes_dist = dijkstra(network.graph("length"))
    in_nodes, in_costs = sites.legs(network, "length", leaving=False)
    expected = np.zeros_like(got)
    for s in range(150):
        reach = np.minimum(nodes_dist[access, in_nodes[s, 0]] + in_costs[s, 0], nodes_dist[access, in_nodes[s, 1]] + in_costs[s, 1])
        expected[:, s] = amounts[:, reach <= limit].sum(axis=1)
    assert np.allclose(got, expected)
    assert (got[0] > 0).any() and (got[0] < amounts[0].sum()).any()


def test_measured_circuity_on_a_grid():
    network = network_from_lines(random_city(seed=6, n=10))
    circuity = measured_circuity(network, pairs=300, min_m=500, seed=0)
    assert circuity.pairs == 300
    assert 1.0 <= circuity.p25 <= circuity.median <= circuity.p75 < 2.5
    assert circuity == measured_circuity(network, pairs=300, min_m=500, seed=0)  # seeded


# --- GraphML -----------------------------------------------------------------------------------------

def graphml_graph(with_lengths: bool = True) -> nx.MultiDiGraph:
    """An osmnx-style drive graph around Almaty's centre (EPSG:4326): a triangle, one side one-way."""
    lon, lat = settings.ALMATY_CENTRE_LONLAT
    graph = nx.MultiDiGraph(crs="epsg:4326")
    coords = {1: (lon, lat), 2: (lon + 0.01, lat), 3: (lon, lat + 0.01)}
    for node, (x, y) in coords.items():
        graph.add_node(node, x=x, y=y, street_count=2)
    for u, v, highway in ((1, 2, "primary"), (2, 1, "primary"), (2, 3, "secondary_link"), (3, 1, "tertiary"), (1, 3, "tertiary")):
        attributes = {"highway": highway, "oneway": False, "reversed": False, "osmid": 1}
        if with_lengths:
            (x0, y0), (x1, y1) = coords[u], coords[v]
            attributes["length"] = float(np.hypot((x1 - x0) * 81_000, (y1 - y0) * 111_000))
        graph.add_edge(u, v, **attributes)
    return graph


def test_graphml_network(tmp_path):
    import osmnx as ox

    path = tmp_path / "drive.graphml"
    ox.save_graphml(graphml_graph(), path)
    network = network_from_graphml(path)
    assert network.n_nodes == 3 and network.n_links == 3 and network.report.one_way_links == 1
    lengths = sorted(network.link_length.tolist())
    assert lengths == pytest.approx(sorted([810.0, 1110.0, float(np.hypot(810, 1110))]))
    x, y = network.node_x, network.node_y
    # From node 3 to node 2 the one-way 2→3 cannot be used backwards: 3→1→2.
    result = od_costs(network, np.array([[x[2], y[2]]]), np.array([[x[1], y[1]]]), cutoff=1e6)
    assert result.cost[0] == pytest.approx(1110.0 + 810.0)


def test_graphml_without_lengths_is_refused(tmp_path):
    import osmnx as ox

    path = tmp_path / "no_lengths.graphml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ox.save_graphml(graphml_graph(with_lengths=False), path)
    with pytest.raises(NetworkError, match="5 of 5 edges have no length") as info:
        network_from_graphml(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_graphml_that_is_not_graphml(tmp_path):
    path = tmp_path / "broken.graphml"
    path.write_text("<graphml><graph", encoding="utf-8")
    with pytest.raises(NetworkError, match="GraphML"):
        network_from_graphml(path)


# --- the real Almaty main roads (../shared) -------------------------------------------------------

@pytest.fixture(scope="module")
def kvozianov_roads():
    path = settings.project_root().parent / "shared" / "geodata" / "kvozianov_almaty_roads" / "almaty_roads.geojson"
    if not path.is_file():
        pytest.skip("../shared/geodata/kvozianov_almaty_roads is absent")
    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # list-valued columns that are not JSON
        frame = pyogrio.read_dataframe(path).to_crs(settings.ANALYSIS_CRS)
    return frame.rename(columns={"highway": "class"})


@pytest.mark.shared
def test_real_almaty_main_roads(kvozianov_roads):
    network = network_from_lines(kvozianov_roads)
    report = network.report
    assert network.n_nodes > 1000 and report.one_way_links > 1000
    assert any("two-way twins" in note for note in report.notes)
    assert report.dropped_km < 0.05 * report.length_km  # the main component holds nearly everything
    # "60, 40" (a list from osmnx) and RU:urban speeds are read; NaN maxspeed falls back to the class speed.
    assert np.isfinite(network.link_time).all() and (network.link_time > 0).all()
    circuity = measured_circuity(network, pairs=500)
    assert 1.05 < circuity.median < 1.8
    # Cross-check against networkx on sampled node pairs (directed, by length).
    rng = np.random.default_rng(0)
    graph = nx.DiGraph()
    for k in range(network.n_links):
        for a, b, ok in ((network.link_u[k], network.link_v[k], network.link_forward[k]), (network.link_v[k], network.link_u[k], network.link_backward[k])):
            if ok and (not graph.has_edge(a, b) or graph[a][b]["w"] > network.link_length[k]):
                graph.add_edge(int(a), int(b), w=float(network.link_length[k]))
    origins, targets = rng.choice(network.n_nodes, 5, replace=False), rng.choice(network.n_nodes, 50, replace=False)
    points = lambda nodes: np.column_stack([network.node_x[nodes], network.node_y[nodes]])  # noqa: E731
    result = od_costs(network, points(origins), points(targets), cutoff=1e7).to_csr().toarray()
    for i, o in enumerate(origins):
        lengths = nx.single_source_dijkstra_path_length(graph, int(o), weight="w")
        assert np.allclose(result[i], [lengths[int(t)] for t in targets], atol=1e-6)


@pytest.mark.parametrize("contract", [False, True])
def test_parallel_workers_give_the_same_triplets(monkeypatch, contract):
    network = network_from_lines(random_city(seed=7))
    rng = np.random.default_rng(4)
    origins = np.column_stack([X0 + rng.uniform(0, 3000, 60), Y0 + rng.uniform(0, 3000, 60)])
    destinations = np.column_stack([X0 + rng.uniform(0, 3000, 90), Y0 + rng.uniform(0, 3000, 90)])
    one = od_costs(network, origins, destinations, cutoff=2000.0, workers=1, contract=contract)
    monkeypatch.setattr(settings, "OD_PARALLEL_MIN_WORK", 0)  # this small job would otherwise stay in one process
    monkeypatch.setattr(settings, "OD_CHUNK_MAX_SOURCES", 4)  # many chunks, shared by this process and the other
    two = od_costs(network, origins, destinations, cutoff=2000.0, workers=2, contract=contract)
    for name in ("origin", "destination", "cost"):
        assert np.array_equal(getattr(one, name), getattr(two, name))


def test_empty_inputs():
    network = network_from_lines(ladder())
    result = od_costs(network, np.empty((0, 2)), xy((0, 0)), cutoff=100.0)
    assert len(result) == 0 and result.shape == (0, 1) and result.to_csr().shape == (0, 1)
    none = connect_points(network, np.empty(0), np.empty(0))
    cost, which = nearest_by_road(network, none, connect_points(network, *xy((0, 0)).T))
    assert np.isinf(cost).all() and (which == -1).all()
    with pytest.raises(NetworkError, match="n × 2"):
        od_costs(network, np.zeros(3), xy((0, 0)), cutoff=100.0)
    with pytest.raises(NetworkError, match="positive cutoff"):
        od_costs(network, xy((0, 0)), xy((0, 0)), cutoff=0)
    with pytest.raises(NetworkError, match="length .m. or time"):
        od_costs(network, xy((0, 0)), xy((0, 0)), cutoff=10, weight="fuel")

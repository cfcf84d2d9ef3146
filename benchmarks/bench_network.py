"""Speed of many-to-many road costs and road criteria, against a straightforward networkx loop.

Usage::

    python benchmarks/bench_network.py                      # synthetic city + real roads + 1M-cell criterion (~5 min)
    python benchmarks/bench_network.py --origins 2000 --destinations 5000 --cutoff 30000 --grid 260
    python benchmarks/bench_network.py --skip-cells         # the OD part only
    python benchmarks/bench_network.py --circuity           # only re-measure settings.FALLBACK_CIRCUITY

1. **Synthetic city** (seeded, documented in :func:`synthetic_city`): a perturbed street grid with
   arterials, one-way streets, two rivers and a railway crossed only by bridges, sparser towards the
   edge, as road *lines*, built into a network by ``network_from_lines`` (timed). ``--origins`` ×
   ``--destinations`` random points (near the streets, as cells and sites are) get
   ``od_costs(..., cutoff, weight="length")``, the network's contraction included; printed: nodes,
   links, directed edges, the contracted core, time, pairs/s, peak memory (``ru_maxrss`` of this
   process, which also holds the network). The same without contraction (``contract=False``) follows,
   with the ratio and a check that both give the same pairs.
2. **Naive**: the straightforward approach on the same network as networkx graphs, an osmnx-style
   ``MultiDiGraph`` (what a GraphML drive graph loads as; the headline ratio) and a leaner ``DiGraph``:
   each point snapped to its nearest node (KD-tree), then per origin
   ``nx.single_source_dijkstra_path_length`` with the cutoff and a Python look-up per destination; run
   on ``--naive-origins`` origins and extrapolated linearly to all origins. The ratio is naive / fast.
3. **Cross-check**: ``od_costs`` against ``nx.dijkstra_path_length`` on a graph whose links are cut
   at the snapped points (connectors as edges), for ``--check-pairs`` sampled pairs: |Δ| ≤ 1e-6 m.
4. **Real roads** (skipped without ../shared): the same OD job on the kvozianov OSM main roads of Almaty.
5. **Road criterion on 1M cells**: the embedded catalog on ~87 m cells (~1M candidates): a road
   distance (``road_km``) and a road reachable criterion, next to their straight-line versions.
6. ``--circuity``: ``measured_circuity`` on the embedded network (and the real roads): the value to
   store as ``settings.FALLBACK_CIRCUITY``.

Speed is measured here, never in timed unit tests. See ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd  # noqa: E402
import networkx as nx  # noqa: E402
import shapely  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from geo_almaty import settings  # noqa: E402
from geo_almaty.network import RoadNetwork, measured_circuity, network_from_lines, od_costs  # noqa: E402

TARGET_SECONDS = 20.0
TARGET_RATIO = 50.0


def peak_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_city(size: int = 260, spacing: float = 150.0, seed: int = 0) -> gpd.GeoDataFrame:
    """A seeded, city-like street network as road lines in EPSG:32643, centred on Almaty.

    - a ``size`` × ``size`` grid of junctions ``spacing`` m apart, each moved by up to ±40 m, every street
      bent at a random midpoint (so lines have 3 vertices);
    - hierarchy: every 72nd row/column a trunk road, every 24th primary, every 8th secondary, the rest
      residential; residential streets thin out towards the edge (kept with probability 1 − 0.45 r²,
      r = distance from the centre / half the width), leaving dead ends and islands;
    - one-way streets: 20 % of residential and 10 % of secondary streets, in a random direction;
    - barriers: two meandering north-south rivers and an east-west railway; a street crossing one survives
      only on trunk/primary roads and on 1 in 12 secondary streets (bridges and level crossings).
    """
    rng = np.random.default_rng(seed)
    cx, cy = (round(v) for v in _centre())
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    half = (size - 1) * spacing / 2
    x = cx - half + i * spacing + rng.uniform(-40, 40, i.shape)
    y = cy - half + j * spacing + rng.uniform(-40, 40, i.shape)
    node = i * size + j
    edges = []
    for di, dj in ((1, 0), (0, 1)):
        a = node[: size - di, : size - dj].ravel()
        b = node[di:, dj:].ravel()
        line_index = (j[: size - di, : size - dj] if di else i[: size - di, : size - dj]).ravel()  # the row/column the street runs along
        edges.append((a, b, line_index))
    a = np.concatenate([e[0] for e in edges])
    b = np.concatenate([e[1] for e in edges])
    along = np.concatenate([e[2] for e in edges])
    cls = np.full(len(a), "residential", dtype=object)
    cls[along % 8 == 0] = "secondary"
    cls[along % 24 == 0] = "primary"
    cls[along % 72 == 0] = "trunk"
    ax, ay, bx, by = x.ravel()[a], y.ravel()[a], x.ravel()[b], y.ravel()[b]
    r = np.hypot((ax + bx) / 2 - cx, (ay + by) / 2 - cy) / half
    keep = (cls != "residential") | (rng.random(len(a)) < 1 - 0.45 * r**2)
    major = np.isin(cls, ["trunk", "primary"]) | ((cls == "secondary") & (rng.random(len(a)) < 1 / 12))
    for offset, amplitude, wavelength in ((-0.35, 900, 5000), (0.3, 1200, 7000)):
        river = lambda yy: cx + offset * half + amplitude * np.sin(yy / wavelength)  # noqa: E731
        crosses = np.sign(ax - river(ay)) != np.sign(bx - river(by))
        keep &= ~crosses | major
    rail = lambda xx: cy + 0.15 * half + 700 * np.sin(xx / 6000)  # noqa: E731
    keep &= ~(np.sign(ay - rail(ax)) != np.sign(by - rail(bx))) | major
    a, b, cls, ax, ay, bx, by = (v[keep] for v in (a, b, cls, ax, ay, bx, by))
    oneway = np.zeros(len(a), dtype=object)
    oneway[:] = None
    one = ((cls == "residential") & (rng.random(len(a)) < 0.2)) | ((cls == "secondary") & (rng.random(len(a)) < 0.1))
    oneway[one] = np.where(rng.random(int(one.sum())) < 0.5, "yes", "-1")
    mx = (ax + bx) / 2 + rng.uniform(-20, 20, len(a))
    my = (ay + by) / 2 + rng.uniform(-20, 20, len(a))
    coords = np.stack([np.column_stack([ax, ay]), np.column_stack([mx, my]), np.column_stack([bx, by])], axis=1)
    return gpd.GeoDataFrame({"class": cls, "oneway": oneway}, geometry=shapely.linestrings(coords), crs=settings.ANALYSIS_CRS)


def _centre() -> tuple[float, float]:
    from geo_almaty.crs import centre_xy

    return centre_xy()


def points_near_roads(network: RoadNetwork, n: int, rng: np.random.Generator, spread: float = 200.0) -> np.ndarray:
    """``n`` random points within ``spread`` m of random nodes (cells and sites lie near streets)."""
    nodes = rng.integers(0, network.n_nodes, n)
    return np.column_stack([network.node_x[nodes] + rng.uniform(-spread, spread, n), network.node_y[nodes] + rng.uniform(-spread, spread, n)])


def to_osmnx_like(network: RoadNetwork) -> nx.MultiDiGraph:
    """The network as an osmnx-style MultiDiGraph (one edge per link direction, parallel links kept), as a
    GraphML drive graph loads."""
    graph = nx.MultiDiGraph()
    for u, v, ok in ((network.link_u, network.link_v, network.link_forward), (network.link_v, network.link_u, network.link_backward)):
        graph.add_edges_from((a, b, {"length": w}) for a, b, w in zip(u[ok].tolist(), v[ok].tolist(), network.link_length[ok].tolist()))
    return graph


def to_networkx(network: RoadNetwork) -> nx.DiGraph:
    """The network as a networkx DiGraph weighted by length (the cheapest of parallel links)."""
    graph = nx.DiGraph()
    for u, v, ok in ((network.link_u, network.link_v, network.link_forward), (network.link_v, network.link_u, network.link_backward)):
        order = np.argsort(-network.link_length[ok])  # shorter parallel links are added last and win
        graph.add_weighted_edges_from(zip(u[ok][order].tolist(), v[ok][order].tolist(), network.link_length[ok][order].tolist()), weight="length")
    return graph


def naive_od(network: RoadNetwork, graph: nx.DiGraph | nx.MultiDiGraph, origins: np.ndarray, destinations: np.ndarray, cutoff: float) -> tuple[float, int]:
    """Straightforward: nearest node per point, one networkx Dijkstra per origin, a Python look-up per destination."""
    started = time.perf_counter()
    tree = cKDTree(np.column_stack([network.node_x, network.node_y]))
    d_o, n_o = tree.query(origins)
    d_d, n_d = tree.query(destinations)
    pairs = 0
    for i in range(len(origins)):
        lengths = nx.single_source_dijkstra_path_length(graph, int(n_o[i]), cutoff=cutoff, weight="length")
        row = {}
        for j in range(len(destinations)):
            found = lengths.get(int(n_d[j]))
            if found is not None and d_o[i] + found + d_d[j] <= cutoff:
                row[j] = d_o[i] + found + d_d[j]
        pairs += len(row)
    return time.perf_counter() - started, pairs


def cross_check(network: RoadNetwork, origins: np.ndarray, destinations: np.ndarray, result, pairs: int, rng: np.random.Generator) -> float:
    """Largest |od_costs − networkx| (m) over ``pairs`` sampled (origin, destination) pairs on a graph cut at the snapped points."""
    rows = rng.choice(len(origins), size=min(20, len(origins)), replace=False)
    cols = rng.choice(len(destinations), size=min(max(1, pairs // len(rows)), len(destinations)), replace=False)
    graph = to_networkx(network)
    cuts: dict[int, list[tuple[float, str]]] = {}
    for prefix, joined, index in (("o", result.origins, rows), ("d", result.destinations, cols)):
        for i in index:
            name = f"{prefix}{i}"
            cuts.setdefault(int(joined.link[i]), []).append((float(joined.fraction[i]), f"s{name}"))
            graph.add_edge(name, f"s{name}", length=float(joined.connector_m[i]))
            graph.add_edge(f"s{name}", name, length=float(joined.connector_m[i]))
    for k, stops in cuts.items():
        u, v, length = int(network.link_u[k]), int(network.link_v[k]), float(network.link_length[k])
        chain = [(0.0, u)] + sorted(stops) + [(1.0, v)]
        for (f0, p), (f1, q) in zip(chain[:-1], chain[1:]):
            w = (f1 - f0) * length
            if network.link_forward[k]:
                graph.add_edge(p, q, length=w)
            if network.link_backward[k]:
                graph.add_edge(q, p, length=w)
    worst = 0.0
    for i in rows:
        mine = dict(zip(result.destination[result.origin == i].tolist(), result.cost[result.origin == i].tolist()))
        lengths = nx.single_source_dijkstra_path_length(graph, f"o{i}", weight="length")
        for j in cols:
            expected = lengths.get(f"d{j}", np.inf)
            if expected <= result.cutoff:
                worst = max(worst, abs(mine.get(int(j), np.inf) - expected))
            elif int(j) in mine:
                worst = np.inf  # a pair beyond the cutoff must be absent
    return worst


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the search workers), s."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def od_report(label: str, network: RoadNetwork, origins: np.ndarray, destinations: np.ndarray, cutoff: float,
              workers: int, contract: bool = True) -> tuple[float, float, object]:
    """Time ``od_costs`` (the contraction included: the network is fresh, or its cache is cleared)."""
    for key in [k for k in network._cache if k[0] == "contracted"]:
        del network._cache[key]
    started, cpu = time.perf_counter(), cpu_seconds()
    result = od_costs(network, origins, destinations, cutoff=cutoff, weight="length", workers=workers, contract=contract)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    total = len(origins) * len(destinations)
    directed = network.graph("length").nnz
    print(f"{label}: {network.n_nodes:,} nodes, {network.n_links:,} links ({directed:,} directed edges); "
          f"{len(origins):,} × {len(destinations):,} points, cutoff {cutoff / 1000:g} km, {workers} search process(es)")
    if contract:
        contracted = network.contracted("length", reverse=len(origins) > len(destinations))
        print(f"  contracted: a core of {contracted.core_size:,} nodes, {len(contracted.edges[0]):,} core and up edges, "
              f"{len(contracted.rounds)} rounds")
    print(f"  od_costs {seconds:.2f} s wall, {cpu:.1f} s CPU: {total / seconds:,.0f} pairs/s ({len(result):,} pairs within the cutoff, "
          f"{len(result) / total:.0%}); peak RSS {peak_mb():,.0f} MB (this process; each search worker holds its chunk)")
    return seconds, cpu, result


def real_roads() -> RoadNetwork | None:
    path = settings.project_root().parent / "shared" / "geodata" / "kvozianov_almaty_roads" / "almaty_roads.geojson"
    if not path.is_file():
        print("real roads: ../shared/geodata/kvozianov_almaty_roads absent, skipped")
        return None
    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pyogrio.read_dataframe(path).to_crs(settings.ANALYSIS_CRS).rename(columns={"highway": "class"})
    return network_from_lines(frame)


def cells_benchmark(cells: int) -> None:
    """A road distance and a road reachable criterion on ~``cells`` candidates of the embedded data, with their straight twins."""
    from geo_almaty.allocate import allocate_flows, load_allocation_specs
    from geo_almaty.candidates import square_candidates
    from geo_almaty.catalog import load_catalog
    from geo_almaty.criteria import criterion_raw
    from geo_almaty.flows import load_flows
    from geo_almaty.prepare import prepare_study
    from geo_almaty.profiles import load_profile
    from geo_almaty.study_area import study_area_geometry

    catalog = load_catalog()
    area = study_area_geometry(catalog).area
    cell = float(np.sqrt(area / cells))
    study = prepare_study(catalog, cell)
    supply = study.supply_study  # flows are spread on the 250 m supply grid when the cells are finer (prepare.Study.supply)
    allocations = allocate_flows(load_allocation_specs(), load_flows(), supply.layers, supply.grid, supply.population_weights())
    candidates = square_candidates(study)
    profile = {c["id"]: c for c in load_profile("composting_hub", catalog).criteria}
    print(f"road criteria on {len(candidates):,} cells of {cell:.1f} m (embedded catalog, composting_hub):")
    started = time.perf_counter()
    network = study.network
    print(f"  network from the roads layer: {time.perf_counter() - started:.2f} s ({network.n_nodes:,} nodes, {network.n_links:,} links)")
    from geo_almaty.criteria import connect_cached

    started = time.perf_counter()
    joined = connect_cached(study, candidates.x, candidates.y, "cells")
    print(f"  joining the cells to the network: {time.perf_counter() - started:.2f} s; {joined.summary('cells')}")
    cache: dict = {}
    for cid in ("market_distance", "farmland_distance", "household_organic"):
        spec = profile[cid]
        for metric in ("straight", spec.get("metric", "straight")):
            variant = {**spec, "metric": metric}
            variant.pop("direction", None) if metric == "straight" else None
            started = time.perf_counter()
            raw = criterion_raw(variant, study, candidates, allocations, cache)
            seconds = time.perf_counter() - started
            unit = "t/yr" if spec["type"] == "reachable" else "km" if metric == "road_km" else "m"
            print(f"  {cid:<18} {metric:<9} {seconds:6.2f} s  ({len(candidates) / seconds:,.0f} cells/s; "
                  f"mean raw {np.nanmean(raw.values):,.2f} {unit})")
    print(f"  peak RSS {peak_mb():,.0f} MB")


def circuity_report() -> None:
    from geo_almaty.catalog import load_catalog
    from geo_almaty.network import load_network

    network = load_network(load_catalog())
    print(f"embedded network: {network.report.summary()}")
    print(f"  measured_circuity: {measured_circuity(network)}   (settings.FALLBACK_CIRCUITY = {settings.FALLBACK_CIRCUITY})")
    real = real_roads()
    if real is not None:
        print(f"real OSM main roads (kvozianov): {measured_circuity(real)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--origins", type=int, default=2000)
    parser.add_argument("--destinations", type=int, default=5000)
    parser.add_argument("--cutoff", type=float, default=30_000.0, help="m")
    parser.add_argument("--grid", type=int, default=260, help="junctions per side of the synthetic city")
    parser.add_argument("--naive-origins", type=int, default=20)
    parser.add_argument("--check-pairs", type=int, default=2000)
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--skip-cells", action="store_true")
    parser.add_argument("--circuity", action="store_true", help="only measure the circuity of the embedded roads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="search processes of od_costs (default: every core)")
    args = parser.parse_args()
    logging.getLogger("geo_almaty").setLevel(logging.ERROR)  # far-point warnings: the summaries below count them
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f}")
    if args.circuity:
        circuity_report()
        return
    rng = np.random.default_rng(args.seed)

    started = time.perf_counter()
    lines = synthetic_city(args.grid, seed=args.seed)
    made = time.perf_counter() - started
    started = time.perf_counter()
    network = network_from_lines(lines)
    print(f"synthetic city: {len(lines):,} street lines made in {made:.1f} s, network built in {time.perf_counter() - started:.1f} s; "
          f"{network.report.summary()}")
    origins, destinations = points_near_roads(network, args.origins, rng), points_near_roads(network, args.destinations, rng)
    fast, fast_cpu, result = od_report("fast (geo_almaty.network.od_costs)", network, origins, destinations, args.cutoff, args.workers)
    plain, plain_cpu, plain_result = od_report("the same without contraction (od_costs(..., contract=False))", network, origins,
                                               destinations, args.cutoff, args.workers, contract=False)
    same = np.array_equal(plain_result.origin, result.origin) and np.array_equal(plain_result.destination, result.destination)
    print(f"  contraction: {plain / fast:.2f}× wall, {plain_cpu / fast_cpu:.2f}× CPU; same pairs {'yes' if same else 'NO'}, "
          f"max |Δ| {np.max(np.abs(plain_result.cost - result.cost)) if same and len(result) else float('nan'):.1e} m")
    del plain_result

    sample = rng.choice(args.origins, size=min(args.naive_origins, args.origins), replace=False)
    ratios = {}
    for label, graph in (("osmnx-style MultiDiGraph", to_osmnx_like(network)), ("DiGraph", to_networkx(network))):
        cpu = cpu_seconds()
        naive_seconds, _ = naive_od(network, graph, origins[sample], destinations, args.cutoff)
        naive_cpu = (cpu_seconds() - cpu) * args.origins / len(sample)
        naive_total = naive_seconds * args.origins / len(sample)
        ratios[label] = naive_total / fast
        print(f"naive (networkx per origin on a {label}, nearest node): {naive_seconds:.1f} s for {len(sample)} origins → "
              f"{naive_total:,.0f} s wall, {naive_cpu:,.0f} s CPU for {args.origins:,} (extrapolated); ratio naive/fast "
              f"{naive_total / fast:,.0f}× wall, {naive_cpu / fast_cpu:,.0f}× CPU")
        del graph
    worst = cross_check(network, origins, destinations, result, args.check_pairs, rng)
    print(f"cross-check against networkx on ~{args.check_pairs:,} sampled pairs (links cut at the snapped points): "
          f"max |Δ| {worst:.2e} m → {'ok' if worst <= 1e-6 else 'FAIL'}")
    ratio = min(ratios.values())  # against the faster of the two networkx loops (the lean DiGraph), not the easier one
    verdict = "met" if fast <= TARGET_SECONDS and ratio >= TARGET_RATIO else "NOT met"
    print(f"target (≤ {TARGET_SECONDS:.0f} s and ≥ {TARGET_RATIO:.0f}× the faster networkx loop, wall): {verdict} "
          f"({fast:.1f} s, {ratio:.0f}×); load average {os.getloadavg()[0]:.1f}")

    real = real_roads()
    if real is not None:
        rng_real = np.random.default_rng(args.seed)
        od_report("real OSM main roads (kvozianov)", real, points_near_roads(real, args.origins, rng_real),
                  points_near_roads(real, args.destinations, rng_real), args.cutoff, args.workers)
    if not args.skip_cells:
        cells_benchmark(args.cells)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

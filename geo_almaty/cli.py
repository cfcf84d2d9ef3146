"""The ``geo-almaty`` command line. It only puts library functions together and prints.

Exit status: 0 done; 1 ``layers validate`` found an unusable layer or profile;
2 bad input (one line naming the file, layer and column: no traceback, nothing
written); 70 an internal error (one line and the path of a log file holding the
traceback); 130 interrupted by Ctrl-C; 143 terminated by SIGTERM. Every command
that writes stages its output (:func:`geo_almaty.atomic.staged_output`): an
output appears complete or not at all.
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, settings
from .errors import GeoAlmatyError

log = logging.getLogger("geo_almaty")

#: Exit statuses (see the module docstring and README "Exit codes").
EXIT_OK, EXIT_UNUSABLE, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 70, 130, 143


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _finite_number(what: str, *, zero_ok: bool = False, expected: str = "metres > 0"):
    """An argparse type: a finite number > 0 (or >= 0 with ``zero_ok``); ``expected`` ends its messages."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number (expected {expected})") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number {'>= 0' if zero_ok else '> 0'} (expected {expected})")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: Cell sizes, distances (m) and time limits (s); ``non_negative_seconds`` where 0 means 'skip'.
positive_float = _finite_number("positive_float")
non_negative_seconds = _finite_number("non_negative_seconds", zero_ok=True, expected="seconds >= 0, 0 to skip")


def _whole_number(minimum: int, what: str):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number (expected {minimum} or more)") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} (expected {minimum} or more)")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    parse.__doc__ = f"A whole number >= {minimum}."
    return parse


#: Numbers of sites or samples (1 or more); sample counts where 0 means 'skip'.
positive_int = _whole_number(1, "positive_int")
non_negative_int = _whole_number(0, "non_negative_int")


def memory_size(text: str) -> int:
    """A memory budget: bytes with an optional unit (``800MB``, ``4GB``, ``4GiB``)."""
    from .errors import InputError
    from .memory import parse_size

    try:
        return parse_size(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.short()) from None


def _add_overwrite(parser: argparse.ArgumentParser, what: str = "folder") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace an existing output {what} as a whole (default: refuse); a folder must be a previous geo-almaty output or empty")


def _add_memory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory-budget", type=memory_size, metavar="SIZE",
                        help="refuse work estimated above this much memory, e.g. 4GB (default: GEO_ALMATY_MEMORY_BUDGET, "
                             "else a share of the available RAM)")


def _add_catalog(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")


def _add_cell_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell-size", type=positive_float, default=settings.DEFAULT_CELL_SIZE_M, help="candidate cell size in m (default %(default)s)")


def _add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=settings.LANGUAGES, default=settings.DEFAULT_LANGUAGE, help="language of labels (default %(default)s)")


def _add_scoring(parser: argparse.ArgumentParser) -> None:
    """The options of a command that scores one facility type (score, robust)."""
    parser.add_argument("--facility", required=True, help="composting_hub, material_bank, reuse_warehouse, or a profile YAML")
    _add_catalog(parser)
    _add_cell_size(parser)
    parser.add_argument("--shape", choices=("square", "hex"), default="square", help="candidate cells: square grid or H3 hexagons")
    parser.add_argument("--candidates-layer", help="score the features of this catalog layer (plots, vacant buildings) instead of a grid")
    parser.add_argument("--top", type=positive_int, help="number of sites to choose, 1 or more (default: the profile's)")
    parser.add_argument("--force-ahp", action="store_true", help="accept an AHP matrix with a consistency ratio above 0.1")
    parser.add_argument("--within", metavar="LAYER", help="candidates only inside this polygon layer, e.g. city_boundary "
                                                          "(flows still come from the whole study area)")


def _add_tiles(parser: argparse.ArgumentParser) -> None:
    """Options of scoring a grid in tiles (see geo_almaty/tiles.py)."""
    parser.add_argument("--tile-size", type=positive_int, metavar="CELLS",
                        help="score in tiles of about this many cells (default: tiles only when the grid does not fit the memory budget, "
                             "sized to it)")
    parser.add_argument("--engine", choices=("local", "dask"), default=settings.TILE_ENGINE,
                        help="where tiles are scored: this process, or tasks on a Dask cluster (default %(default)s)")
    parser.add_argument("--workers", type=positive_int, help=f"Dask worker processes of the local cluster (default {settings.DASK_WORKERS})")
    parser.add_argument("--threads", type=positive_int, help=f"threads per Dask worker (default {settings.DASK_THREADS})")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786) instead of a local cluster")


def _score_one(args: argparse.Namespace, engine=None, robust_samples: int = 0):
    """Load the inputs and score ``args.facility`` with the options of :func:`_add_scoring` (in tiles when ``engine`` is given;
    the memory of a robustness analysis of ``robust_samples`` samples counted)."""
    from .pipeline import load_inputs, score_facility

    inputs = load_inputs(args.catalog, args.cell_size, profiles=[args.facility], force_ahp=args.force_ahp, progress=True,
                         shape="features" if args.candidates_layer else args.shape, memory_budget=args.memory_budget,
                         within=args.within, tiling="auto" if engine is not None else "never",
                         tile_cells=getattr(args, "tile_size", None), engine=engine, robust_samples=robust_samples)
    outcome = score_facility(inputs, args.facility, shape=args.shape, candidates_layer=args.candidates_layer, top_n=args.top,
                             force_ahp=args.force_ahp, progress=True)
    return inputs, outcome


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="geo-almaty", description="Circular-economy planning for Almaty: flows, layers, site suitability and offline maps.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    flows = sub.add_parser("flows", help="summarise the report's material flows and write Sankey diagrams")
    _add_lang(flows)
    flows.add_argument("--out", type=Path, default=Path("out") / "flows", help="folder for the Sankey HTML files (default %(default)s)")
    _add_overwrite(flows)
    flows.set_defaults(func=cmd_flows)

    layers = sub.add_parser("layers", help="list, validate or import spatial layers")
    layers_sub = layers.add_subparsers(dest="layers_command", required=True)
    for name, helptext in (("list", "list the catalog's layers"), ("validate", "read every layer and check the facility profiles against it")):
        p = layers_sub.add_parser(name, help=helptext)
        _add_catalog(p)
        if name == "validate":
            p.add_argument("--facility", action="append", metavar="PROFILE",
                           help="check this profile (name or YAML) as the run would; repeatable (default: the shipped profiles)")
        _add_lang(p)
        p.set_defaults(func=cmd_layers_validate if name == "validate" else cmd_layers_list)
    fetch = layers_sub.add_parser("fetch-osm", help="import OpenStreetMap data (online by place, or offline from a .osm/.osm.pbf file) as a catalog")
    where = fetch.add_mutually_exclusive_group(required=True)
    where.add_argument("--place", help='a place name for the online fetch, e.g. "Almaty, Kazakhstan"')
    where.add_argument("--osm-file", type=Path, help="an OSM extract (.osm or .osm.pbf) to read offline")
    fetch.add_argument("--out", type=Path, required=True, help="the GeoPackage to write; a .catalog.yaml and a .drive.graphml go beside it")
    _add_overwrite(fetch, "files")
    fetch.set_defaults(func=cmd_fetch_osm)

    score = sub.add_parser("score", help="score candidate sites for one facility type and write GeoPackage, CSV and GeoTIFF")
    _add_scoring(score)
    score.add_argument("--all-candidates", action="store_true", help="write every scored candidate to the GeoPackage (default: the best 10 %%)")
    _add_lang(score)
    score.add_argument("--out", type=Path, required=True, help="output folder")
    _add_overwrite(score)
    _add_memory(score)
    _add_tiles(score)
    score.set_defaults(func=cmd_score)

    locate = sub.add_parser("locate", help="how many sites of a facility type, where, how big and serving whom (location-allocation)")
    locate.add_argument("--facility", required=True, help="composting_hub, material_bank, reuse_warehouse, or a profile YAML with a locate section")
    locate.add_argument("--model", choices=("pmedian", "set_cover", "mclp", "fixed_charge"), help="the model (default: the profile's)")
    locate.add_argument("--k", type=positive_int, help="number of new sites (pmedian, mclp)")
    locate.add_argument("--band", help="size band of new sites (default: the profile's)")
    locate.add_argument("--max-haul", type=positive_float, help="maximum haul in m (default: the profile's)")
    locate.add_argument("--gap", type=float, help=f"stop at this proven relative gap (default {settings.DEFAULT_LOCATE_GAP})")
    locate.add_argument("--time-limit", type=positive_float, help=f"stop after this many seconds (default {settings.DEFAULT_LOCATE_TIME_LIMIT:g})")
    locate.add_argument("--single-source", action="store_true", help="serve every demand point from one site (default: splittable)")
    locate.add_argument("--candidate-pool", type=positive_int, help="candidate sites offered to the model (default: the profile's)")
    locate.add_argument("--samples", type=non_negative_int, default=0,
                        help="re-solve under this many draws of the supply within data/uncertainty.yaml's ranges (default 0: skip)")
    locate.add_argument("--seed", type=non_negative_int, default=0, help="random seed of --samples; the same seed gives the same files "
                        "(default %(default)s)")
    locate.add_argument("--sample-time-limit", type=positive_float, default=None,
                        help=f"seconds per re-solve of --samples (default {settings.RUN_LOCATE_TIME_LIMIT:g})")
    _add_catalog(locate)
    _add_cell_size(locate)
    _add_lang(locate)
    locate.add_argument("--out", type=Path, required=True, help="output folder")
    _add_overwrite(locate)
    _add_memory(locate)
    locate.set_defaults(func=cmd_locate)

    robust = sub.add_parser("robust", help="how sure are we: Monte Carlo robustness and one-at-a-time sensitivity of one facility type's sites")
    _add_scoring(robust)
    robust.add_argument("--samples", type=positive_int, default=None, help="Monte Carlo samples (default 1000)")
    robust.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default %(default)s)")
    robust.add_argument("--concentration", type=float, default=None, help="Dirichlet concentration around direct weights (default 50)")
    robust.add_argument("--vary", default="weights,flows,positions", help="what the samples vary, comma-separated (default %(default)s)")
    robust.add_argument("--threshold", type=float, default=None, help="share of samples that makes a site robust (default 0.8)")
    robust.add_argument("--match-radius", type=float, help="m; a chosen site this close counts as the same site (default: half the spacing)")
    _add_lang(robust)
    robust.add_argument("--out", type=Path, required=True, help="output folder")
    _add_overwrite(robust)
    _add_memory(robust)
    _add_tiles(robust)
    robust.set_defaults(func=cmd_robust)

    why = sub.add_parser("why", help='"why not here?": every siting rule that excludes or flags a location, with distance, feature and citation')
    _add_scoring(why)
    why.add_argument("--lon", type=float, help="longitude (EPSG:4326) of the location")
    why.add_argument("--lat", type=float, help="latitude (EPSG:4326) of the location")
    why.add_argument("--x", type=float, help="easting in m (EPSG:32643), instead of --lon/--lat")
    why.add_argument("--y", type=float, help="northing in m (EPSG:32643), instead of --lon/--lat")
    why.add_argument("--json", action="store_true", help="print the reasons as JSON (for scripts and map popups)")
    _add_lang(why)
    _add_memory(why)
    why.set_defaults(func=cmd_why)

    run = sub.add_parser("run", help="the main job: score all facility types and write maps, Sankeys, results and index.html")
    _add_catalog(run)
    run.add_argument("--out", type=Path, default=Path("almaty_out"), help="output folder (default %(default)s)")
    _add_cell_size(run)
    run.add_argument("--robust-samples", type=non_negative_int, default=None, help="Monte Carlo samples per facility type (default 200; 0 skips)")
    run.add_argument("--locate-time-limit", type=non_negative_seconds, default=None, metavar="SECONDS",
                     help=f"location-allocation time per facility type (default {settings.RUN_LOCATE_TIME_LIMIT:g} s, or the "
                          f"{settings.RUN_LOCATE_GAP:.0%}% gap; 0 skips it)")
    run.add_argument("--scenario", metavar="FILE", help="a scenario (scenarios/*.yaml, or its name): overrides applied in memory; outputs name it")
    _add_lang(run)
    _add_overwrite(run)
    _add_memory(run)
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="run two or more scenarios and write a side-by-side table and one map of every scenario's sites")
    compare.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files or names (scenarios/*.yaml); 'baseline' for no overrides")
    _add_catalog(compare)
    compare.add_argument("--facility", action="append", metavar="PROFILE",
                         help="compare this facility type; repeatable (default: those the scenarios name, else all)")
    _add_cell_size(compare)
    _add_lang(compare)
    compare.add_argument("--out", type=Path, required=True, help="output folder")
    _add_overwrite(compare)
    _add_memory(compare)
    compare.set_defaults(func=cmd_compare)

    map_cmd = sub.add_parser("map", help="make a map from a recipe (maps/*.yaml) without writing code")
    map_cmd.add_argument("--recipe", required=True, help="planner, citizen, or the path of a recipe YAML")
    _add_catalog(map_cmd)
    _add_cell_size(map_cmd)
    _add_lang(map_cmd)
    map_cmd.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    _add_overwrite(map_cmd, "file")
    _add_memory(map_cmd)
    map_cmd.set_defaults(func=cmd_map)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from .pipeline import run_main_job
    from .render.index import short_summary

    started = time.perf_counter()
    scenario = None
    if args.scenario:
        from .catalog import load_catalog
        from .scenario import load_scenario

        scenario = load_scenario(args.scenario, catalog=load_catalog(args.catalog))
        print(f"scenario {scenario.id}: {scenario.title[args.lang]}")
    outputs = run_main_job(args.catalog, args.out, args.lang, cell_size=args.cell_size, robust_samples=args.robust_samples,
                           locate_time_limit=args.locate_time_limit, progress=True,
                           overwrite=args.overwrite, memory_budget=args.memory_budget, scenario=scenario)
    written = [outputs.index, *outputs.maps, *outputs.sankeys, outputs.summary_page, outputs.summary, *outputs.results]
    print(f"wrote {len(written)} files ({sum(p.stat().st_size for p in written) / 1e6:.1f} MB) into {args.out} "
          f"in {time.perf_counter() - started:.1f} s")
    for outcome in outputs.outcomes.values():
        _print_shortfall(outcome)
        if outcome.result.notes:  # the candidates' connectors; every criterion's note is in the results' criteria table
            print(f"{outcome.profile.id}: road: {outcome.result.notes[0]}")
    print("\n".join(short_summary(outputs.outcomes, outputs.inputs, args.lang, outputs.index)))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .scenario.compare import compare_scenarios

    outputs = compare_scenarios(args.scenarios, args.out, args.lang, catalog_path=args.catalog, cell_size=args.cell_size, facilities=args.facility,
                                progress=True, overwrite=args.overwrite, memory_budget=args.memory_budget)
    table = outputs.comparison
    rows = [(r.scenario_id, r.facility, f"{r.sites}/{r.sites_asked}", f"{r.best_score:.3f}") for r in table.itertuples()]
    _print_table(("scenario", "facility", "sites/asked", "best score"), rows)
    print(f"wrote {outputs.table}, {outputs.sites}, {outputs.markdown}, {outputs.map} and {outputs.page}")
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    from .atomic import staged_output, staged_path, write_text_atomic
    from .locate import locate_facility, locate_markdown, site_table, write_locate_outputs
    from .locate.outputs import write_locate_spread_outputs
    from .locate.report import HEAD_KEYS, summary_lines
    from .locate.uncertainty import DEFAULT_SAMPLE_TIME_LIMIT, locate_under_uncertainty
    from .pipeline import load_inputs

    with staged_output(args.out, overwrite=args.overwrite, command="geo-almaty locate") as stage:
        inputs = load_inputs(args.catalog, args.cell_size, profiles=[args.facility], progress=True, memory_budget=args.memory_budget)
        outcome = locate_facility(inputs, args.facility, model=args.model, k=args.k, band=args.band, max_haul_m=args.max_haul, gap=args.gap,
                                  time_limit=args.time_limit, single_source=args.single_source, candidate_pool=args.candidate_pool,
                                  progress=True)
        paths = write_locate_outputs(outcome, stage, args.lang)
        paths.append(write_text_atomic(stage / f"{outcome.profile.id}_locate.md", locate_markdown({outcome.profile.id: outcome}, args.lang)))
        spread = None
        if args.samples:
            spread = locate_under_uncertainty(inputs, outcome, samples=args.samples, seed=args.seed, progress=True,
                                              time_limit_s=args.sample_time_limit or DEFAULT_SAMPLE_TIME_LIMIT)
            paths += write_locate_spread_outputs(spread, stage)
    head = summary_lines(outcome, args.lang)
    print(f"{outcome.profile.title[args.lang]}: {head['answer']}")
    for key in HEAD_KEYS:
        if key in head:
            print(f"  {head[key]}")
    for row in site_table(outcome, args.lang).itertuples():
        print(f"  {row.site_id:<40} {row.size_band:<10} {row.assigned_t_yr:>10,.0f} t/yr  {row.utilisation:6.1%}  {row.district}")
    for figure, value, unit in outcome.impact.rows():
        print(f"  {figure:<28} {'—' if value is None else f'{value:,.1f}':>14} {unit}")
    if spread is not None:
        _print_locate_spread(spread)
    for path in paths:
        print(f"wrote {staged_path(stage, args.out, path)}")
    return 0


def _print_locate_spread(spread) -> None:
    """The supply samples in a few lines: figures' quantiles, then how often each location opened."""
    from .locate.uncertainty import spread_sites, spread_table

    feasible = int(spread.feasible.sum())
    print(f"Under {spread.samples} supply samples (seed {spread.seed}; {feasible} solved"
          + (f", {spread.time_limited} stopped at the time limit" if spread.time_limited else "") + "): base | 5 % | 50 % | 95 %")
    for row in spread_table(spread).itertuples():
        print(f"  {row.figure:<28} {row.base:>14,.1f} {row.p05:>14,.1f} {row.p50:>14,.1f} {row.p95:>14,.1f} {row.unit}")
    for row in spread_sites(spread).itertuples():
        print(f"  {row.site_id:<40} {row.kind:<8} opened in {row.share_opened:6.1%}  {row.usual_band:<10} {'base' if row.base_opened else ''}")


def cmd_why(args: argparse.Namespace) -> int:
    import json

    from pyproj import Transformer

    from .errors import InputError
    from .siting.jurisdiction import candidate_jurisdiction
    from .siting.why import candidate_at, why_not_here

    if (args.lon is None) != (args.lat is None) or (args.x is None) != (args.y is None) or \
            (args.lon is None) == (args.x is None):
        raise InputError("no location", column="--lon/--lat or --x/--y", expected="either --lon and --lat, or --x and --y")
    if args.lon is not None:
        x, y = Transformer.from_crs(settings.GEOGRAPHIC_CRS, settings.ANALYSIS_CRS, always_xy=True).transform(args.lon, args.lat)
    else:
        x, y = args.x, args.y
    inputs, outcome = _score_one(args)
    result, study = outcome.result, inputs.study
    reasons = why_not_here(result, study, float(x), float(y), lang=args.lang)
    site = candidate_at(result, study, float(x), float(y))
    if args.json:
        record = {"facility": result.profile.id, "x": float(x), "y": float(y), "candidate": None if site is None else str(result.candidates.labels(np.array([site]))[0]),
                  "excluded": bool(site is not None and result.excluded[site]), "score": None if site is None or result.excluded[site] else float(result.score[site]),
                  "reasons": [r.as_dict(args.lang) for r in reasons]}
        print(json.dumps(record, ensure_ascii=False, indent=1))
        return 0
    where = f"x {x:,.0f} m, y {y:,.0f} m (EPSG:32643)" + (f"; lon {args.lon:.5f}, lat {args.lat:.5f}" if args.lon is not None else "")
    print(f"{result.profile.title[args.lang]} at {where}")
    if site is not None:
        land = candidate_jurisdiction(study, result.candidates)
        print(f"candidate {result.candidates.labels(np.array([site]))[0]}: {land.name(site, args.lang)}")
        if result.siting and result.siting.zone:
            print(f"sanitary zone at {result.siting.capacity_t_yr:,.0f} t/yr: {result.siting.zone.describe(args.lang)}")
    for reason in reasons:
        print(f"  - {reason.text(args.lang)}")
    if site is not None and not result.excluded[site]:
        from .explain import site_reasons

        valid = np.isfinite(result.score)
        rank = int((result.score[valid] > result.score[site]).sum()) + 1
        print(f"not excluded: score {result.score[site]:.3f}, rank {rank:,} of {int(valid.sum()):,} candidates; main criteria:")
        for line in site_reasons(result, site, args.lang, inputs.allocations, limit=3):
            print(f"    {line}")
    for item in (result.siting.missing if result.siting else []):
        print(f"note: not applied, {item.text(args.lang)}")
    return 0


def cmd_robust(args: argparse.Namespace) -> int:
    from .atomic import staged_output, staged_path
    from .pipeline import analyse_facility_robustness
    from .robust import DEFAULT_SAMPLES, write_robust_outputs
    from .tiles import open_engine

    options = {k: v for k, v in (("concentration", args.concentration), ("threshold", args.threshold),
                                 ("match_radius_m", args.match_radius)) if v is not None}
    sources = tuple(s.strip() for s in args.vary.split(",") if s.strip())
    with staged_output(args.out, overwrite=args.overwrite, command="geo-almaty robust") as stage:
        with open_engine(args.engine, workers=args.workers, threads=args.threads, address=args.scheduler) as engine:
            inputs, outcome = _score_one(args, engine, robust_samples=args.samples or DEFAULT_SAMPLES)
            robust = analyse_facility_robustness(inputs, outcome, samples=args.samples, seed=args.seed, top_n=args.top, sources=sources,
                                                 progress=True, **options)
        paths = write_robust_outputs(robust, inputs.study, stage, args.lang)
    _print_tiles(outcome, inputs)
    _print_robustness(robust, inputs, args.lang)
    for path in paths:
        print(f"wrote {staged_path(stage, args.out, path)}")
    return 0


def _print_robustness(robust, inputs, lang: str) -> None:
    from .robust import robust_sites_frame

    s = robust.settings
    print(f"{robust.profile.title[lang]}: {s.samples} samples (seed {s.seed}; varying {', '.join(s.sources)}), top {s.top_n}, "
          f"match radius {s.match_radius_m:,.0f} m")
    sites = robust_sites_frame(robust, inputs.study, lang)
    print(f"robust sites (a chosen site within {s.match_radius_m:,.0f} m in >= {s.threshold:.0%} of samples): {len(sites)}")
    for row in sites.itertuples():
        base = "" if row.base_site_rank != row.base_site_rank else f"  base #{int(row.base_site_rank)}"
        print(f"  {row.site:>2}. {row.candidate_id:<12} nearby {row.nearby_frequency:5.0%}  this cell {row.selected_frequency:5.0%}  "
              f"{row.district}{base}")
    oat = robust.oat.groupby("factor", sort=False)["sites_replaced"].max().sort_values(ascending=False, kind="stable")
    print("one at a time (most sites replaced first): " + ", ".join(f"{f} {n}" for f, n in oat.head(5).items()))
    for note in robust.notes:
        print(f"note: {note}")


def cmd_map(args: argparse.Namespace) -> int:
    from .allocate import load_allocation_specs
    from .atomic import staged_output
    from .catalog import load_catalog
    from .pipeline import load_inputs, score_facility
    from .render.citizen import build_citizen_map
    from .render.maps import save_map
    from .render.planner import build_planner_map
    from .render.recipes import load_recipe

    out = Path(args.out)
    with staged_output(out.absolute().parent, files=[out.name], overwrite=args.overwrite, command="geo-almaty map") as stage:
        recipe = load_recipe(args.recipe, load_catalog(args.catalog), set(load_allocation_specs()))
        facilities = [item["facility"] for item in recipe["facilities"]]
        inputs = load_inputs(args.catalog, args.cell_size, profiles=facilities, progress=True, memory_budget=args.memory_budget)
        outcomes = {f: score_facility(inputs, f, progress=True) for f in facilities}
        build = build_planner_map if recipe["kind"] == "planner" else build_citizen_map  # a lone map: no index page to link back to
        save_map(build(recipe, inputs, outcomes, args.lang), stage / out.name, args.lang)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .atomic import staged_output, staged_path
    from .pipeline import write_facility_outputs
    from .tiles import open_engine

    with staged_output(args.out, overwrite=args.overwrite, command="geo-almaty score") as stage:
        with open_engine(args.engine, workers=args.workers, threads=args.threads, address=args.scheduler) as engine:
            inputs, outcome = _score_one(args, engine)
        paths = write_facility_outputs(outcome, inputs, stage, args.lang, all_candidates=args.all_candidates)
    _print_tiles(outcome, inputs)
    _print_top_sites(outcome, inputs, args.lang)
    _print_shortfall(outcome)
    for path in paths:
        print(f"wrote {staged_path(stage, args.out, path)}")
    return 0


def _print_tiles(outcome, inputs) -> None:
    tiled = outcome.tiled
    if tiled is not None:
        plan = inputs.study.plan
        print(f"scored in {tiled.tiles} tile(s) of {plan.rows:,} × {plan.width:,} cells ({tiled.engine} engine; memory budget "
              f"{_bytes(plan.budget)}, estimated peak {_bytes(plan.peak)}); passes: "
              + ", ".join(f"{k} {v}" for k, v in tiled.passes.items() if v))


def _bytes(value: int) -> str:
    from .memory import format_bytes

    return format_bytes(value)


def _print_shortfall(outcome) -> None:
    shortfall = outcome.selection.attrs.get("shortfall")
    if shortfall:
        print(f"geo-almaty: warning: {outcome.profile.id}: {shortfall}", file=sys.stderr)


def _print_top_sites(outcome, inputs, lang: str) -> None:
    from .explain import format_amount, site_reasons, tonnage_reached

    result = outcome.result
    print(f"{result.profile.title[lang]}: {outcome.candidate_count:,} candidates, {outcome.excluded_count:,} excluded; top {len(outcome.selection)}:")
    _print_road_notes(result)
    for row in outcome.selection.itertuples():
        reached = tonnage_reached(result, row.candidate, inputs.allocations)
        reach = ", ".join(f"{inputs.allocations[k].title[lang]}: {format_amount(v, inputs.allocations[k].unit, lang)}" for k, v in reached.items())
        print(f"  #{row.rank:<2} {result.candidates.labels([row.candidate])[0]:<12} score {row.score:.3f}  {row.district_id}  {reach}")
        for reason in site_reasons(result, row.candidate, lang, inputs.allocations, limit=3):
            print(f"        {reason}")
    from .siting.report import siting_summary_lines

    for line in siting_summary_lines(result, inputs.study, outcome.selection, lang, excluded=(outcome.excluded_count, outcome.candidate_count)):
        print(line)


def _print_road_notes(result) -> None:
    """Road criteria: connectors (median, p95) or the straight-line fallback, one line each."""
    for note in result.notes:
        print(f"  road: {note}")


def cmd_flows(args: argparse.Namespace) -> int:
    from .atomic import staged_output, staged_path
    from .consistency import run_consistency_checks
    from .flows import load_coefficients, load_flows, load_labels
    from .render.sankey_page import write_sankey_page
    from .sankey import load_sankey_diagrams

    with staged_output(args.out, overwrite=args.overwrite, command="geo-almaty flows") as stage:
        labels = load_labels()
        flows = load_flows(labels=labels)
        coefficients = load_coefficients(flows)
        checks = run_consistency_checks(flows)
        diagrams = load_sankey_diagrams(flows, labels)
        path = staged_path(stage, args.out, write_sankey_page(diagrams, labels, stage, args.lang))

    _print_flow_summary(flows, args.lang, labels)
    print()
    print("Coefficients derived from the rows:")
    for c in coefficients.values():
        print(f"  {c.id:<40} {c.value:>12.4g} {c.unit:<26} ({', '.join(c.rows)})")
    print()
    print("Consistency of the report's own figures:")
    for r in checks:
        mark = "ok      " if r.agrees else "DISAGREE"
        print(f"  {mark} {r.id:<38} {_number(r.left):>14} vs {_number(r.right):>14} {r.unit:<10} diff {r.relative_difference:6.1%}  {r.description}")
    print()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def cmd_fetch_osm(args: argparse.Namespace) -> int:
    from .osm import import_osm

    catalog_path = import_osm(args.out, place=args.place, osm_file=args.osm_file, progress=True, overwrite=args.overwrite)
    print(f"wrote {args.out} and {catalog_path}")
    print(f"use it with: geo-almaty layers validate --catalog {catalog_path}")
    return 0


def cmd_layers_list(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    catalog = load_catalog(args.catalog)
    print(f"catalog {catalog.path} ({catalog.name}): {len(catalog.layers)} layers")
    rows = []
    for spec in catalog.layers.values():
        source = "(no data)" if spec.source is None else spec.source.path.name + (f":{spec.source.layer}" if spec.source.layer else "")
        rows.append((spec.name, spec.kind, spec.geometry or "-", spec.role, source, spec.display_title(args.lang)))
    _print_table(("layer", "kind", "geometry", "role", "source", "title"), rows)
    return 0


def cmd_layers_validate(args: argparse.Namespace) -> int:
    from .catalog import load_catalog
    from .validate import validate_for_run

    catalog = load_catalog(args.catalog)
    reports = validate_for_run(catalog, args.facility, progress=True)
    rows = []
    for r in reports:
        status = "UNUSABLE" if not r.usable else "-" if any(n.startswith("not checked") for n in r.notes) else "ok"
        remarks = "; ".join(r.problems + r.notes) or "-"
        rows.append((r.name, status, str(r.features) if r.kind in ("vector", "raster") else f"{r.features:,} links" if r.kind == "network" else "-",
                     r.geometry or "-", r.crs or "-", r.source, remarks))
    print(f"catalog {catalog.path}")
    _print_table(("layer", "status", "features", "geometry", "CRS", "source", "problems / notes"), rows)
    bad = [r.name for r in reports if not r.usable]
    if bad:
        print(f"\n{len(bad)} unusable layer(s) or profile(s): {', '.join(bad)}", file=sys.stderr)
        return EXIT_UNUSABLE
    layers = [r for r in reports if r.kind not in ("flows", "profile")]
    profiles = [r for r in reports if r.kind == "profile"]
    print(f"\nall {len(layers)} layers usable; the flows and {len(profiles)} profile(s) pass the run's checks")
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    widths[-1] = 0  # the last column runs on
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * max(w, len(h)) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def _print_flow_summary(flows: pd.DataFrame, lang: str, labels: pd.DataFrame) -> None:
    from .flows import label

    print(f"{len(flows)} figures from the report (values normalised to canonical units):")
    for sector, group in flows.groupby("sector", sort=False):
        print(f"\n[{label(labels, 'sector', sector, lang)}]")
        for row in group.itertuples():
            arrow = f"{row.from_node} -> {row.to_node}" if row.to_node else row.from_node
            print(f"  {row.id:<34} {_number(row.value_canonical):>14} {row.canonical_unit:<10} {arrow:<40} {row.year}  L{row.report_lines}")


def _number(value: float) -> str:
    """Thousands separators for large values, four significant digits for small ones."""
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so staged output is removed."""


def _on_sigterm(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        return int(args.func(args) or 0)
    except GeoAlmatyError as exc:
        print(f"geo-almaty: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("geo-almaty: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("geo-almaty: terminated; nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:  # a bug, not a user mistake: one line here, the traceback in a log file
        path = _log_internal_error(exc, argv if argv is not None else sys.argv[1:])
        message = " ".join(str(exc).split())[:200]
        print(f"geo-almaty: internal error: {type(exc).__name__}: {message} (traceback in {path}; please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _log_internal_error(exc: BaseException, argv: list[str]) -> Path:
    """Write the traceback of an unexpected error to a log file and return its path."""
    import datetime
    import os
    import tempfile
    import traceback

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"geo-almaty {__version__}, Python {sys.version.split()[0]}\ncommand: geo-almaty {' '.join(argv)}\n\n"
            + "".join(traceback.format_exception(exc)))
    for folder in (settings.log_dir(), Path(tempfile.gettempdir())):
        path = folder / f"geo-almaty-error-{stamp}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(no writable log folder)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``geo-almaty`` command line. It only puts library functions together and prints.

Errors the user can cause are printed as one line (no traceback) and exit with
status 2; nothing is written when the input is bad.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, settings
from .errors import GeoAlmatyError

log = logging.getLogger("geo_almaty")


def _add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=settings.LANGUAGES, default=settings.DEFAULT_LANGUAGE, help="language of labels (default %(default)s)")


def _add_scoring(parser: argparse.ArgumentParser) -> None:
    """The options of a command that scores one facility type (score, robust)."""
    parser.add_argument("--facility", required=True, help="composting_hub, material_bank, reuse_warehouse, or a profile YAML")
    parser.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
    parser.add_argument("--cell-size", type=float, default=settings.DEFAULT_CELL_SIZE_M, help="candidate cell size in m (default %(default)s)")
    parser.add_argument("--shape", choices=("square", "hex"), default="square", help="candidate cells: square grid or H3 hexagons")
    parser.add_argument("--candidates-layer", help="score the features of this catalog layer (plots, vacant buildings) instead of a grid")
    parser.add_argument("--top", type=int, help="number of sites to choose (default: the profile's)")
    parser.add_argument("--force-ahp", action="store_true", help="accept an AHP matrix with a consistency ratio above 0.1")


def _score_one(args: argparse.Namespace):
    """Load the inputs and score ``args.facility`` with the options of :func:`_add_scoring`."""
    from .pipeline import load_inputs, score_facility

    inputs = load_inputs(args.catalog, args.cell_size, profiles=[args.facility], force_ahp=args.force_ahp, progress=True)
    outcome = score_facility(inputs, args.facility, shape=args.shape, candidates_layer=args.candidates_layer, top_n=args.top,
                             force_ahp=args.force_ahp, progress=True)
    return inputs, outcome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geo-almaty", description="Circular-economy planning for Almaty: flows, layers, site suitability and offline maps.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    flows = sub.add_parser("flows", help="summarise the report's material flows and write Sankey diagrams")
    _add_lang(flows)
    flows.add_argument("--out", type=Path, default=Path("out") / "flows", help="folder for the Sankey HTML files (default %(default)s)")
    flows.set_defaults(func=cmd_flows)

    layers = sub.add_parser("layers", help="list, validate or import spatial layers")
    layers_sub = layers.add_subparsers(dest="layers_command", required=True)
    for name, helptext in (("list", "list the catalog's layers"), ("validate", "read every layer and report problems")):
        p = layers_sub.add_parser(name, help=helptext)
        p.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
        _add_lang(p)
        p.set_defaults(func=cmd_layers_validate if name == "validate" else cmd_layers_list)
    fetch = layers_sub.add_parser("fetch-osm", help="import OpenStreetMap data (online by place, or offline from a .osm/.osm.pbf file) as a catalog")
    where = fetch.add_mutually_exclusive_group(required=True)
    where.add_argument("--place", help='a place name for the online fetch, e.g. "Almaty, Kazakhstan"')
    where.add_argument("--osm-file", type=Path, help="an OSM extract (.osm or .osm.pbf) to read offline")
    fetch.add_argument("--out", type=Path, required=True, help="the GeoPackage to write; a .catalog.yaml and a .drive.graphml go beside it")
    fetch.set_defaults(func=cmd_fetch_osm)

    score = sub.add_parser("score", help="score candidate sites for one facility type and write GeoPackage, CSV and GeoTIFF")
    _add_scoring(score)
    score.add_argument("--all-candidates", action="store_true", help="write every scored candidate to the GeoPackage (default: the best 10 %%)")
    _add_lang(score)
    score.add_argument("--out", type=Path, required=True, help="output folder")
    score.set_defaults(func=cmd_score)

    robust = sub.add_parser("robust", help="how sure are we: Monte Carlo robustness and one-at-a-time sensitivity of one facility type's sites")
    _add_scoring(robust)
    robust.add_argument("--samples", type=int, default=None, help="Monte Carlo samples (default 1000)")
    robust.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default %(default)s)")
    robust.add_argument("--concentration", type=float, default=None, help="Dirichlet concentration around direct weights (default 50)")
    robust.add_argument("--vary", default="weights,flows,positions", help="what the samples vary, comma-separated (default %(default)s)")
    robust.add_argument("--threshold", type=float, default=None, help="share of samples that makes a site robust (default 0.8)")
    robust.add_argument("--match-radius", type=float, help="m; a chosen site this close counts as the same site (default: half the spacing)")
    _add_lang(robust)
    robust.add_argument("--out", type=Path, required=True, help="output folder")
    robust.set_defaults(func=cmd_robust)

    why = sub.add_parser("why", help='"why not here?": every siting rule that excludes or flags a location, with distance, feature and citation')
    _add_scoring(why)
    why.add_argument("--lon", type=float, help="longitude (EPSG:4326) of the location")
    why.add_argument("--lat", type=float, help="latitude (EPSG:4326) of the location")
    why.add_argument("--x", type=float, help="easting in m (EPSG:32643), instead of --lon/--lat")
    why.add_argument("--y", type=float, help="northing in m (EPSG:32643), instead of --lon/--lat")
    why.add_argument("--json", action="store_true", help="print the reasons as JSON (for scripts and map popups)")
    _add_lang(why)
    why.set_defaults(func=cmd_why)

    run = sub.add_parser("run", help="the main job: score all facility types and write maps, Sankeys, results and index.html")
    run.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
    run.add_argument("--out", type=Path, default=Path("almaty_out"), help="output folder (default %(default)s)")
    run.add_argument("--cell-size", type=float, default=settings.DEFAULT_CELL_SIZE_M, help="candidate cell size in m (default %(default)s)")
    run.add_argument("--robust-samples", type=int, default=None, help="Monte Carlo samples per facility type (default 200; 0 skips)")
    _add_lang(run)
    run.set_defaults(func=cmd_run)

    map_cmd = sub.add_parser("map", help="make a map from a recipe (maps/*.yaml) without writing code")
    map_cmd.add_argument("--recipe", required=True, help="planner, citizen, or the path of a recipe YAML")
    map_cmd.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
    map_cmd.add_argument("--cell-size", type=float, default=settings.DEFAULT_CELL_SIZE_M, help="candidate cell size in m (default %(default)s)")
    _add_lang(map_cmd)
    map_cmd.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    map_cmd.set_defaults(func=cmd_map)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from .pipeline import run_main_job

    started = time.perf_counter()
    outputs = run_main_job(args.catalog, args.out, args.lang, cell_size=args.cell_size, robust_samples=args.robust_samples, progress=True)
    print(outputs.summary.read_text(encoding="utf-8"))
    for path in [outputs.index, *outputs.maps, *outputs.sankeys, *outputs.results, outputs.summary]:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"done in {time.perf_counter() - started:.1f} s; open {outputs.index}")
    return 0


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
        record = {"facility": result.profile.id, "x": float(x), "y": float(y), "candidate": None if site is None else str(result.candidates.labels()[[site]][0]),
                  "excluded": bool(site is not None and result.excluded[site]), "score": None if site is None or result.excluded[site] else float(result.score[site]),
                  "reasons": [r.as_dict(args.lang) for r in reasons]}
        print(json.dumps(record, ensure_ascii=False, indent=1))
        return 0
    where = f"x {x:,.0f} m, y {y:,.0f} m (EPSG:32643)" + (f"; lon {args.lon:.5f}, lat {args.lat:.5f}" if args.lon is not None else "")
    print(f"{result.profile.title[args.lang]} at {where}")
    if site is not None:
        land = candidate_jurisdiction(study, result.candidates)
        print(f"candidate {result.candidates.labels()[[site]][0]}: {land.name(site, args.lang)}")
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
    from .pipeline import analyse_facility_robustness
    from .robust import write_robust_outputs

    options = {k: v for k, v in (("concentration", args.concentration), ("threshold", args.threshold),
                                 ("match_radius_m", args.match_radius)) if v is not None}
    sources = tuple(s.strip() for s in args.vary.split(",") if s.strip())
    inputs, outcome = _score_one(args)
    robust = analyse_facility_robustness(inputs, outcome, samples=args.samples, seed=args.seed, top_n=args.top, sources=sources,
                                         progress=True, **options)
    paths = write_robust_outputs(robust, inputs.study, args.out, args.lang)
    _print_robustness(robust, inputs, args.lang)
    for path in paths:
        print(f"wrote {path}")
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
    from .catalog import load_catalog
    from .pipeline import load_inputs, score_facility
    from .render.citizen import build_citizen_map
    from .render.maps import save_map
    from .render.planner import build_planner_map
    from .render.recipes import load_recipe

    recipe = load_recipe(args.recipe, load_catalog(args.catalog), set(load_allocation_specs()))
    facilities = [item["facility"] for item in recipe["facilities"]]
    inputs = load_inputs(args.catalog, args.cell_size, profiles=facilities, progress=True)
    outcomes = {f: score_facility(inputs, f, progress=True) for f in facilities}
    build = build_planner_map if recipe["kind"] == "planner" else build_citizen_map
    path = save_map(build(recipe, inputs, outcomes, args.lang), args.out, args.lang)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .pipeline import write_facility_outputs

    inputs, outcome = _score_one(args)
    paths = write_facility_outputs(outcome, inputs, args.out, args.lang, all_candidates=args.all_candidates)
    _print_top_sites(outcome, inputs, args.lang)
    for path in paths:
        print(f"wrote {path}")
    return 0


def _print_top_sites(outcome, inputs, lang: str) -> None:
    from .explain import format_amount, site_reasons, tonnage_reached

    result = outcome.result
    print(f"{result.profile.title[lang]}: {len(result.candidates):,} candidates, {int(result.excluded.sum()):,} excluded; top {len(outcome.selection)}:")
    for row in outcome.selection.itertuples():
        reached = tonnage_reached(result, row.candidate, inputs.allocations)
        reach = ", ".join(f"{inputs.allocations[k].title[lang]}: {format_amount(v, inputs.allocations[k].unit, lang)}" for k, v in reached.items())
        print(f"  #{row.rank:<2} {result.candidates.labels()[row.candidate]:<12} score {row.score:.3f}  {row.district_id}  {reach}")
        for reason in site_reasons(result, row.candidate, lang, inputs.allocations, limit=3):
            print(f"        {reason}")
    from .siting.report import siting_summary_lines

    for line in siting_summary_lines(result, inputs.study, outcome.selection, lang):
        print(line)


def cmd_flows(args: argparse.Namespace) -> int:
    from .consistency import run_consistency_checks
    from .flows import load_coefficients, load_flows, load_labels
    from .sankey import load_sankey_diagrams, write_sankey_diagrams

    labels = load_labels()
    flows = load_flows(labels=labels)
    coefficients = load_coefficients(flows)
    checks = run_consistency_checks(flows)
    diagrams = load_sankey_diagrams(flows, labels)

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
    written = write_sankey_diagrams(diagrams, labels, args.out, args.lang)
    print()
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_fetch_osm(args: argparse.Namespace) -> int:
    from .osm import import_osm

    catalog_path = import_osm(args.out, place=args.place, osm_file=args.osm_file, progress=True)
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
    from .layers import validate_catalog

    catalog = load_catalog(args.catalog)
    reports = validate_catalog(catalog, progress=True)
    rows = []
    for r in reports:
        status = "ok" if r.usable else "UNUSABLE"
        remarks = "; ".join(r.problems + r.notes) or "-"
        rows.append((r.name, status, str(r.features), r.geometry or "-", r.crs or "-", r.source, remarks))
    print(f"catalog {catalog.path}")
    _print_table(("layer", "status", "features", "geometry", "CRS", "source", "problems / notes"), rows)
    bad = [r.name for r in reports if not r.usable]
    if bad:
        print(f"\n{len(bad)} unusable layer(s): {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"\nall {len(reports)} layers usable")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except GeoAlmatyError as exc:
        print(f"geo-almaty: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("geo-almaty: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``geo-almaty`` command line. It only puts library functions together and prints.

Errors the user can cause are printed as one line (no traceback) and exit with
status 2; nothing is written when the input is bad.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from . import __version__, settings
from .errors import GeoAlmatyError

log = logging.getLogger("geo_almaty")


def _add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=settings.LANGUAGES, default=settings.DEFAULT_LANGUAGE, help="language of labels (default %(default)s)")


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    """--catalog, --cell-size, --lang and a required --out folder."""
    parser.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
    parser.add_argument("--cell-size", type=float, default=settings.DEFAULT_CELL_SIZE_M, help="grid cell size in m (default %(default)s)")
    _add_lang(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")


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
    score.add_argument("--facility", required=True, help="composting_hub, material_bank, reuse_warehouse, or a profile YAML")
    score.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
    score.add_argument("--cell-size", type=float, default=settings.DEFAULT_CELL_SIZE_M, help="candidate cell size in m (default %(default)s)")
    score.add_argument("--shape", choices=("square", "hex"), default="square", help="candidate cells: square grid or H3 hexagons")
    score.add_argument("--candidates-layer", help="score the features of this catalog layer (plots, vacant buildings) instead of a grid")
    score.add_argument("--top", type=int, help="number of sites to choose (default: the profile's)")
    score.add_argument("--force-ahp", action="store_true", help="accept an AHP matrix with a consistency ratio above 0.1")
    score.add_argument("--all-candidates", action="store_true", help="write every scored candidate to the GeoPackage (default: the best 10 %%)")
    _add_lang(score)
    score.add_argument("--out", type=Path, required=True, help="output folder")
    score.set_defaults(func=cmd_score)

    locate = sub.add_parser("locate", help="how many sites of a facility type, where, how big and serving whom (location-allocation)")
    locate.add_argument("--facility", required=True, help="composting_hub, material_bank, reuse_warehouse, or a profile YAML with a locate section")
    locate.add_argument("--model", choices=("pmedian", "set_cover", "mclp", "fixed_charge"), help="the model (default: the profile's)")
    locate.add_argument("--k", type=int, help="number of new sites (pmedian, mclp)")
    locate.add_argument("--band", help="size band of new sites (default: the profile's)")
    locate.add_argument("--max-haul", type=float, help="maximum haul in m (default: the profile's)")
    locate.add_argument("--gap", type=float, help=f"stop at this proven relative gap (default {settings.DEFAULT_LOCATE_GAP})")
    locate.add_argument("--time-limit", type=float, help=f"stop after this many seconds (default {settings.DEFAULT_LOCATE_TIME_LIMIT:g})")
    locate.add_argument("--single-source", action="store_true", help="serve every demand point from one site (default: splittable)")
    locate.add_argument("--candidate-pool", type=int, help="candidate sites offered to the model (default: the profile's)")
    _add_inputs(locate)
    locate.set_defaults(func=cmd_locate)

    run = sub.add_parser("run", help="the main job: score all facility types and write maps, Sankeys, results and index.html")
    run.add_argument("--catalog", type=Path, help="a user catalog (YAML); default: the embedded Almaty catalog")
    run.add_argument("--out", type=Path, default=Path("almaty_out"), help="output folder (default %(default)s)")
    run.add_argument("--cell-size", type=float, default=settings.DEFAULT_CELL_SIZE_M, help="candidate cell size in m (default %(default)s)")
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
    outputs = run_main_job(args.catalog, args.out, args.lang, cell_size=args.cell_size, progress=True)
    print(outputs.summary.read_text(encoding="utf-8"))
    for path in [outputs.index, *outputs.maps, *outputs.sankeys, *outputs.results, outputs.summary]:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"done in {time.perf_counter() - started:.1f} s; open {outputs.index}")
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    from .atomic import write_text_atomic
    from .locate import locate_facility, locate_markdown, site_table, write_locate_outputs
    from .locate.report import summary_lines
    from .pipeline import load_inputs

    inputs = load_inputs(args.catalog, args.cell_size, profiles=[args.facility], progress=True)
    outcome = locate_facility(inputs, args.facility, model=args.model, k=args.k, band=args.band, max_haul_m=args.max_haul, gap=args.gap,
                              time_limit=args.time_limit, single_source=args.single_source, candidate_pool=args.candidate_pool, progress=True)
    paths = write_locate_outputs(outcome, args.out, args.lang)
    paths.append(write_text_atomic(args.out / f"{outcome.profile.id}_locate.md", locate_markdown({outcome.profile.id: outcome}, args.lang)))
    head = summary_lines(outcome, args.lang)
    print(f"{outcome.profile.title[args.lang]}: {head['answer']}")
    for key in ("min_sites", "model", "gap", "distances", "demand"):
        if key in head:
            print(f"  {head[key]}")
    for row in site_table(outcome, args.lang).itertuples():
        print(f"  {row.site_id:<40} {row.size_band:<10} {row.assigned_t_yr:>10,.0f} t/yr  {row.utilisation:6.1%}  {row.district}")
    for figure, value, unit in outcome.impact.rows():
        print(f"  {figure:<28} {'—' if value is None else f'{value:,.1f}':>14} {unit}")
    for path in paths:
        print(f"wrote {path}")
    return 0


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
    from .pipeline import load_inputs, score_facility, write_facility_outputs

    inputs = load_inputs(args.catalog, args.cell_size, profiles=[args.facility], force_ahp=args.force_ahp, progress=True)
    outcome = score_facility(inputs, args.facility, shape=args.shape, candidates_layer=args.candidates_layer, top_n=args.top,
                             force_ahp=args.force_ahp, progress=True)
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

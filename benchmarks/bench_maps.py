"""Size and render time of every page ``geo-almaty run`` writes, on a desktop and on a slowed phone.

    python benchmarks/bench_maps.py                 # runs the main job into a temporary folder first (~20 s)
    python benchmarks/bench_maps.py --out almaty_out --repeat 5

Each page is opened from ``file://`` in headless Debian Chromium with every non-file request aborted
(offline), as a desktop (1440x900) and as a phone (390x844, touch, CPU slowed 4x with the DevTools
``Emulation.setCPUThrottlingRate``). The time is from navigation to the page's first complete drawing:
maps: the shell has laid out and fitted the map (``html[data-ga-ready]``); the Sankey page: its first
SVG diagram is in the DOM; index and summary: the ``load`` event. The obvious approach runs alongside:
the city Sankey as a plotly page with plotly.js inlined (what the tool wrote before), timed to its first
``.sankey-node``. The median of ``--repeat`` runs is printed; the machine is shared, so compare ratios.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS  # noqa: E402

#: Size budgets (bytes) from issue 12.
CITIZEN_BUDGET = 2_000_000
PAGE_BUDGET = 5_000_000


def build(out: Path | None) -> tuple[Path, dict[str, Path]]:
    """Run the main job (unless ``out`` holds one) and write the plotly Sankey beside it for comparison."""
    from geo_almaty.flows import load_flows, load_labels
    from geo_almaty.sankey import load_sankey_diagrams, sankey_figure

    if out is None:
        from geo_almaty.pipeline import run_main_job

        out = Path(tempfile.mkdtemp(prefix="bench_maps_"))
        started = time.perf_counter()
        run_main_job(None, out, "ru")
        print(f"main job: {time.perf_counter() - started:.1f} s into {out}")
    labels = load_labels()
    city = load_sankey_diagrams(load_flows(labels=labels), labels)["city"]
    plotly_page = out / "bench_sankey_plotly.html"
    plotly_page.write_text(sankey_figure(city, labels, "ru").to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
    pages = {"index": out / "index.html", "summary": out / "summary.html", "planner": out / "planner_map.html",
             "citizen": out / "citizen_map.html", "sankey (SVG, all diagrams)": out / "flows" / "sankey.html",
             "sankey (plotly, one diagram)": plotly_page}
    return out, pages


READY = {"planner": "html[data-ga-ready]", "citizen": "html[data-ga-ready]", "sankey (SVG, all diagrams)": "svg.ga-sankey-svg",
         "sankey (plotly, one diagram)": ".sankey-node"}


def time_page(browser, path: Path, selector: str | None, viewport: str, rate: float) -> float:
    """Seconds from navigation to ``selector`` (or the load event), offline, CPU slowed ``rate`` times."""
    context = browser.new_context(**VIEWPORTS[viewport])
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "blob:")) else r.abort())
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
    started = time.perf_counter()
    page.goto(path.as_uri(), wait_until="commit", timeout=120_000)
    if selector:
        page.wait_for_selector(selector, state="attached", timeout=120_000)
    else:
        page.wait_for_load_state("load", timeout=120_000)
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="an existing output folder of geo-almaty run (default: run it now)")
    parser.add_argument("--repeat", type=int, default=3, help="timed loads per page and profile (median printed)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out, pages = build(args.out)
    profiles = (("desktop", "desktop", 1.0), ("phone 4x", "phone", 4.0))
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for name, path in pages.items():
            times = {}
            for label, viewport, rate in profiles:
                runs = [time_page(browser, path, READY.get(name), viewport, rate) for _ in range(args.repeat)]
                times[label] = statistics.median(runs)
            rows.append((name, path.stat().st_size, times))
        browser.close()
    print(f"\n{'page':<30} {'size MB':>8} {'desktop s':>10} {'phone 4x s':>11}  budget")
    for name, size, times in rows:
        budget = CITIZEN_BUDGET if name == "citizen" else PAGE_BUDGET
        mark = "ok" if size <= budget or name.startswith("sankey (plotly") else "OVER"
        print(f"{name:<30} {size / 1e6:>8.2f} {times['desktop']:>10.2f} {times['phone 4x']:>11.2f}  {mark} (≤ {budget / 1e6:.0f} MB)")
    svg = next(t for n, _, t in rows if n.startswith("sankey (SVG"))
    plotly = next(t for n, _, t in rows if n.startswith("sankey (plotly"))
    print(f"\nfirst Sankey drawn on the 4x phone: SVG page {svg['phone 4x']:.2f} s vs plotly page {plotly['phone 4x']:.2f} s "
          f"({plotly['phone 4x'] / svg['phone 4x']:.0f}x faster); the SVG page holds all four diagrams")
    return 0


if __name__ == "__main__":
    sys.exit(main())

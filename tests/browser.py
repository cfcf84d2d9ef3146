"""Helpers for the real-browser tests: headless Chromium (Debian's, not a playwright download), offline pages.

Every page is opened from ``file://`` in a context that aborts every request that is
neither ``file:`` nor ``data:``, so a test proves the page works with no network.
Basemap tiles fail as expected; any other aborted request, uncaught exception or
console error is recorded and reported by :meth:`OfflinePage.assert_clean`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: Debian's Chromium; ``GEO_ALMATY_CHROMIUM`` may point elsewhere.
CHROMIUM = Path(os.environ.get("GEO_ALMATY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: Screenshots land here (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
#: A slippy-map tile: …/{z}/{x}/{y}[@2x][.png] or ArcGIS's …/tile/{z}/{y}/{x}.
TILE_URL = re.compile(r"^https?://[^?#]+/\d+/\d+/\d+(?:@\d+x)?(?:\.(?:png|jpe?g|webp|pbf))?(?:[?#].*)?$")
#: Browser contexts the maps are checked in: a desktop and a touch phone.
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1},
}

#: Page-side helpers. ``gaMap()`` is the page's main Leaflet map (the minimap's map lives in a control).
PAGE_JS = r"""
window.gaTest = {
  map: function () {
    for (var k in window) {
      try {
        var v = window[k];
        if (v && window.L && v instanceof L.Map && !v.getContainer().closest('.leaflet-control')) { return v; }
      } catch (e) { /* cross-origin or getter errors */ }
    }
    return null;
  },
  inMain: function (el) { return !el.closest('.leaflet-control'); },
  count: function (selector) {
    return Array.prototype.filter.call(document.querySelectorAll(selector), gaTest.inMain).length;
  },
  isPin: function (l) { return l instanceof L.Marker && l._icon && l._icon.tagName === 'IMG'; },
  markerLatLngs: function () {
    var out = [];
    gaTest.map().eachLayer(function (l) {
      if (gaTest.isPin(l)) { out.push([l.getLatLng().lat, l.getLatLng().lng]); }
    });
    return out;
  },
  tagMarkerNear: function (lat, lon, attr) {
    var best = null, bestD = Infinity;
    gaTest.map().eachLayer(function (l) {
      if (gaTest.isPin(l)) {
        var d = Math.hypot(l.getLatLng().lat - lat, l.getLatLng().lng - lon);
        if (d < bestD) { bestD = d; best = l; }
      }
    });
    if (!best) { return null; }
    document.querySelectorAll('[' + attr + ']').forEach(function (e) { e.removeAttribute(attr); });
    best._icon.setAttribute(attr, '1');
    return bestD;
  },
  unobstructed: function (attr) {
    var el = document.querySelector('[' + attr + ']');
    if (!el) { return false; }
    var r = el.getBoundingClientRect();
    var hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 3);
    return hit === el;
  },
  containerPoint: function (lat, lon) {
    var m = gaTest.map(), p = m.latLngToContainerPoint([lat, lon]), r = m.getContainer().getBoundingClientRect();
    return [r.left + p.x, r.top + p.y];
  },
  box: function (el) { var r = el.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; },
  shown: function (el) { var r = el.getBoundingClientRect(); return el.offsetParent !== null && r.width > 0 && r.height > 0; },
  overlap: function (a, b) { return a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5; },
  /* Points of a grid over el where something else is drawn on top (el covered by a control or panel). */
  covered: function (el, n, ok) {
    var r = el.getBoundingClientRect(), out = [];
    for (var i = 0; i < n; i++) {
      for (var j = 0; j < n; j++) {
        var x = r.left + (i + 0.5) * r.width / n, y = r.top + (j + 0.5) * r.height / n;
        if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) { out.push('off-screen ' + Math.round(x) + ',' + Math.round(y)); continue; }
        var hit = document.elementFromPoint(x, y);
        if (!hit || !(el.contains(hit) || (ok && hit.closest(ok)))) { out.push((hit ? hit.tagName + '.' + (hit.className.baseVal ?? hit.className) : 'nothing') + ' at ' + Math.round(x) + ',' + Math.round(y)); }
      }
    }
    return out;
  },
  /* Panels and controls a pin must not be under. */
  panels: function () {
    return Array.prototype.filter.call(document.querySelectorAll('.leaflet-control, #ga-sheet, #ga-info'), gaTest.shown);
  },
  /* Problems with the pins of a facility: off the map, or under a panel or control. */
  pinProblems: function (facility) {
    var map = gaTest.map(), c = gaTest.box(map.getContainer()), panels = gaTest.panels().map(gaTest.box), out = [];
    (GA.sites[facility] || []).forEach(function (m, i) {
      if (!m || !map.hasLayer(m)) { out.push('pin ' + (i + 1) + ' not on the map'); return; }
      var b = gaTest.box(m._icon);
      if (b.left < c.left || b.right > c.right || b.top < c.top || b.bottom > c.bottom) { out.push('pin ' + (i + 1) + ' outside the map ' + JSON.stringify(b)); }
      panels.forEach(function (p) { if (gaTest.overlap(b, p)) { out.push('pin ' + (i + 1) + ' under a panel ' + JSON.stringify(p)); } });
    });
    return out;
  }
};
"""


@dataclass
class OfflinePage:
    """A page opened offline, with everything that went wrong on it."""

    page: object
    url: str
    viewport: str = "desktop"
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Uncaught exceptions, dialogs, non-tile network requests, console errors other than aborted tiles."""
        out = [f"uncaught exception: {e}" for e in self.page_errors]
        out += [f"dialog opened: {d}" for d in self.dialogs]
        out += [f"non-tile request (the page needs the network): {u}" for u in self.aborted if not TILE_URL.match(u)]
        aborted = set(self.aborted)
        for text, url in self.console_errors:
            if text.startswith("Failed to load resource") and url in aborted and TILE_URL.match(url):
                continue
            out.append(f"console error: {text} ({url or 'no url'})")
        return out

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, f"{self.url}:\n" + "\n".join(problems[:20])

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def count(self, selector: str) -> int:
        """Elements matching ``selector`` on the main map (not in the minimap or other controls)."""
        return self.page.evaluate("s => gaTest.count(s)", selector)

    def settle(self) -> None:
        """Wait until the map has finished panning (a popup's auto-pan) and zooming, and painted."""
        self.page.wait_for_function("() => { const m = gaTest.map(); return !m || ((!m._panAnim || !m._panAnim._inProgress) && !m._animatingZoom); }")
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), animations="disabled")
        return path

    def tag_clear_marker(self, lonlats: list[tuple[float, float]], attr: str = "data-test-site") -> int:
        """Tag (``attr``) the first marker at one of ``lonlats`` that no other element covers; return its index."""
        for i, (lon, lat) in enumerate(lonlats):
            distance = self.page.evaluate("([lat, lon, attr]) => gaTest.tagMarkerNear(lat, lon, attr)", [lat, lon, attr])
            assert distance is not None and distance < 1e-5, f"no marker at site {i} ({lat:.5f}, {lon:.5f})"
            if self.page.evaluate("attr => gaTest.unobstructed(attr)", attr):
                return i
        raise AssertionError("every marker is covered by another element")

    def popup(self):
        """The open popup's content: Leaflet's popup on desktops, the popup sheet on phones."""
        return self.page.locator(".leaflet-popup-content:visible, #ga-info:not([hidden]) .ga-info-body").first

    def open_tagged_popup(self, screenshot: str, attr: str = "data-test-site"):
        """Click the marker tagged by :meth:`tag_clear_marker`, wait for its popup, screenshot it; return the popup."""
        self.page.locator(f"[{attr}]").click()
        popup = self.popup()
        popup.wait_for(state="visible", timeout=5_000)
        self.settle()
        self.screenshot(screenshot)
        return popup

    def popup_cover(self) -> list[str]:
        """Where something is drawn over the open popup (its whole box, close button included), once auto-pan has ended."""
        self.settle()
        selector, ok = (".leaflet-popup-content-wrapper", ".leaflet-popup") if self.viewport == "desktop" else ("#ga-info", "#ga-info")
        return self.page.evaluate("([s, ok]) => gaTest.covered(document.querySelector(s), 7, ok)", [selector, ok])

    def set_language(self, lang: str) -> None:
        """Click the language button a user can reach (the panel's, or the popup sheet's on a phone)."""
        self.page.evaluate("""l => {
            document.querySelectorAll('[data-test-lang]').forEach(e => e.removeAttribute('data-test-lang'));
            const b = Array.from(document.querySelectorAll(`button[data-set-lang="${l}"]`)).find(b => {
                const r = b.getBoundingClientRect();
                return r.width > 0 && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === b; });
            if (b) { b.setAttribute('data-test-lang', '1'); } }""", lang)
        self.page.locator("[data-test-lang]").click()
        assert self.page.evaluate("() => document.documentElement.getAttribute('data-lang')") == lang


def launch(playwright):
    """Headless Debian Chromium with the flags that keep it quiet and offline."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


class open_offline:
    """``with open_offline(browser, path) as p:`` — a fresh context and page on ``file://path``, network aborted."""

    def __init__(self, browser, path: Path, *, wait_for: str | None = "html[data-ga-ready]", viewport: str = "desktop", query: str = "") -> None:
        self.browser, self.path, self.wait_for, self.viewport, self.query = browser, Path(path), wait_for, viewport, query

    def __enter__(self) -> OfflinePage:
        self.context = self.browser.new_context(service_workers="block", **VIEWPORTS[self.viewport])
        page = self.context.new_page()
        page.set_default_timeout(10_000)
        result = OfflinePage(page, self.path.as_uri() + self.query, self.viewport)

        def route(r):
            url = r.request.url
            if url.startswith(("file:", "data:", "blob:")):
                r.continue_()
            else:
                result.aborted.append(url)
                r.abort()

        def dialog(d):
            result.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        def console(msg):
            if msg.type == "error":
                result.console_errors.append((msg.text, (msg.location or {}).get("url", "")))

        self.context.route("**/*", route)
        page.on("pageerror", lambda e: result.page_errors.append(str(e)))
        page.on("console", console)
        page.on("dialog", dialog)
        page.add_init_script(PAGE_JS)
        page.goto(result.url, wait_until="load")
        if self.wait_for:
            page.wait_for_selector(self.wait_for, state="attached", timeout=15_000)
        return result

    def __exit__(self, *exc) -> None:
        self.context.close()

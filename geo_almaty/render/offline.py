"""Make exported HTML self-contained: inline every script, stylesheet and image.

Leaflet's JS, CSS and images come from the ``xstatic-leaflet`` package; folium's
plugins (fullscreen, measure, minimap) from ``folium-offline``, which packages the
exact files folium links to. Leaflet's images (layer-control icon, marker pins)
become data URIs. Anything a map links to that no package provides raises
:class:`OfflineAssetError`, so a page can never silently depend on a CDN; only
basemap tiles need a network.
"""
from __future__ import annotations

import base64
import logging
import re
from functools import lru_cache
from pathlib import Path

from ..errors import OfflineAssetError

log = logging.getLogger(__name__)

_SCRIPT = re.compile(r'<script\s+src="(https?://[^"]+)"\s*>\s*</script>')
_STYLESHEET = re.compile(r'<link\s+rel="stylesheet"\s+href="(https?://[^"]+)"\s*/?>')
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(?!data:|#)([^'\")]+)\1\s*\)")  # not data URIs nor #fragments (old IE behaviours)


@lru_cache(maxsize=1)
def leaflet_dir() -> Path:
    """The folder of Leaflet's dist files inside ``xstatic-leaflet``."""
    import xstatic.pkg.leaflet as xleaflet

    return Path(xleaflet.BASE_DIR)


def data_uri(path: Path) -> str:
    """A file as a base64 data URI (PNG, SVG)."""
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


@lru_cache(maxsize=None)
def leaflet_image(name: str) -> str:
    """One of Leaflet's images (``marker-icon.png``, ``layers.png`` …) as a data URI."""
    path = leaflet_dir() / "images" / name
    if not path.is_file():
        raise OfflineAssetError(f"Leaflet image {name} is not in xstatic-leaflet ({path})")
    return data_uri(path)


@lru_cache(maxsize=1)
def _plugin_resources() -> dict[str, str]:
    from offlinefolium.elements import _res  # folium-offline keeps the files keyed by folium's URLs

    return _res


def asset_text(url: str) -> str:
    """The content of the script or stylesheet folium links at ``url``, from an installed package."""
    name = url.rsplit("/", 1)[-1]
    if name in ("leaflet.js", "leaflet.css") and "leaflet@" in url:
        text = (leaflet_dir() / name).read_text(encoding="utf-8")
        return _inline_css_images(text, leaflet_image) if name.endswith(".css") else text
    resources = _plugin_resources()
    if url in resources:
        text = resources[url]
        return _inline_css_images(text, _unknown_image) if name.endswith(".css") else text
    raise OfflineAssetError(f"no installed package provides {url}; add it or drop the element that needs it")


def _inline_css_images(css: str, lookup) -> str:
    def replace(match: re.Match) -> str:
        return f'url("{lookup(match.group(2).rsplit("/", 1)[-1])}")'

    return _CSS_URL.sub(replace, css)


def _unknown_image(name: str) -> str:
    # Only the minimap's collapse toggle (disabled in our maps) refers to an image no package ships.
    log.debug("CSS image %s has no offline copy; replaced by an empty image", name)
    return "data:,"


def icon_default_script() -> str:
    """Point Leaflet's default marker icon at inlined images (its path detection cannot read data URIs)."""
    return (
        "<script>L.Icon.Default.imagePath='';L.Icon.Default.mergeOptions({"
        f"iconUrl:'{leaflet_image('marker-icon.png')}',"
        f"iconRetinaUrl:'{leaflet_image('marker-icon-2x.png')}',"
        f"shadowUrl:'{leaflet_image('marker-shadow.png')}'}});</script>"
    )


def inline_assets(html: str) -> str:
    """Replace every linked script and stylesheet in ``html`` by its inlined content."""
    def script(match: re.Match) -> str:
        url = match.group(1)
        body = asset_text(url).replace("</script", "<\\/script")
        tag = f"<script>{body}</script>"
        return tag + icon_default_script() if url.rsplit("/", 1)[-1] == "leaflet.js" else tag

    def stylesheet(match: re.Match) -> str:
        return f"<style>{asset_text(match.group(1))}</style>"

    html = _SCRIPT.sub(script, html)
    html = _STYLESHEET.sub(stylesheet, html)
    leftover = re.search(r'<(?:script|link)[^>]+(?:src|href)="https?://[^"]+"', html)
    if leftover:
        raise OfflineAssetError(f"the page still links {leftover.group(0)[:120]}")
    return html

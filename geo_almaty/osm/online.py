"""The online path: a thin wrapper that fetches a place through osmnx and converts it like a file."""
from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import osmnx as ox
import requests

from ..errors import OSMError
from .convert import features_to_layers
from .mapping import OSMMapping, load_mapping
from .readers import _one_line

log = logging.getLogger(__name__)


def fetch_osm(place: str, mapping: OSMMapping | None = None, *, progress: bool = False) -> tuple[dict[str, gpd.GeoDataFrame], nx.MultiDiGraph]:
    """Download the catalog layers and the drive graph of ``place`` (e.g. "Almaty, Kazakhstan").

    Geocodes the place once (Nominatim), then asks Overpass for the mapped
    features and osmnx's "drive" network inside it. Needs network access.
    """
    mapping = mapping or load_mapping()
    try:
        area = ox.geocode_to_gdf(place).geometry.iloc[0]
        features = ox.features_from_polygon(area, mapping.query_tags())
        graph = ox.graph_from_polygon(area, network_type="drive", retain_all=True)
    except ox._errors.InsufficientResponseError as exc:
        raise OSMError(f"OpenStreetMap returned no data for '{place}' ({_one_line(exc)})",
                       expected="a place Nominatim knows, e.g. 'Almaty, Kazakhstan'") from None
    except (TypeError, ValueError) as exc:
        raise OSMError(f"cannot use '{place}' ({_one_line(exc)})", expected="a place that geocodes to an area, e.g. 'Almaty, Kazakhstan'") from None
    except (ox._errors.ResponseStatusCodeError, requests.RequestException) as exc:
        raise OSMError(f"cannot download from OpenStreetMap ({_one_line(exc)})", expected="network access to Nominatim and Overpass, or an OSM file") from None
    layers = features_to_layers(features, mapping, area=area, progress=progress)
    if not layers:
        raise OSMError(f"no object in '{place}' fits a catalog layer", expected="a place in or around Almaty")
    return layers, graph

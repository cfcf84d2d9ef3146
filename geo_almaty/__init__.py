"""geo_almaty: a geospatial planning tool for the circular economy of Almaty.

Stages, one module each: load (:mod:`flows`, :mod:`layers`), prepare
(:mod:`allocate`), candidates, score, select, render and export. The CLI
(``geo-almaty``) and the notebooks only put these functions together.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CatalogError,
    FlowDataError,
    GeoAlmatyError,
    InputError,
    LayerError,
    OSMError,
    ProfileError,
    RasterError,
    RecipeError,
)
from .settings import ANALYSIS_CRS  # noqa: E402

__all__ = [
    "ANALYSIS_CRS",
    "CatalogError",
    "FlowDataError",
    "GeoAlmatyError",
    "InputError",
    "LayerError",
    "OSMError",
    "ProfileError",
    "RasterError",
    "RecipeError",
    "__version__",
]

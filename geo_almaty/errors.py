"""Errors, defined in one place.

Every error a user can cause by bad input is a :class:`GeoAlmatyError`. Its
message is one line that names the file, the layer and the column involved and
says what was expected. The CLI prints that line and exits with status 2; it
never shows a traceback for these.
"""
from __future__ import annotations

from pathlib import Path


class GeoAlmatyError(Exception):
    """Base class of every error geo_almaty raises on purpose."""


class InputError(GeoAlmatyError):
    """Bad input: a file, a layer, a column or a value is not what was expected.

    Parameters
    ----------
    problem:
        What is wrong, in plain words.
    file, layer, column, row:
        Where it is wrong; any may be omitted.
    expected:
        What would have been right.
    """

    kind = "input"

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        layer: str | None = None,
        column: str | None = None,
        row: object | None = None,
        expected: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.layer = layer
        self.column = column
        self.row = row
        self.expected = expected
        super().__init__(self._format())

    def short(self) -> str:
        """The message without the file and layer (for tables that already show them)."""
        text = f"column '{self.column}': {self.problem}" if self.column else self.problem
        if self.expected:
            text += f" (expected {self.expected})"
        return " ".join(text.split())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.layer:
            where.append(f"layer '{self.layer}'")
        if self.column:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = ", ".join(where)
        text = f"{text}: {self.problem}" if text else self.problem
        if self.expected:
            text += f" (expected {self.expected})"
        # One line, always: data values may contain newlines.
        return " ".join(text.split())


class FlowDataError(InputError):
    """A flow table row is missing, negative, has an unknown unit or an unknown node."""

    kind = "flow data"


class CatalogError(InputError):
    """A layer catalog does not validate against its schema or names unknown layers."""

    kind = "catalog"


class LayerError(InputError):
    """A spatial layer cannot be used: missing, no CRS, wrong place, wrong geometry, bad values."""

    kind = "layer"


class RasterError(InputError):
    """A raster cannot be used: no CRS, does not cover the study area, unreadable."""

    kind = "raster"


class ProfileError(InputError):
    """A facility profile is invalid: unknown layer or criterion, negative weight, inconsistent AHP."""

    kind = "profile"


class DataUnavailableError(ProfileError):
    """A criterion needs a layer or raster the catalog has no data for (optional criteria are then skipped)."""


class ScenarioError(InputError):
    """A scenario (``scenarios/*.yaml``) is invalid: unknown profile, criterion, flow row, allocation, rule or layer."""

    kind = "scenario"


class RecipeError(InputError):
    """A map recipe is invalid."""

    kind = "recipe"


class OSMError(InputError):
    """An OpenStreetMap extract cannot be read or fetched."""

    kind = "osm"


class LocateError(InputError):
    """A location-allocation cannot be solved as asked: supply out of reach, capacity below supply, bad settings."""

    kind = "locate"


class NetworkError(InputError):
    """A road network cannot be built: no connected roads, a GraphML without lengths, a geographic CRS."""

    kind = "network"


class OfflineAssetError(GeoAlmatyError):
    """A map refers to a web asset (script, stylesheet, image) that no installed package provides offline."""


class OutputError(InputError):
    """An output cannot be written where asked: ``--out`` is a file, exists, or its folder is not writable."""

    kind = "output"


class MemoryBudgetError(InputError):
    """The work would need more memory than the budget allows; the message gives the estimate and a remedy."""

    kind = "memory"


class SelectionError(InputError):
    """No site can be chosen: no candidate, every candidate excluded, or a count of sites below 1."""

    kind = "selection"

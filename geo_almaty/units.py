"""Units of the flow tables and their normalisation.

Every mass flow is normalised to t/yr, every emission to t of its gas per year,
shares to fractions (0-1), areas to hectares and populations to persons. The
table below holds unit *definitions* (1 kt = 1000 t), not report figures.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitDef:
    """A unit as printed, the canonical unit it normalises to, and the factor between them."""

    printed: str
    canonical: str
    factor: float


_UNITS: tuple[UnitDef, ...] = (
    UnitDef("t/yr", "t/yr", 1.0),
    UnitDef("kt/yr", "t/yr", 1e3),
    UnitDef("Mt/yr", "t/yr", 1e6),
    UnitDef("t/month", "t/yr", 12.0),
    # a day's figure as a year's: 365 days (waste generated every day of the year)
    UnitDef("t/day", "t/yr", 365.0),
    UnitDef("t", "t", 1.0),
    UnitDef("kt", "t", 1e3),
    UnitDef("Mt", "t", 1e6),
    UnitDef("t CO2e/yr", "t CO2e/yr", 1.0),
    UnitDef("kt CO2e/yr", "t CO2e/yr", 1e3),
    UnitDef("Mt CO2e/yr", "t CO2e/yr", 1e6),
    # CO2 is CO2-equivalent by definition (GWP 1), so both normalise to t CO2e/yr.
    UnitDef("t CO2/yr", "t CO2e/yr", 1.0),
    UnitDef("kt CO2/yr", "t CO2e/yr", 1e3),
    UnitDef("Mt CO2/yr", "t CO2e/yr", 1e6),
    UnitDef("t CH4/yr", "t CH4/yr", 1.0),
    UnitDef("kt CH4/yr", "t CH4/yr", 1e3),
    UnitDef("%", "fraction", 0.01),
    UnitDef("ha", "ha", 1.0),
    UnitDef("kha", "ha", 1e3),
    UnitDef("Mha", "ha", 1e6),
    UnitDef("km2", "ha", 100.0),
    UnitDef("m2/yr", "m2/yr", 1.0),
    UnitDef("M m2/yr", "m2/yr", 1e6),
    UnitDef("persons", "persons", 1.0),
    UnitDef("M persons", "persons", 1e6),
    UnitDef("count", "count", 1.0),
    UnitDef("m3/yr", "m3/yr", 1.0),
    UnitDef("M m3/yr", "m3/yr", 1e6),
)

UNITS: dict[str, UnitDef] = {u.printed: u for u in _UNITS}


def known_units() -> list[str]:
    """All unit strings a flow table may use."""
    return list(UNITS)


def canonical_unit(unit: str) -> str:
    """The canonical unit ``unit`` normalises to (raises ``KeyError`` for an unknown unit)."""
    return UNITS[unit].canonical


def to_canonical(value: float, unit: str) -> float:
    """Convert ``value`` given in ``unit`` to its canonical unit (raises ``KeyError``)."""
    return value * UNITS[unit].factor

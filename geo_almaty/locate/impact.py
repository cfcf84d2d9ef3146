"""What a solution does to haulage and to the climate, each coefficient from the report's rows or a cited parameter.

- tonne-km and the average haul of the served supply (the model's distances);
- transport CO2e: tonne-km × ``transport_co2e_per_tkm`` (``data/parameters.yaml``, cited);
- the haul it replaces: the same tonnes to the nearest landfill (``waste_facilities``
  class ``landfill``) today, when the catalog has one;
- landfill methane avoided for organics diverted: served t × ``ch4_per_t_organic_landfilled``
  (35 000 t CH4 / 600 000 t, L2446-2459), and its CO2e via ``co2e_per_t_organic_landfilled``
  (879 000 t CO2e / 600 000 t, L2461-2462) — the same methane in two units, never added;
- CO2e avoided by recycling or reuse: served t × ``co2e_avoided_per_t_recycled``
  (173 000 t CO2e / 113 000 t, L499-505), for flows whose profile says so;
- the net effect: avoided CO2e − (haul CO2e − replaced haul CO2e).

Each flow counts once: a flow's profile entry names one impact (landfill_methane,
recycling or none). Process emissions of the facilities themselves are not in the
report and are not estimated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..apportion import KG_PER_T
from ..flows import Coefficient
from ..parameters import Parameter


@dataclass
class Impact:
    """Figures for one solution (t/yr, t·km/yr, t CO2e/yr, t CH4/yr). None where the data to compute it is missing."""

    served_t: float
    tkm: float
    average_haul_km: float
    transport_co2e_t: float
    replaced_tkm: float | None
    replaced_co2e_t: float | None
    ch4_avoided_t: float
    ch4_avoided_co2e_t: float
    recycling_avoided_co2e_t: float
    net_co2e_t: float                  #: positive = emissions avoided
    coefficients: dict[str, str]       #: id -> "value unit (rows)" of every coefficient used
    notes: list[str]                   #: what the figures leave out: ids ``locate_note_<key>`` in locale/messages.yaml

    def rows(self) -> list[tuple[str, float | None, str]]:
        """(figure id, value, unit) in reporting order."""
        return [
            ("served", self.served_t, "t/yr"),
            ("tonne_km", self.tkm, "t·km/yr"),
            ("average_haul", self.average_haul_km, "km"),
            ("transport_co2e", self.transport_co2e_t, "t CO2e/yr"),
            ("replaced_tonne_km", self.replaced_tkm, "t·km/yr"),
            ("replaced_transport_co2e", self.replaced_co2e_t, "t CO2e/yr"),
            ("landfill_ch4_avoided", self.ch4_avoided_t, "t CH4/yr"),
            ("landfill_ch4_avoided_co2e", self.ch4_avoided_co2e_t, "t CO2e/yr"),
            ("recycling_co2e_avoided", self.recycling_avoided_co2e_t, "t CO2e/yr"),
            ("net_co2e_avoided", self.net_co2e_t, "t CO2e/yr"),
        ]


def impact(served_kg_by_flow: dict[str, int], impact_of_flow: dict[str, str], tkm: float, replaced_tkm: float | None,
           coefficients: dict[str, Coefficient], parameters: dict[str, Parameter]) -> Impact:
    """The impact figures from served tonnes per flow and the haul."""
    served_t = sum(served_kg_by_flow.values()) / KG_PER_T
    factor = parameters["transport_co2e_per_tkm"]
    transport = tkm * factor.value / KG_PER_T
    replaced = replaced_tkm * factor.value / KG_PER_T if replaced_tkm is not None else None
    organic_t = sum(kg for f, kg in served_kg_by_flow.items() if impact_of_flow[f] == "landfill_methane") / KG_PER_T
    recycled_t = sum(kg for f, kg in served_kg_by_flow.items() if impact_of_flow[f] == "recycling") / KG_PER_T
    ch4 = coefficients["ch4_per_t_organic_landfilled"]
    ch4_co2e = coefficients["co2e_per_t_organic_landfilled"]
    recycling = coefficients["co2e_avoided_per_t_recycled"]
    avoided = organic_t * ch4_co2e.value + recycled_t * recycling.value
    net = avoided - (transport - (replaced or 0.0))
    used = {c.id: f"{c.value:.4g} {c.unit} ({' / '.join(c.rows)})" for c in (ch4, ch4_co2e, recycling)}
    used[factor.id] = f"{factor.value:.4g} {factor.unit} ({factor.source.split(':')[0]}, {factor.year})"
    notes = []
    if replaced_tkm is None:
        notes.append("no_landfill")
    if any(v == "none" for v in impact_of_flow.values()):
        notes.append("no_factor")
    notes.append("process")
    return Impact(served_t, tkm, tkm / served_t if served_t else 0.0, transport, replaced_tkm, replaced, organic_t * ch4.value,
                  organic_t * ch4_co2e.value, recycled_t * recycling.value, net, used, notes)


def tonne_km(kg: np.ndarray, km: np.ndarray) -> float:
    """Sum of tonnes × km."""
    return float((np.asarray(kg, dtype=np.float64) / KG_PER_T) @ np.asarray(km, dtype=np.float64))

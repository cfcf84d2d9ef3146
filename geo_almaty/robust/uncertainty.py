"""Ranges of the report's flows and coefficients (``data/uncertainty.yaml``) and samples drawn from them.

Each range is keyed by a row id of ``data/flows.csv`` or a coefficient id of
``data/coefficients.yaml``, says why the figure is uncertain (``reason``) and
explains itself (``note``, with report lines; a literature range names its
``source``). Values are converted to canonical units (t/yr for mass flows) on
loading, like the rows themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import settings
from ..config import load_validated_yaml
from ..errors import FlowDataError
from ..flows import coefficients_path, evaluate, load_coefficients
from ..units import UNITS


@dataclass(frozen=True)
class Range:
    """The plausible range of one flow row or coefficient, in canonical units."""

    id: str
    kind: str  # "flow" or "coefficient"
    value: float
    low: float
    high: float
    unit: str
    distribution: str
    reason: str
    note: str
    source: str | None = None

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (float64): triangular with its mode at ``value``, or uniform."""
        if self.high <= self.low:
            return np.full(n, self.value)
        if self.distribution == "uniform":
            return rng.uniform(self.low, self.high, n)
        return rng.triangular(self.low, self.value, self.high, n)


@dataclass(frozen=True)
class Uncertainty:
    """Every range of ``data/uncertainty.yaml``: ``flows`` by row id, ``coefficients`` by coefficient id."""

    path: Path
    flows: dict[str, Range]
    coefficients: dict[str, Range]


def uncertainty_path() -> Path:
    """Default range definitions."""
    return settings.data_dir() / "uncertainty.yaml"


def load_uncertainty(flows: pd.DataFrame, path: str | Path | None = None) -> Uncertainty:
    """Read and check ``data/uncertainty.yaml`` against the flow table and the coefficients.

    Raises :class:`FlowDataError` (one line) for an unknown row or coefficient id, a
    range that does not contain the reported value of a triangular distribution,
    or ``low > high``.
    """
    path = Path(path) if path else uncertainty_path()
    document = load_validated_yaml(path, "uncertainty", FlowDataError)
    coefficients = load_coefficients(flows)
    flow_ranges = {}
    for row_id, spec in (document.get("flows") or {}).items():
        if row_id not in flows.index:
            raise FlowDataError(f"no row with id '{row_id}' in the flow table", file=path, column=f"flows/{row_id}",
                                expected="a row id of data/flows.csv")
        row = flows.loc[row_id]
        factor = UNITS[row["unit"]].factor
        flow_ranges[row_id] = _range(row_id, "flow", float(row["value_canonical"]), str(row["canonical_unit"]), spec, factor, path)
    coefficient_ranges = {}
    for cid, spec in (document.get("coefficients") or {}).items():
        if cid not in coefficients:
            raise FlowDataError(f"no coefficient '{cid}'", file=path, column=f"coefficients/{cid}",
                                expected="a coefficient of data/coefficients.yaml: " + ", ".join(coefficients))
        c = coefficients[cid]
        coefficient_ranges[cid] = _range(cid, "coefficient", c.value, c.unit, spec, 1.0, path)
    return Uncertainty(path, flow_ranges, coefficient_ranges)


def _range(key: str, kind: str, value: float, unit: str, spec: dict, factor: float, path: Path) -> Range:
    where = f"{'flows' if kind == 'flow' else 'coefficients'}/{key}"
    if "relative" in spec:
        rel = spec["relative"]
        below, above = (rel, rel) if isinstance(rel, (int, float)) else (rel["below"], rel["above"])
        if below > 1:
            raise FlowDataError(f"relative range below the value of {below:g}", file=path, column=f"{where}/relative",
                                expected="a share of at most 1 below the value (flows are never negative)")
        low, high = value * (1 - below), value * (1 + above)
    else:
        low, high = float(spec["low"]) * factor, float(spec["high"]) * factor
    if low > high:
        raise FlowDataError(f"low {low:g} above high {high:g}", file=path, column=where, expected="low <= high")
    distribution = spec.get("distribution", "triangular")
    tolerance = 1e-9 * max(abs(value), 1.0)
    if distribution == "triangular" and not low - tolerance <= value <= high + tolerance:
        raise FlowDataError(f"the value {value:g} {unit} lies outside the range {low:g}-{high:g}", file=path, column=where,
                            expected="a range containing the reported value, or distribution: uniform")
    return Range(key, kind, value, low, high, unit, distribution, spec["reason"], " ".join(spec["note"].split()), spec.get("source"))


def sample_flows(uncertainty: Uncertainty, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` draws of every uncertain flow row (canonical units), in the file's order."""
    return {row_id: r.sample(rng, n) for row_id, r in uncertainty.flows.items()}


def sample_coefficients(uncertainty: Uncertainty, flows: pd.DataFrame, flow_samples: dict[str, np.ndarray],
                        rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` draws of every coefficient of ``data/coefficients.yaml``.

    A coefficient with a range of its own (a literature range) is drawn from it;
    any other is computed from its rows with the sampled flows (``flow_samples``),
    so it varies exactly as the rows it is derived from.
    """
    document = load_validated_yaml(coefficients_path(), "coefficients", FlowDataError)
    out = {}
    for cid, spec in document["coefficients"].items():
        if cid in uncertainty.coefficients:
            out[cid] = uncertainty.coefficients[cid].sample(rng, n)
        else:
            value = evaluate(spec["value"], flows, where=f"coefficients/{cid}", values=flow_samples).value
            out[cid] = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    return out


def ranges_table(uncertainty: Uncertainty) -> pd.DataFrame:
    """One row per range: id, kind, value, low, high, unit, distribution, reason, note, source."""
    rows = [r.__dict__ for r in [*uncertainty.flows.values(), *uncertainty.coefficients.values()]]
    return pd.DataFrame(rows, columns=["id", "kind", "value", "low", "high", "unit", "distribution", "reason", "note", "source"])

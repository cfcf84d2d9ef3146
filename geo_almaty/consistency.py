"""Where the report's own figures disagree, shown rather than hidden.

The checks are declared in ``data/consistency.yaml``: each compares two flow
expressions (see :func:`geo_almaty.flows.evaluate`) and states the relation the
report implies (equal within a tolerance, at most, overlapping ranges).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import settings
from .config import load_validated_yaml
from .errors import FlowDataError
from .flows import evaluate, flow_row


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one consistency check (values in the canonical unit)."""

    id: str
    description: str
    relation: str
    left: float
    right: float
    unit: str
    relative_difference: float
    agrees: bool
    rows: tuple[str, ...]


def consistency_path() -> Path:
    """Default check definitions."""
    return settings.data_dir() / "consistency.yaml"


def run_consistency_checks(flows: pd.DataFrame, path: str | Path | None = None) -> list[CheckResult]:
    """Evaluate every declared check and report where the figures agree and where not."""
    path = Path(path) if path else consistency_path()
    document = load_validated_yaml(path, "consistency", FlowDataError)
    return [_run_check(check, flows, path) for check in document["checks"]]


def _run_check(check: dict, flows: pd.DataFrame, path: Path) -> CheckResult:
    where = f"checks/{check['id']}"
    relation = check.get("relation", "equal")
    tolerance = float(check.get("tolerance", 0.05))
    if relation == "overlap":
        (lo_a, hi_a, rows_a), (lo_b, hi_b, rows_b) = (_interval(check[side], flows, path, where) for side in ("left", "right"))
        unit = str(flow_row(flows, rows_a[0])["canonical_unit"])
        agrees = lo_a <= hi_b and lo_b <= hi_a
        gap = 0.0 if agrees else max(lo_a - hi_b, lo_b - hi_a)
        scale = max(abs(hi_a), abs(hi_b)) or 1.0
        return CheckResult(check["id"], check["description"], relation, (lo_a + hi_a) / 2, (lo_b + hi_b) / 2, unit, gap / scale, agrees, rows_a + rows_b)
    left = evaluate(check["left"], flows, where=where + "/left")
    right = evaluate(check["right"], flows, where=where + "/right")
    if left.unit != right.unit:
        raise FlowDataError(f"compares {left.unit} with {right.unit}", file=path, column=where, expected="both sides in one unit")
    scale = max(abs(left.value), abs(right.value))
    rel = abs(left.value - right.value) / scale if scale else 0.0
    if relation == "equal":
        agrees = rel <= tolerance
    elif relation == "le":
        agrees = left.value <= right.value * (1 + tolerance)
    else:  # "ge"
        agrees = left.value * (1 + tolerance) >= right.value
    return CheckResult(check["id"], check["description"], relation, left.value, right.value, left.unit, rel, agrees, left.rows + right.rows)


def _interval(expr: dict, flows: pd.DataFrame, path: Path, where: str) -> tuple[float, float, tuple[str, ...]]:
    if "row" not in expr:
        raise FlowDataError("overlap compares rows with ranges", file=path, column=where, expected="{row: id} on both sides")
    row = flow_row(flows, expr["row"])
    low = float(row["value_canonical"])
    high = float(row["value_high_canonical"])
    return low, (low if math.isnan(high) else high), (expr["row"],)

"""Parameters the report does not give (``data/parameters.yaml``), each with its source, year and status.

A value is a number or an expression over other parameters and over rows of
``data/flows.csv`` (canonical units), so a derived parameter such as the share of
household waste a reuse warehouse can receive is computed, never typed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import settings
from .config import load_validated_yaml
from .errors import FlowDataError
from .flows import flow_value


@dataclass(frozen=True)
class Parameter:
    """One parameter: its value and where it comes from."""

    id: str
    value: float
    unit: str
    year: int
    status: str          #: 'sourced', 'derived' or 'assumption'
    source: str
    description: str
    url: str = ""
    note: str = ""


def parameters_path() -> Path:
    """Default parameter file."""
    return settings.data_dir() / "parameters.yaml"


def load_parameters(flows: pd.DataFrame, path: str | Path | None = None) -> dict[str, Parameter]:
    """Every parameter of ``data/parameters.yaml`` with its value computed (rows read from ``flows``)."""
    path = Path(path) if path else parameters_path()
    specs = load_validated_yaml(path, "parameters", FlowDataError)["parameters"]
    values: dict[str, float] = {}

    def value_of(pid: str, stack: tuple[str, ...]) -> float:
        if pid in values:
            return values[pid]
        if pid not in specs:
            raise FlowDataError(f"unknown parameter '{pid}'", file=path, column=f"parameters/{stack[-1] if stack else pid}",
                                expected="one of " + ", ".join(sorted(specs)))
        if pid in stack:
            raise FlowDataError(f"parameter '{pid}' depends on itself ({' → '.join(stack + (pid,))})", file=path,
                                column=f"parameters/{pid}", expected="parameters without cycles")
        values[pid] = evaluate(specs[pid]["value"], stack + (pid,))
        return values[pid]

    def evaluate(expr: object, stack: tuple[str, ...]) -> float:
        if isinstance(expr, (int, float)):
            return float(expr)
        if isinstance(expr, str):
            return flow_value(flows, expr)
        assert isinstance(expr, dict)
        if "param" in expr:
            return value_of(expr["param"], stack)
        if "row" in expr:
            return flow_value(flows, expr["row"])
        op, operands = next(iter(expr.items()))
        parts = [evaluate(x, stack) for x in operands]
        if op == "sum":
            return float(sum(parts))
        if op == "difference":
            return parts[0] - float(sum(parts[1:]))
        if op == "product":
            return parts[0] * parts[1]
        if parts[1] == 0:
            raise FlowDataError("ratio with a zero denominator", file=path, column=f"parameters/{stack[-1]}", expected="a non-zero denominator")
        return parts[0] / parts[1]

    return {pid: Parameter(pid, value_of(pid, ()), spec["unit"], int(spec["year"]), spec["status"], " ".join(spec["source"].split()),
                           spec["description"], spec.get("url", ""), " ".join(spec.get("note", "").split()))
            for pid, spec in specs.items()}

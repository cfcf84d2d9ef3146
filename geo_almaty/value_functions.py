"""Value functions: map a criterion's raw values (m, t/yr, share, degrees) onto 0-1 suitability.

Bounds may be numbers or data-relative keywords (``min``, ``max``, ``p5`` … ``p95``),
resolved over the candidates that are not excluded, so a profile can say "the
best 5 % of supply scores 1" without typing a tonnage.
"""
from __future__ import annotations

import re

import numpy as np

from .errors import ProfileError

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


def resolve_bound(bound: float | str, raw: np.ndarray, *, where: str) -> float:
    """A numeric bound, or ``min``/``max``/``pNN`` computed over the finite values of ``raw``."""
    if isinstance(bound, (int, float)):
        return float(bound)
    finite = raw[np.isfinite(raw)]
    if bound in ("min", "max"):
        return float(finite.min() if bound == "min" else finite.max()) if len(finite) else 0.0
    match = _PERCENTILE.match(str(bound))
    if not match:
        raise ProfileError(f"unknown bound '{bound}'", column=where, expected="a number, min, max or a percentile like p95")
    return float(np.percentile(finite, float(match.group(1)))) if len(finite) else 0.0


def linear(raw: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 at ``low``, 1 at ``high``, straight in between, clipped (``low > high`` means smaller is better).

    Equal bounds (a data-relative bound can fall on the other, e.g. a 95th percentile of 0 when fewer
    than 5 % of the candidates have any supply) make a step: 0 at the bound, 1 beyond it (on the
    larger side), so "nothing within reach" never scores as "the most".
    """
    if high == low:
        return (raw > high).astype(np.float64)
    return np.clip((raw - low) / (high - low), 0.0, 1.0)


def threshold(raw: np.ndarray, at: float, direction: str) -> np.ndarray:
    """1 where ``raw <= at`` (``below``) or ``raw >= at`` (``above``), else 0."""
    return ((raw <= at) if direction == "below" else (raw >= at)).astype(np.float64)


def sigmoid(raw: np.ndarray, midpoint: float, width: float, direction: str) -> np.ndarray:
    """Logistic curve through 0.5 at ``midpoint``; ``width`` (same unit as raw) sets its steepness."""
    z = (raw - midpoint) / width
    if direction == "decreasing":
        z = -z
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def fuzzy_trapezoid(raw: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """Fuzzy membership: 0 below ``a``, rising to 1 at ``b``, 1 up to ``c``, falling to 0 at ``d``."""
    rise = np.ones_like(raw, dtype=np.float64) if b == a else np.clip((raw - a) / (b - a), 0, 1)
    fall = np.ones_like(raw, dtype=np.float64) if d == c else np.clip((d - raw) / (d - c), 0, 1)
    return np.minimum(rise, fall)


def apply_value_function(spec: dict, raw: np.ndarray, *, reference: np.ndarray | None = None, where: str = "value") -> np.ndarray:
    """Evaluate the profile's value function ``spec`` on ``raw``; NaN raw values score 0.

    ``reference`` (default ``raw``) is the set data-relative bounds are computed over.
    """
    reference = raw if reference is None else reference
    kind = spec["function"]

    def bound(key: str) -> float:
        return resolve_bound(spec[key], reference, where=f"{where}/{key}")

    if kind == "linear":
        values = linear(raw, bound("low"), bound("high"))
    elif kind == "threshold":
        values = threshold(raw, bound("at"), spec.get("direction", "below"))
    elif kind == "sigmoid":
        width = bound("width")
        if width <= 0:
            raise ProfileError(f"sigmoid width {width}", column=f"{where}/width", expected="a positive width")
        values = sigmoid(raw, bound("midpoint"), width, spec.get("direction", "increasing"))
    elif kind == "fuzzy":
        a, b, c, d = (resolve_bound(p, reference, where=f"{where}/points") for p in spec["points"])
        if not a <= b <= c <= d:
            raise ProfileError(f"fuzzy points {spec['points']} are not ordered", column=f"{where}/points", expected="a <= b <= c <= d")
        values = fuzzy_trapezoid(raw, a, b, c, d)
    else:
        raise ProfileError(f"unknown value function '{kind}'", column=f"{where}/function", expected="linear, threshold, sigmoid or fuzzy")
    return np.where(np.isfinite(raw), values, 0.0)


#: Keys of a value-function spec that hold bounds (numbers or data-relative keywords).
_BOUND_KEYS = ("low", "high", "at", "midpoint", "width")


def resolve_value_spec(spec: dict, reference: np.ndarray, *, where: str = "value") -> dict:
    """``spec`` with every data-relative bound (``min``, ``max``, ``pNN``) replaced by its number over ``reference``.

    Evaluating the result on any raw values gives what :func:`apply_value_function`
    gives with ``reference``, without recomputing percentiles each time.
    """
    out = dict(spec)
    for key in _BOUND_KEYS:
        if key in out:
            out[key] = resolve_bound(out[key], reference, where=f"{where}/{key}")
    if "points" in out:
        out["points"] = [resolve_bound(p, reference, where=f"{where}/points") for p in out["points"]]
    return out


def has_relative_bounds(spec: dict) -> bool:
    """True when any bound of ``spec`` is data-relative (``min``, ``max``, ``pNN``) rather than a number."""
    bounds = [spec[k] for k in _BOUND_KEYS if k in spec] + list(spec.get("points", []))
    return any(not isinstance(b, (int, float)) for b in bounds)


def value_interval(spec: dict, raw_low: np.ndarray, raw_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value ``spec`` (numeric bounds) takes for raw values anywhere in ``[raw_low, raw_high]``.

    Linear, threshold and sigmoid functions are monotone, so the extremes lie at the
    ends; a fuzzy trapezoid reaches 1 when the interval overlaps its plateau.
    """
    a = apply_value_function(spec, raw_low)
    b = apply_value_function(spec, raw_high)
    low, high = np.minimum(a, b), np.maximum(a, b)
    if spec["function"] == "fuzzy":
        _, p_b, p_c, _ = (float(p) for p in spec["points"])
        high = np.where((raw_low <= p_c) & (raw_high >= p_b), 1.0, high)
    return low, high

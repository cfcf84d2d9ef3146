"""Load, validate and query the report's material-flow tables (``data/flows.csv``).

Every figure the tool uses comes from a row of that table, with its unit, year
and the report line it was read from. Values are normalised to canonical units
(t/yr for mass flows); anything derived (a coefficient, a Sankey link made from
a share) is computed from rows, never typed in again.
"""
from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import settings
from .errors import FlowDataError
from .units import UNITS, canonical_unit, known_units

log = logging.getLogger(__name__)

FLOW_COLUMNS = (
    "id", "sector", "material", "quantity", "from_node", "to_node", "value", "value_high",
    "unit", "year", "report_lines", "quote_ru", "status", "note",
)
REQUIRED_COLUMNS = ("id", "sector", "material", "quantity", "value", "unit", "year", "report_lines", "quote_ru", "status")
SECTORS = ("city", "agrifood", "construction", "industry", "waste", "population", "land")
QUANTITIES = ("mass_flow", "emission", "share", "capacity", "count", "area", "population", "volume_flow", "mass")
#: Quantities that describe a movement and therefore need both nodes.
FLOW_QUANTITIES = ("mass_flow", "emission")
STATUSES = ("reported", "corrected", "printed", "uncertain", "derived")
#: Figures that are not the report's (``data/external.csv``): each names its source, address and year.
EXTERNAL_COLUMNS = (
    "id", "sector", "material", "quantity", "from_node", "to_node", "value", "value_high",
    "unit", "year", "source", "url", "quote", "status", "note",
)
EXTERNAL_REQUIRED = ("id", "sector", "material", "quantity", "value", "unit", "year", "source", "url", "status", "note")
#: reported: as the source publishes it; literature: a published range or coefficient applied here; uncertain: doubtful.
EXTERNAL_STATUSES = ("reported", "literature", "uncertain")
LABEL_KINDS = ("material", "node", "sector", "quantity")
_LINE_RANGE = re.compile(r"^\s*(\d+)(?:\s*-\s*(\d+))?\s*$")


def flows_path() -> Path:
    """Default flow table."""
    return settings.data_dir() / "flows.csv"


def external_path() -> Path:
    """Default table of figures that are not in the report (with source, address and year)."""
    return settings.data_dir() / "external.csv"


def labels_path() -> Path:
    """Default label (translation) table."""
    return settings.data_dir() / "labels.csv"


def _read_csv(path: Path, what: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise FlowDataError(f"{what} not found", file=path, expected="a CSV file")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except UnicodeDecodeError as exc:
        raise FlowDataError(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=path, expected="UTF-8 text") from None
    except csv.Error as exc:
        raise FlowDataError(f"unreadable CSV: {exc}", file=path, expected="comma-separated values") from None
    if not header:
        raise FlowDataError("empty file", file=path, expected="a header row and data rows")
    for row_no, row in enumerate(rows, start=2):
        if None in row:
            raise FlowDataError("more fields than header columns", file=path, row=row_no, expected=f"{len(header)} fields")
    return [{k: (v or "").strip() for k, v in row.items()} for row in rows]


def parse_line_ranges(text: str) -> list[tuple[int, int]]:
    """Parse ``"2445-2448;2458"`` into ``[(2445, 2448), (2458, 2458)]``; raises ``ValueError``."""
    ranges = []
    for part in text.split(";"):
        m = _LINE_RANGE.match(part)
        if not m:
            raise ValueError(part)
        start = int(m.group(1))
        end = int(m.group(2) or start)
        if end < start or start < 1:
            raise ValueError(part)
        ranges.append((start, end))
    return ranges


def _parse_number(text: str) -> float:
    value = float(text)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(text)
    return value


def load_labels(path: str | Path | None = None) -> pd.DataFrame:
    """Load the ru/kk/en label table, indexed by ``(kind, key)``."""
    path = Path(path) if path else labels_path()
    rows = _read_csv(path, "label table")
    seen: set[tuple[str, str]] = set()
    for row_no, row in enumerate(rows, start=2):
        for col in ("key", "kind", *settings.LANGUAGES):
            if not row.get(col):
                raise FlowDataError("missing value", file=path, column=col, row=row_no, expected="a non-empty label")
        if row["kind"] not in LABEL_KINDS:
            raise FlowDataError(f"unknown kind '{row['kind']}'", file=path, column="kind", row=row_no, expected=", ".join(LABEL_KINDS))
        ident = (row["kind"], row["key"])
        if ident in seen:
            raise FlowDataError(f"duplicate label '{row['key']}'", file=path, column="key", row=row_no, expected="one row per kind and key")
        seen.add(ident)
    frame = pd.DataFrame(rows, columns=["key", "kind", *settings.LANGUAGES])
    return frame.set_index(["kind", "key"]).sort_index()


def load_flows(path: str | Path | None = None, labels: pd.DataFrame | None = None, *,
               external: bool | str | Path = True) -> pd.DataFrame:
    """Load and validate the flow table; add canonical values.

    Returns one row per figure with the table's columns plus ``value_canonical``,
    ``value_high_canonical`` (NaN without a range), ``canonical_unit`` and ``origin``
    (``report``). Raises :class:`FlowDataError` naming the row for a missing or negative
    value, an unknown unit, sector, quantity, status or node, or a malformed line range.

    ``external`` adds the figures that are not the report's (``origin`` ``external``,
    with ``source``, ``url`` and ``quote``): ``True`` reads ``external.csv`` beside the
    table when it exists, a path reads that file, ``False`` none. Expressions refer to
    both kinds of row by id.
    """
    path = Path(path) if path else flows_path()
    if labels is None:
        labels = load_labels(path.parent / "labels.csv")
    rows = _read_csv(path, "flow table")
    if not rows:
        raise FlowDataError("no rows", file=path, expected="at least one figure")
    missing_cols = [c for c in FLOW_COLUMNS if c not in rows[0]]
    if missing_cols:
        raise FlowDataError(f"missing column(s) {', '.join(missing_cols)}", file=path, expected=", ".join(FLOW_COLUMNS))
    known_keys = {kind: set(labels.loc[kind].index) if kind in labels.index.get_level_values(0) else set() for kind in LABEL_KINDS}
    records = []
    seen_ids: dict[str, int] = {}
    for row_no, row in enumerate(rows, start=2):
        where = f"{row_no} (id '{row['id']}')" if row.get("id") else row_no
        records.append(_validate_row(row, path, where, known_keys, seen_ids, row_no))
    extra = path.parent / "external.csv" if external is True else (Path(external) if external else None)
    if extra is not None and (extra.is_file() or external is not True):
        ext_rows = _read_csv(extra, "external figure table")
        missing_cols = [c for c in EXTERNAL_COLUMNS if ext_rows and c not in ext_rows[0]]
        if missing_cols:
            raise FlowDataError(f"missing column(s) {', '.join(missing_cols)}", file=extra, expected=", ".join(EXTERNAL_COLUMNS))
        seen_external = {k: v for k, v in seen_ids.items()}
        for row_no, row in enumerate(ext_rows, start=2):
            where = f"{row_no} (id '{row['id']}')" if row.get("id") else row_no
            records.append(_validate_row(row, extra, where, known_keys, seen_external, row_no, external=True))
    frame = pd.DataFrame.from_records(records)
    frame["year"] = frame["year"].astype(int)
    frame = frame.set_index("id", drop=False)
    frame.attrs["source_file"] = str(path)
    return frame


def report_rows(flows: pd.DataFrame) -> pd.DataFrame:
    """Only the report's own figures (``origin == 'report'``)."""
    return flows[flows["origin"] == "report"]


def _validate_row(row: dict[str, str], path: Path, where: object, known: dict[str, set[str]], seen_ids: dict[str, int], row_no: int,
                  *, external: bool = False) -> dict:
    def fail(column: str, problem: str, expected: str) -> FlowDataError:
        return FlowDataError(problem, file=path, column=column, row=where, expected=expected)

    for col in EXTERNAL_REQUIRED if external else REQUIRED_COLUMNS:
        if not row.get(col):
            raise fail(col, "missing value", "a value in every required column")
    if row["id"] in seen_ids:
        raise fail("id", f"duplicate id (first on row {seen_ids[row['id']]})", "unique ids (across the report's and the external figures)")
    seen_ids[row["id"]] = row_no
    if external and not re.match(r"^https?://", row["url"]):
        raise fail("url", f"not a web address: '{row['url']}'", "the address of the source (http:// or https://)")
    for col, allowed in (("sector", SECTORS), ("quantity", QUANTITIES), ("status", EXTERNAL_STATUSES if external else STATUSES)):
        if row[col] not in allowed:
            raise fail(col, f"unknown {col} '{row[col]}'", ", ".join(allowed))
    if row["unit"] not in UNITS:
        raise fail("unit", f"unknown unit '{row['unit']}'", ", ".join(known_units()))
    try:
        value = _parse_number(row["value"])
    except ValueError:
        raise fail("value", f"not a number: '{row['value']}'", "a decimal number such as 5.4") from None
    if value < 0:
        raise fail("value", f"negative value {row['value']}", "a value >= 0 (flows have a direction instead of a sign)")
    value_high = math.nan
    if row.get("value_high"):
        try:
            value_high = _parse_number(row["value_high"])
        except ValueError:
            raise fail("value_high", f"not a number: '{row['value_high']}'", "an empty cell or a number") from None
        if value_high < value:
            raise fail("value_high", f"upper bound {row['value_high']} below value {row['value']}", "value <= value_high")
    try:
        year = int(row["year"])
    except ValueError:
        raise fail("year", f"not a year: '{row['year']}'", "a four-digit year") from None
    if not 1900 <= year <= 2100:
        raise fail("year", f"implausible year {year}", "a year between 1900 and 2100")
    if not external:
        try:
            parse_line_ranges(row["report_lines"])
        except ValueError as exc:
            raise fail("report_lines", f"malformed line range '{exc}'", "ranges like 2445-2448;2458") from None
    if row["material"] not in known["material"]:
        raise fail("material", f"no label for material '{row['material']}'", "a key of kind 'material' in labels.csv")
    for col in ("from_node", "to_node"):
        node = row.get(col, "")
        if not node and row["quantity"] in FLOW_QUANTITIES:
            raise fail(col, "missing node", f"both nodes for a {row['quantity']} row")
        if node and node not in known["node"]:
            raise fail(col, f"no label for node '{node}'", "a key of kind 'node' in labels.csv")
    unit_canonical = canonical_unit(row["unit"])
    factor = UNITS[row["unit"]].factor
    out = {col: row.get(col, "") for col in FLOW_COLUMNS}
    if external:
        out.update(report_lines="", quote_ru=row.get("quote", ""))
    out.update(origin="external" if external else "report", source=row.get("source", "") if external else "",
               url=row.get("url", "") if external else "")
    out.update(
        value=value,
        value_high=value_high,
        year=year,
        value_canonical=value * factor,
        value_high_canonical=value_high * factor,
        canonical_unit=unit_canonical,
    )
    return out


def flow_row(flows: pd.DataFrame, flow_id: str) -> pd.Series:
    """The row ``flow_id``; raises :class:`FlowDataError` if the table has none."""
    if flow_id not in flows.index:
        raise FlowDataError(f"no row with id '{flow_id}'", file=flows.attrs.get("source_file", flows_path()), column="id",
                            expected="an id present in the flow table")
    return flows.loc[flow_id]


def flow_value(flows: pd.DataFrame, flow_id: str) -> float:
    """Canonical value of row ``flow_id`` (t/yr for mass flows, a fraction for shares)."""
    return float(flow_row(flows, flow_id)["value_canonical"])


def select_flows(
    flows: pd.DataFrame,
    *,
    sector: str | None = None,
    material: str | None = None,
    fate: str | None = None,
    quantity: str | None = None,
) -> pd.DataFrame:
    """Rows matching every given filter. ``fate`` matches the destination node (``to_node``)."""
    mask = pd.Series(True, index=flows.index)
    for column, wanted in (("sector", sector), ("material", material), ("to_node", fate), ("quantity", quantity)):
        if wanted is not None:
            mask &= flows[column] == wanted
    return flows[mask]


def mass_flows(flows: pd.DataFrame, **filters: str) -> pd.DataFrame:
    """Mass-flow rows (t/yr) matching ``filters`` (see :func:`select_flows`)."""
    return select_flows(flows, quantity="mass_flow", **filters)


def label(labels: pd.DataFrame, kind: str, key: str, lang: str) -> str:
    """Label of ``key`` in ``lang``; falls back to the key itself when no label exists."""
    try:
        return str(labels.loc[(kind, key), lang])
    except KeyError:
        return key


@dataclass(frozen=True)
class Quantity:
    """The value of a flow expression, its canonical unit and the rows it was computed from."""

    value: float | np.ndarray
    unit: str
    rows: tuple[str, ...]


def evaluate(expr: dict, flows: pd.DataFrame, *, where: str = "expression",
             values: Mapping[str, float | np.ndarray] | None = None) -> Quantity:
    """Evaluate a declarative flow expression over canonical values.

    Forms: ``{row: id}``, ``{sum: [ids]}``, ``{difference: [a, b, ...]}`` (a - b - ...),
    ``{product: [a, b]}`` (one factor must be a share), ``{ratio: [a, b]}`` and
    ``{constant: x, why: "..."}``. Used by Sankey layouts and consistency checks so
    that every derived number is computed from rows, never typed in.

    ``values`` replaces the canonical value of some rows, e.g. by arrays of Monte
    Carlo samples (:mod:`geo_almaty.robust`); the result is then an array too.
    """
    if "row" in expr:
        row = flow_row(flows, expr["row"])
        value = values[expr["row"]] if values is not None and expr["row"] in values else float(row["value_canonical"])
        return Quantity(value, str(row["canonical_unit"]), (expr["row"],))
    if "constant" in expr:
        return Quantity(float(expr["constant"]), str(expr.get("unit", "fraction")), ())
    for op in ("sum", "difference", "product", "ratio"):
        if op in expr:
            parts = [evaluate({"row": r} if isinstance(r, str) else r, flows, where=where, values=values) for r in expr[op]]
            return _combine(op, parts, where)
    raise FlowDataError(f"unknown expression {sorted(expr)}", column=where, expected="row, sum, difference, product, ratio or constant")


def _combine(op: str, parts: list[Quantity], where: str) -> Quantity:
    rows = tuple(r for p in parts for r in p.rows)
    units = [p.unit for p in parts]
    if op in ("sum", "difference"):
        if len(set(units)) != 1:
            raise FlowDataError(f"{op} of mixed units {units}", column=where, expected="rows of one unit")
        values = [p.value for p in parts]
        total = sum(values) if op == "sum" else values[0] - sum(values[1:])
        return Quantity(total, units[0], rows)
    if len(parts) != 2:
        raise FlowDataError(f"{op} needs exactly two operands, got {len(parts)}", column=where, expected="[a, b]")
    a, b = parts
    if op == "product":
        if "fraction" not in units:
            raise FlowDataError(f"product of {units}", column=where, expected="one operand to be a share")
        unit = a.unit if b.unit == "fraction" else b.unit
        return Quantity(a.value * b.value, unit, rows)
    if np.any(np.asarray(b.value) == 0):
        raise FlowDataError("ratio with a zero denominator", column=where, expected="a non-zero denominator")
    if a.unit == "fraction" and b.unit != "fraction":
        # x / share -> the whole the share is of, in x's unit... only when x is the part.
        raise FlowDataError(f"ratio of {units}", column=where, expected="a part divided by a share or two like quantities")
    unit = "fraction" if a.unit == b.unit else (a.unit if b.unit == "fraction" else f"{a.unit} per {b.unit}")
    return Quantity(a.value / b.value, unit, rows)


@dataclass(frozen=True)
class Coefficient:
    """A number computed from flow rows, e.g. t CH4 per t of organic waste landfilled."""

    id: str
    value: float
    unit: str
    rows: tuple[str, ...]
    description: str


def coefficients_path() -> Path:
    """Default coefficient definitions."""
    return settings.data_dir() / "coefficients.yaml"


def load_coefficients(flows: pd.DataFrame, path: str | Path | None = None) -> dict[str, Coefficient]:
    """Compute the coefficients defined in ``data/coefficients.yaml`` from the flow rows."""
    from .config import load_validated_yaml

    path = Path(path) if path else coefficients_path()
    document = load_validated_yaml(path, "coefficients", FlowDataError)
    result = {}
    for cid, spec in document["coefficients"].items():
        q = evaluate(spec["value"], flows, where=f"coefficients/{cid}")
        result[cid] = Coefficient(cid, q.value, q.unit, q.rows, spec["description"])
    return result

"""Exact quantiles, in memory or streamed over tiles in bounded memory.

Data-relative value-function bounds (``high: p95``) are quantiles over every
candidate that is not excluded. In memory they come from one array
(:func:`exact_quantile`); a tiled run sees the values tile by tile and finds the
same numbers with :class:`StreamedQuantiles`, exactly, never holding them all.
Both use numpy's default (``linear``) method through :func:`quantile_position`
and :func:`interpolate`, which repeat numpy's arithmetic, so a bound is the same
float whichever path computed it (``tests/test_scale.py`` checks them against
``np.percentile``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Most distinct values a streamed pass collects (16 bytes each); beyond, it narrows by a histogram and passes again.
COLLECT_CAP = 1 << 22
#: Bits of the sortable key resolved by each histogram pass (65,536 buckets).
DIGIT_BITS = 16
_SIGN = np.uint64(1 << 63)


def quantile_position(n: int, q: float) -> tuple[int, int, float]:
    """0-based ranks of the two order statistics numpy's ``linear`` quantile ``q`` (0-1) of ``n`` values uses, and the weight."""
    virtual = (n - 1) * float(q)
    if virtual >= n - 1:
        return n - 1, n - 1, virtual - (n - 1)
    if virtual < 0:
        return 0, 0, virtual
    low = math.floor(virtual)
    return low, low + 1, virtual - low


def interpolate(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp``: ``a + (b - a)·t``, from ``b`` backwards when ``t >= 0.5`` (monotone and exact at the ends)."""
    a, b, t = np.float64(a), np.float64(b), np.float64(t)
    diff = b - a
    return float(b - diff * (1 - t)) if t >= 0.5 else float(a + diff * t)


def exact_quantile(values: np.ndarray, q: float) -> float:
    """The ``q`` (0-1) quantile of ``values`` (finite float64), equal to ``np.quantile(values, q)``."""
    n = len(values)
    low, high, t = quantile_position(n, q)
    part = np.partition(np.asarray(values, dtype=np.float64), sorted({low, high}))
    return interpolate(part[low], part[high], t)


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys that sort like the float64 ``values`` (NaN excluded by the caller)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def key_values(keys: np.ndarray) -> np.ndarray:
    """float64 values of :func:`sortable_keys` keys."""
    keys = np.asarray(keys, dtype=np.uint64)
    return np.where(keys & _SIGN, keys & ~_SIGN, ~keys).view(np.float64)


class StreamedQuantiles:
    """Exact quantiles (numpy's ``linear`` method) of float64 values seen in chunks, in bounded memory.

    Feed every chunk with :meth:`add`, then call :meth:`finish_pass`; while
    :attr:`needs_pass` is true, feed the *same* chunks again (another pass over
    the tiles). The first pass counts the values and collects the distinct ones
    (at most :data:`COLLECT_CAP`); when there are more, each further pass narrows
    every wanted order statistic by a 16-bit digit of its sortable key (a
    histogram) and collects what is left, so at most four passes are ever needed
    and usually one (reachable sums sampled from a 250 m grid have few distinct
    values). Memory: the collected values and a 65,536-bucket histogram per
    wanted order statistic.
    """

    def __init__(self, quantiles: Sequence[float], cap: int = COLLECT_CAP):
        self.quantiles = tuple(float(q) for q in quantiles)
        self.cap = int(cap)
        self.n = 0
        self.passes = 0
        self._values: dict[int, float] = {}  # rank -> value
        self._groups: dict[tuple[int, int], int] = {(0, 0): 0}  # (prefix, bits) -> keys below the prefix's range
        self._reset_pass()

    @property
    def needs_pass(self) -> bool:
        return bool(self._groups)

    def _reset_pass(self) -> None:
        self._hist = {g: np.zeros(1 << DIGIT_BITS, dtype=np.int64) for g in self._groups}
        self._found: dict[tuple[int, int], list] = {g: [] for g in self._groups}
        self._stored = {g: 0 for g in self._groups}
        self._overflow = {g: False for g in self._groups}

    def add(self, values: np.ndarray) -> None:
        """One chunk of finite float64 values (order and chunking do not matter)."""
        keys = sortable_keys(values)
        if self.passes == 0:
            self.n += len(keys)
        for group in self._groups:
            prefix, bits = group
            chosen = keys if bits == 0 else keys[(keys >> np.uint64(64 - bits)) == np.uint64(prefix)]
            if not len(chosen):
                continue
            digits = (chosen >> np.uint64(64 - bits - DIGIT_BITS)) & np.uint64((1 << DIGIT_BITS) - 1)
            self._hist[group] += np.bincount(digits.astype(np.int64), minlength=1 << DIGIT_BITS)
            if self._overflow[group]:
                continue
            unique, counts = np.unique(chosen, return_counts=True)
            self._found[group].append((unique, counts))
            self._stored[group] += len(unique)
            if self._stored[group] > self.cap:
                self._merge(group)

    def _merge(self, group: tuple[int, int]) -> None:
        keys = np.concatenate([k for k, _ in self._found[group]])
        counts = np.concatenate([c for _, c in self._found[group]])
        unique, inverse = np.unique(keys, return_inverse=True)
        merged = np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)
        if len(unique) > self.cap:
            self._found[group], self._stored[group], self._overflow[group] = [], 0, True
        else:
            self._found[group], self._stored[group] = [(unique, merged)], len(unique)

    def finish_pass(self) -> None:
        """Resolve what this pass allows; :attr:`needs_pass` says whether another pass over the same chunks is needed."""
        if self.passes == 0:
            wanted = {r for q in self.quantiles for r in quantile_position(self.n, q)[:2]} if self.n else set()
            self._pending = {(0, 0): sorted(wanted)}
        self.passes += 1
        groups: dict[tuple[int, int], int] = {}
        pending: dict[tuple[int, int], list[int]] = {}
        for group, below in self._groups.items():
            ranks = self._pending.get(group, [])
            if not ranks:
                continue
            if not self._overflow[group]:
                self._merge(group)
                unique, counts = self._found[group][0] if self._found[group] else (np.zeros(0, np.uint64), np.zeros(0, np.int64))
                ends = np.cumsum(counts)
                for rank in ranks:
                    self._values[rank] = float(key_values(unique[np.searchsorted(ends, rank - below, side="right")]))
                continue
            prefix, bits = group
            ends = np.cumsum(self._hist[group])
            for rank in ranks:
                digit = int(np.searchsorted(ends, rank - below, side="right"))
                start = below + (int(ends[digit - 1]) if digit else 0)
                narrowed = ((prefix << DIGIT_BITS) | digit, bits + DIGIT_BITS)
                groups[narrowed] = start
                pending.setdefault(narrowed, []).append(rank)
        self._groups, self._pending = groups, pending
        self._reset_pass()

    def quantile(self, q: float) -> float:
        """The ``q`` (0-1) quantile (one of those given at construction); 0.0 when no value was seen."""
        if self.needs_pass:
            raise RuntimeError("another pass over the values is needed first")
        if not self.n:
            return 0.0
        low, high, t = quantile_position(self.n, q)
        return interpolate(self._values[low], self._values[high], t)

"""Exact apportionment: parts always sum to the total (property-based)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_almaty.apportion import largest_remainder, largest_remainder_grouped

weights_st = st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=60).filter(lambda w: sum(w) > 0)


@given(total=st.integers(min_value=0, max_value=10**13), weights=weights_st)
def test_parts_sum_exactly_and_stay_within_one_unit_of_the_quota(total, weights):
    w = np.array(weights)
    parts = largest_remainder(total, w)
    assert parts.sum() == total
    assert (parts >= 0).all()
    quotas = total * w / w.sum()
    assert np.all(np.abs(parts - quotas) < 1 + 1e-6 * max(1, total))
    assert (parts[w == 0] == 0).all()


@given(total=st.integers(min_value=0, max_value=10**9), weights=weights_st)
def test_apportionment_is_deterministic(total, weights):
    assert np.array_equal(largest_remainder(total, np.array(weights)), largest_remainder(total, np.array(weights)))


@settings(max_examples=200, deadline=None)  # the first example may pay for cold imports on a busy machine
@given(data=st.data())
def test_grouped_parts_sum_to_each_group_total(data):
    n_groups = data.draw(st.integers(min_value=1, max_value=8))
    totals = np.array(data.draw(st.lists(st.integers(min_value=0, max_value=10**11), min_size=n_groups, max_size=n_groups)))
    sizes = data.draw(st.lists(st.integers(min_value=1, max_value=20), min_size=n_groups, max_size=n_groups))
    groups = np.repeat(np.arange(n_groups), sizes)
    weights = np.array(data.draw(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=len(groups), max_size=len(groups))))
    parts = largest_remainder_grouped(totals, groups, weights)
    assert np.array_equal(np.bincount(groups, weights=parts, minlength=n_groups).astype(np.int64), totals)
    assert (parts >= 0).all()


def test_zero_weight_group_is_spread_equally():
    parts = largest_remainder_grouped(np.array([9]), np.array([0, 0, 0]), np.array([0.0, 0.0, 0.0]))
    assert parts.tolist() == [3, 3, 3]

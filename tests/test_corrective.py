"""The corrective suite (PROTOCOL 4.8): partial identification of the poison."""

from __future__ import annotations

import numpy as np
import pytest

from qbench.corruption.identification import FRACTIONS, check_fraction, identified, identified_count
from qbench.errors import QbenchError


def test_identified_sets_are_nested_and_sized():
    flipped = np.sort(np.random.default_rng(3).choice(500, 150, replace=False))
    sets = [set(identified(flipped, f, seed=2)) for f in FRACTIONS]
    assert [len(s) for s in sets] == [15, 38, 75, 113, 150]  # ceil(f * 150)
    for small, large in zip(sets, sets[1:]):
        assert small < large
    assert sets[-1] == set(flipped)  # f = 1 identifies everything


def test_identification_follows_the_seed():
    flipped = np.arange(0, 200, 2)
    assert np.array_equal(identified(flipped, 0.25, 0), identified(flipped, 0.25, 0))
    assert not np.array_equal(identified(flipped, 0.25, 0), identified(flipped, 0.25, 1))
    assert set(identified(flipped, 0.25, 0)) <= set(flipped)


@pytest.mark.parametrize("n, f, k", [(10, 0.1, 1), (10, 0.25, 3), (7, 0.01, 1), (0, 0.5, 0), (4, 1.0, 4)])
def test_identified_count(n, f, k):
    assert identified_count(n, f) == k


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan")])
def test_fraction_outside_unit_interval_is_refused(bad):
    with pytest.raises(QbenchError, match=r"\(0, 1\]"):
        check_fraction(bad)

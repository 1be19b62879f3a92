import numpy as np
import pytest

from qbench.corruption import corrupt, corrupted_count, select_indices
from qbench.errors import QbenchError


def _data(n0=97, n1=100, complex_=False, d=16):
    rng = np.random.default_rng(123)
    y = np.array([0] * n0 + [1] * n1)
    rng.shuffle(y)
    x = rng.standard_normal((len(y), d)) + (1j * rng.standard_normal((len(y), d)) if complex_ else 0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.complex64 if complex_ else np.float32), y


@pytest.mark.parametrize("n,alpha,k", [(500, 0.3, 150), (197, 0.3, 58), (197, 0.1, 18), (500, 0.0, 0), (197, 1.0, 196), (500, 1.0, 500), (10, 0.25, 2)])
def test_count_is_floor_rounded_down_to_even(n, alpha, k):
    assert corrupted_count(n, alpha) == k


def test_alpha_outside_unit_interval_is_rejected():
    with pytest.raises(QbenchError, match=r"\[0, 1\]"):
        corrupted_count(10, 1.5)
    with pytest.raises(QbenchError):
        corrupt(*_data(), "label_flip", -0.1, 0)


def test_half_from_each_half_of_the_class_ordering():
    x, y = _data(250, 250)
    idx = select_indices(y, 0.3, np.random.default_rng(0))
    assert len(idx) == 150 and len(np.unique(idx)) == 150
    assert (y[idx] == 0).sum() == 75 and (y[idx] == 1).sum() == 75


def test_label_flip_flips_exactly_the_returned_indices():
    x, y = _data()
    c = corrupt(x, y, "label_flip", 0.3, seed=4)
    changed = np.flatnonzero(c.y != y)
    np.testing.assert_array_equal(changed, c.indices)
    np.testing.assert_array_equal(c.x, x)
    assert len(c.indices) == 58
    # inputs untouched
    assert not np.shares_memory(c.y, y)


@pytest.mark.parametrize("complex_", [False, True])
def test_feature_randomization_replaces_vectors_with_unit_noise(complex_):
    x, y = _data(250, 250, complex_=complex_, d=64)
    c = corrupt(x, y, "feature_randomization", 0.2, seed=1)
    np.testing.assert_array_equal(c.y, y)
    rows_changed = np.flatnonzero(np.any(c.x != x, axis=1))
    np.testing.assert_array_equal(rows_changed, c.indices)
    assert c.x.dtype == x.dtype
    np.testing.assert_allclose(np.linalg.norm(c.x[c.indices], axis=1), 1.0, atol=1e-5)
    if complex_:
        assert np.abs(c.x[c.indices].imag).max() > 0.01
    # noise is ~isotropic: mean component near zero, not the data's structure
    assert abs(float(np.mean(c.x[c.indices].real))) < 0.02


def test_same_seed_same_numbers_other_seed_other_numbers():
    x, y = _data()
    a = corrupt(x, y, "feature_randomization", 0.4, seed=7)
    b = corrupt(x, y, "feature_randomization", 0.4, seed=7)
    c = corrupt(x, y, "feature_randomization", 0.4, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


def test_unknown_corruption_is_a_clear_error():
    with pytest.raises(QbenchError, match="known: feature_randomization, label_flip"):
        corrupt(*_data(), "rotate", 0.1, 0)

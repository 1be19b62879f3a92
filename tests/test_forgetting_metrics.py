"""Per-example membership tests (qbench.metrics.forgetting, PROTOCOL 4.9) on synthetic outputs whose answer
is known: numpy only."""

import math

import numpy as np
import pytest

from qbench.metrics.forgetting import (
    DELTA,
    EPSILON_CAP,
    bucket_points,
    example_epsilon,
    example_epsilons,
    forget_score,
    halves,
    max_resolvable_epsilon,
    null_calibration,
    phi,
    score_of_epsilons,
    ulira_acc,
    ulira_correct,
)
from qbench.metrics.registry import Missing


def populations(shift: float, k: int = 32, n: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """phi of k 'unlearned' and k 'retrained' models on n samples: per-sample means shared, the unlearned
    ones moved by ``shift`` standard deviations."""
    g = np.random.default_rng(seed)
    mu = g.normal(0.0, 3.0, n)
    return mu + shift + g.normal(0.0, 1.0, (k, n)), mu + g.normal(0.0, 1.0, (k, n))


def test_phi_is_the_logit_signed_toward_the_label():
    assert np.array_equal(phi(np.array([[2.0, 2.0, -1.5]]), np.array([1, 0, 0])), [[2.0, -2.0, 1.5]])
    # it is the challenge's logit-scaled confidence log p_y - log(1 - p_y) of a sigmoid output
    z, p = 0.7, 1 / (1 + math.exp(-0.7))
    assert math.isclose(phi(np.array([z]), np.array([0]))[0], math.log(1 - p) - math.log(p))


def test_identical_populations_give_ulira_acc_within_a_binomial_bound_of_one_half():
    k, n = 32, 50
    got = ulira_acc(*populations(0.0, k, n))
    bound = 3 * 0.5 / math.sqrt(2 * k * n)  # 3 standard deviations of a coin over the 2 k n (model, sample) pairs
    assert abs(got.value - 0.5) < bound
    assert got.low < 0.5 < got.high


def test_well_separated_populations_give_ulira_acc_near_one_and_forget_score_zero():
    unlearned, retrained = populations(6.0)
    assert ulira_acc(unlearned, retrained).value > 0.95
    assert ulira_acc(unlearned, retrained).low > 0.95
    assert forget_score(unlearned, retrained) < 0.01
    # beyond what 32 models resolve on almost every sample (the score's last bucket ends at ceil(log 31) = 4)
    assert np.mean(example_epsilons(unlearned, retrained) >= 4.0) > 0.95


def test_identical_populations_score_the_estimators_floor_and_more_than_any_difference():
    """metric.py's epsilon is the best of many thresholds, the tails' included, where counts are small: two
    samples of one distribution still show epsilon about 1.5 (measured 0.17 for the score at K 8 to 512), so
    'indistinguishable' scores that floor, not 1. A shift of one standard deviation scores lower, a large one 0."""
    same = forget_score(*populations(0.0))
    shifted = forget_score(*populations(1.0))
    assert 0.1 < same < 0.3
    assert same > shifted + 0.05 > 0.05
    # the floor is the null reference's: two halves of one population score alike
    _, retrained = populations(0.0, k=64)
    assert abs(forget_score(*halves(retrained)) - same) < 0.1


def test_epsilon_of_interleaved_outputs_by_hand():
    # single threshold t = 3: TPR 3/4, FPR 1/2 -> log((1 - delta - 1/2) / (1/4)); no threshold does better
    pos, neg = np.array([1.0, 3.0, 5.0, 7.0]), np.array([0.0, 2.0, 4.0, 6.0])
    assert math.isclose(example_epsilon(pos, neg), math.log((0.5 - DELTA) / 0.25), rel_tol=1e-12)


def test_epsilon_found_only_by_the_double_threshold_family_by_hand():
    # separated but for a tie at 1: every single threshold has one error rate 0 (dropped); the interval
    # [-1, 1] (length 2, within the peakier range 3 +- 2) holds 3 of 4 of one and 1 of 4 of the other
    pos, neg = np.array([1.0, 2.0, 3.0, 4.0]), np.array([-2.0, -1.0, 0.0, 1.0])
    assert math.isclose(example_epsilon(pos, neg), math.log((0.75 - DELTA) / 0.25), rel_tol=1e-12)


def test_epsilon_of_separated_peaky_and_constant_outputs():
    four = np.array([0.0, 1.0, 2.0, 3.0])
    assert example_epsilon(four + 10, four) == EPSILON_CAP  # perfect separation: infinity, capped
    assert example_epsilon(four, np.array([1.0, 1.0, 1.0, 1.001])) == EPSILON_CAP  # range ratio < 1%
    assert example_epsilon(np.full(4, 2.0), np.full(4, 2.0)) == 0.0  # both constant and equal
    assert example_epsilon(np.full(4, 2.0), np.full(4, 1.0)) == EPSILON_CAP  # both constant, different
    assert example_epsilon(four, four) == 0.0  # equal samples: no threshold beats log(1 - delta) < 0


def test_positive_population_is_the_one_with_the_larger_median():
    pos, neg = np.array([1.0, 3.0, 5.0, 7.0]), np.array([0.0, 2.0, 4.0, 6.0])
    # as (models, samples) matrices, either order of the arguments gives the per-sample epsilon above
    a, b = pos[:, None], neg[:, None]
    assert example_epsilons(a, b)[0] == example_epsilons(b, a)[0] == example_epsilon(pos, neg)


def test_bucketed_score_by_hand():
    # K = 8: ceil(log 7) = 2, four buckets of width 0.5 worth 1, 1/2, 1/4, 1/8; beyond 2: nothing
    assert bucket_points(8) == [(0.5, 1.0), (1.0, 0.5), (1.5, 0.25), (2.0, 0.125)]
    assert score_of_epsilons(np.array([0.0, 0.49, 0.5, 1.2, 1.99, 2.0, 50.0]), 8) == pytest.approx(
        (1 + 1 + 0.5 + 0.25 + 0.125 + 0 + 0) / 7)
    # K = 32 (ceil(log 31) = 4): eight buckets; K = 512 (the challenge's): fourteen
    assert len(bucket_points(32)) == 8 and len(bucket_points(512)) == 14
    assert math.isclose(max_resolvable_epsilon(32), math.log(31 - 32 * DELTA))


def test_ulira_degenerate_populations_give_numbers_never_nan():
    equal = np.full((8, 3), 1.5)
    assert ulira_acc(equal, equal.copy()).value == 0.5  # every ratio 0: half right
    assert ulira_acc(equal, equal - 1.0).value == 1.0
    right_u, right_o = ulira_correct(equal, equal)
    assert np.all(right_u == 0.5) and np.all(right_o == 0.5)


@pytest.mark.parametrize("a, b, reason", [
    (np.zeros((3, 5)), np.zeros((8, 5)), "too few models"),
    (np.zeros((8, 5)), np.zeros((8, 4)), "same samples"),
    (np.zeros((8, 0)), np.zeros((8, 0)), "no forget samples"),
    (np.full((8, 2), np.nan), np.zeros((8, 2)), "non-finite"),
])
def test_inputs_that_cannot_be_measured_give_missing_with_a_reason(a, b, reason):
    for got in (ulira_acc(a, b), forget_score(a, b)):
        assert isinstance(got, Missing) and reason in got.reason


def test_same_seed_same_interval_another_seed_another_interval():
    u, r = populations(0.5, k=16, n=20)
    assert ulira_acc(u, r, seed=3) == ulira_acc(u, r, seed=3)
    assert ulira_acc(u, r, seed=3).value == ulira_acc(u, r, seed=4).value
    assert (ulira_acc(u, r, seed=3).low, ulira_acc(u, r, seed=3).high) != (ulira_acc(u, r, seed=4).low,
                                                                            ulira_acc(u, r, seed=4).high)
    assert forget_score(u, r) == forget_score(u.copy(), r.copy())


def test_leave_one_out_fit_by_hand():
    # one sample; unlearned phi [0, 1, 2, 3], oracles [10, 11, 12, 13]: every target lands far in its own
    # population's (leave-one-out) Gaussian and far outside the other's -> all right
    u, o = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[10.0], [11.0], [12.0], [13.0]])
    right_u, right_o = ulira_correct(u, o)
    assert np.all(right_u == 1.0) and np.all(right_o == 1.0)
    # the unlearned target at 0 (seed 0) is judged by the other unlearned models' fit, [1, 2, 3]: mean 2,
    # variance 2/3, against the oracles' without seed 0, [0, 1, 2]: mean 1, the same variance; the log ratio
    # -(0 - 2)^2 / (4/3) + (0 - 1)^2 / (4/3) = -2.25 < 0: called retrained, wrong
    right_u, _ = ulira_correct(u, np.array([[5.0], [0.0], [1.0], [2.0]]))
    assert right_u[0, 0] == 0.0
    # both fits rest on K - 1 models: a population against a copy of itself is a tie everywhere
    right_u, right_o = ulira_correct(u, u.copy())
    assert np.all(right_u == 0.5) and np.all(right_o == 0.5)


def test_ulira_is_calibrated_on_small_identical_populations():
    """Both fits leave one model out, so two samples of one population are told apart half the time, even
    with 4 models each (the null reference of K = 8); over 200 draws the mean is within 3 standard errors."""
    g = np.random.default_rng(1)
    accs = []
    for _ in range(200):
        u, r = populations(0.0, k=4, n=30, seed=int(g.integers(1 << 30)))
        right_u, right_o = ulira_correct(u, r)
        accs.append(0.5 * (right_u.mean() + right_o.mean()))
    assert abs(np.mean(accs) - 0.5) < 3 * np.std(accs) / np.sqrt(len(accs))


def test_null_calibration_over_random_half_splits():
    """Identical oracles: random half-splits average 0.5 (within 3 standard errors of the splits' mean) with a
    positive spread. Oracles of two kinds (the first half shifted): a fixed first-vs-second split would see it
    (ulira_acc near 1), random splits mostly mix the kinds and average far below that."""
    oracles, _ = populations(0.0, k=16, n=30, seed=3)
    mean, sd = null_calibration(oracles, n_splits=100, seed=0)
    assert sd > 0 and abs(mean - 0.5) < 3 * sd / math.sqrt(100)
    assert null_calibration(oracles, n_splits=100, seed=0) == (mean, sd)  # seeded
    shifted, rest = populations(6.0, k=8, n=30, seed=4)
    two_kinds = np.concatenate([shifted, rest])
    right_u, right_o = ulira_correct(*halves(two_kinds))
    assert 0.5 * (right_u.mean() + right_o.mean()) > 0.95
    assert null_calibration(two_kinds, n_splits=100, seed=0)[0] < 0.8
    assert isinstance(null_calibration(oracles[:6]), Missing)  # 3 vs 3: too few models

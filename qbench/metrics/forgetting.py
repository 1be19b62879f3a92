"""Per-example membership tests over many models: ``ulira_acc`` and ``forget_score`` (PROTOCOL 4.9, protocol 3).

Inputs are matrices of phi, one row per model and one column per forget sample: phi is the model's logit
signed toward the sample's label as trained (the flipped label). For a sigmoid output it equals the
challenge's logit-scaled confidence log p_y - log(1 - p_y).

**U-LiRA** (Hayes et al. 2024, "Inexact unlearning needs more careful evaluations", arXiv 2403.01218,
as PROTOCOL 4.9 and issue 32 state it; the authors' code is not in the reference index):
- per forget sample, one Gaussian is fitted to phi over the unlearned models and one over the oracles
  (maximum-likelihood mean and standard deviation, as ``scipy.stats.norm.fit``), leaving out the model
  under attack and, from the other population, the model of the same seed **(qbench choice)**: both fits
  then rest on K - 1 models, so that two samples of one population are told apart with probability 1/2
  exactly (leaving out only the target, a fit on K - 1 models against one on K, gave 0.46 at K = 4 and
  0.495 at K = 8 on identical Gaussian populations: the smaller sample's narrower fit loses);
- the model is called unlearned when its log likelihood ratio log N(phi; unlearned) - log N(phi; oracles)
  is > 0 and retrained when it is < 0; a ratio of exactly 0 counts half right **(qbench choice)**;
- ``ulira_acc`` is the balanced accuracy over all (model, sample) pairs: the mean of the unlearned
  targets' accuracy and the oracle targets' accuracy;
- its 95% interval: a bootstrap over models, :data:`BOOTSTRAP` draws, seeded: each draw
  resamples each population's models with replacement and repeats the whole attack on the draw (a model
  drawn m times counts m times in the fits and as a target; leaving a target out leaves out all its
  copies). Refitting matters: the models' spread is shared by every sample's fit, so a bootstrap of the
  targets alone (fits fixed) gave intervals that excluded 0.5 on the null reference of a real run. The
  interval is the basic (reflected) one, 2 x estimate - the draws' 97.5% and 2.5% quantiles, clipped to
  [0, 1]: a draw holds about 63% of the models, so its attack is weaker than the estimate's and the plain
  percentile interval would lean toward 0.5 (measured: 0.52-0.555 around 0.5475, K = 32).
- A standard deviation below :data:`SD_FLOOR` x max(1, |mean|) is raised to it (a population with one
  value everywhere still gives a finite ratio, and two equal constants a ratio of 0).

**forget_score** follows the NeurIPS 2023 Machine Unlearning challenge's ``metric.py``
(google-deepmind/unlearning_evaluation, commit ffae0ff): per sample, the population with the larger
median is "positive"; the epsilon is the largest, over two families of threshold attacks, of
max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR), clipped at 0, delta = 1e-5:
- single threshold: positive iff phi >= t, t between the smallest and the largest value;
- double threshold: the population with the smaller range ("peakier") is predicted when l <= phi <= r,
  with r - l in [w - 2, w + 2] (w: the smaller range) and r in [min + w - 2, max + 2] of the peakier one;
- a threshold with FPR = FNR = 0 gives epsilon infinity; one with only one of them 0 is dropped
  (too few models to resolve it); epsilons are clipped to [0, :data:`EPSILON_CAP`];
- a sample whose smaller range is below 1% of the larger gets :data:`EPSILON_CAP` outright.
The score: epsilon buckets of width 0.5 from 0, worth 1, 1/2, 1/4, ... up to ceil(log(K - 1)) (K: the
number of models); an epsilon beyond the last bucket scores 0; the mean over the forget samples.

Where qbench departs from ``metric.py`` (all in docs/protocol.md 4.9):
- Thresholds are exact: every distinct outcome of both families is evaluated, where ``metric.py`` steps
  the thresholds on a grid of 0.01 (100 per unit). This is the grid's limit as its step goes to 0; it
  finds an epsilon at least as large, equal unless two outputs lie within 0.01 of each other.
- Two cases ``metric.py`` leaves undefined (it divides 0 by 0, or its assertion fails) get a rule: both
  populations constant: epsilon 0 if the constants are equal, :data:`EPSILON_CAP` if not; no threshold
  with both error rates non-zero (possible only with tied outputs, which then separate the populations
  except at the tie): :data:`EPSILON_CAP`.
- The score is used alone: the challenge multiplies it by the retain and test accuracy ratios to the
  retrained models; qbench reports ``val_acc`` and ``retain_acc`` beside it instead.
- The challenge's unlearned models all start from one original model; qbench's start from one poisoned
  model per seed, so their spread covers the poisoning too.

With K models a finite epsilon is at most log(K - 1 - K delta) (:func:`max_resolvable_epsilon`: the rates
are multiples of 1/K, so the best finite ratio is (1 - delta - 1/K) / (1/K)): 1.95 for K = 8, 3.43 for
K = 32 (the challenge's 512: 6.24). A larger difference only shows as perfect separation. The same
granularity sets the score's floor for identical populations, which the ``null`` reference row measures.

numpy (and scipy's t quantile): no TensorFlow, no scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, TypeVar

import numpy as np

from qbench.metrics.registry import Missing
from qbench.seeding import rng

DELTA = 1e-5
EPSILON_CAP = 50.0
BUCKET = 0.5
#: the double-threshold family's slack around the peakier population's range (``metric.py``'s buffer)
BUFFER = 2.0
#: below this ratio of the smaller range to the larger, a sample's epsilon is the cap (``metric.py``)
PEAKY_RATIO = 0.01
BOOTSTRAP = 1000
BOOTSTRAP_CHUNK = 50
T = TypeVar("T")
SD_FLOOR = 1e-6
#: fewest models in a population (leave-one-out then fits on at least 3)
MIN_MODELS = 4


def phi(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The logit signed toward each sample's label: ``logits`` (..., n), ``labels`` (n,) in {0, 1}."""
    sign = np.where(np.asarray(labels).reshape(-1) == 1, 1.0, -1.0)
    return np.asarray(logits, dtype=np.float64) * sign


def max_resolvable_epsilon(k: int, delta: float = DELTA) -> float:
    """The largest finite epsilon a threshold attack can show with ``k`` models per population."""
    return math.log((1.0 - delta - 1.0 / k) * k)


def _problem(a: np.ndarray, b: np.ndarray) -> str | None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        return f"phi must be (models, samples) matrices over the same samples, got {a.shape} and {b.shape}"
    if a.shape[1] == 0:
        return "no forget samples"
    if min(a.shape[0], b.shape[0]) < MIN_MODELS:
        return f"too few models: {a.shape[0]} and {b.shape[0]} (need {MIN_MODELS} in each population)"
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return "non-finite outputs"
    return None


# ----------------------------------------------------------------------------------------------------------
# The challenge's per-example epsilon and forget score


def _epsilon_of_rates(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
    """Per threshold: inf (perfect separation), NaN (dropped: one rate 0, or both 1) or the clipped epsilon."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(1 - delta - fpr > 0, np.log(np.maximum(1 - delta - fpr, 1e-300)) - np.log(fnr), np.nan)
        b = np.where(1 - delta - fnr > 0, np.log(np.maximum(1 - delta - fnr, 1e-300)) - np.log(fpr), np.nan)
    both_nan = np.isnan(a) & np.isnan(b)
    eps = np.clip(np.fmax(a, b), 0.0, None)
    eps[both_nan] = np.nan
    eps[(fpr == 0) != (fnr == 0)] = np.nan  # exactly one rate 0: too few models to resolve it
    eps[(fpr == 0) & (fnr == 0)] = np.inf
    return eps


def _counts_at_or_above(sorted_x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return len(sorted_x) - np.searchsorted(sorted_x, t, side="left")


def _single_threshold_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of "positive iff phi >= t" for every distinct outcome (t at each observed value)."""
    u = np.unique(np.concatenate([pos, neg]))
    tpr = _counts_at_or_above(np.sort(pos), u) / len(pos)
    fpr = _counts_at_or_above(np.sort(neg), u) / len(neg)
    return fpr, 1.0 - tpr


def _double_threshold_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of "the peakier population iff l <= phi <= r" for every distinct outcome the family allows."""
    if np.ptp(pos) >= np.ptp(neg):  # the peakier one is "positive" (metric.py: ties make neg positive)
        pos, neg = neg, pos
    w = np.ptp(pos)
    r_min, r_max = pos.min() + w - BUFFER, pos.max() + BUFFER
    u = np.unique(np.concatenate([pos, neg]))
    m = len(u)
    below = np.concatenate([[-np.inf], u[:-1]])  # the value before u_i
    above = np.concatenate([u[1:], [np.inf]])  # the value after u_j
    i, j = np.triu_indices(m)  # the outcome "values u_i .. u_j inside": l in (u_{i-1}, u_i], r in [u_j, u_{j+1})
    r_lo = np.maximum(u[j], r_min)
    r_hi = np.minimum(above[j], r_max)
    ok = (r_lo <= r_max) & (r_lo < above[j])
    length_lo, length_hi = r_lo - u[i], r_hi - below[i]  # r - l ranges over [length_lo, length_hi)
    ok &= (length_lo <= w + BUFFER) & (length_hi > w - BUFFER)
    i, j = i[ok], j[ok]
    cum_pos = np.concatenate([[0], np.cumsum(_multiplicity(u, pos))])
    cum_neg = np.concatenate([[0], np.cumsum(_multiplicity(u, neg))])
    tpr = (cum_pos[j + 1] - cum_pos[i]) / len(pos)
    fpr = (cum_neg[j + 1] - cum_neg[i]) / len(neg)
    return fpr, 1.0 - tpr


def _multiplicity(u: np.ndarray, x: np.ndarray) -> np.ndarray:
    """How many entries of ``x`` equal each value of the sorted unique ``u``."""
    sx = np.sort(x)
    return np.searchsorted(sx, u, side="right") - np.searchsorted(sx, u, side="left")


def example_epsilon(pos: np.ndarray, neg: np.ndarray, delta: float = DELTA) -> float:
    """One sample's epsilon from its outputs under two populations; ``pos``: the one with the larger median."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    ranges = sorted((np.ptp(pos), np.ptp(neg)))
    if ranges[1] == 0:  # both constant (metric.py divides 0 by 0 here)
        return 0.0 if pos[0] == neg[0] else EPSILON_CAP
    if ranges[0] / ranges[1] < PEAKY_RATIO:
        return EPSILON_CAP
    rates = [_double_threshold_rates(pos, neg), _single_threshold_rates(pos, neg)]
    eps = _epsilon_of_rates(np.concatenate([r[0] for r in rates]), np.concatenate([r[1] for r in rates]), delta)
    eps = eps[~np.isnan(eps)]
    if len(eps) == 0:  # only with tied outputs (metric.py's assertion fails here); see the module docstring
        return EPSILON_CAP
    return float(np.clip(eps.max(), 0.0, EPSILON_CAP))


def example_epsilons(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """Each forget sample's epsilon: ``unlearned`` and ``retrained`` are (models, samples) phi matrices."""
    unlearned, retrained = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    retrained_pos = np.median(retrained, axis=0) > np.median(unlearned, axis=0)
    return np.array([example_epsilon(*((retrained[:, s], unlearned[:, s]) if retrained_pos[s]
                                       else (unlearned[:, s], retrained[:, s])), delta=delta)
                     for s in range(unlearned.shape[1])])


def bucket_points(k: int) -> list[tuple[float, float]]:
    """The score's buckets for ``k`` models: (upper edge, points), edges 0.5, 1.0, ... up to ceil(log(k - 1))."""
    top = math.ceil(math.log(k - 1)) if k > 2 else 0
    out, start, points = [], 0.0, 1.0
    while start + BUCKET <= top:
        out.append((start + BUCKET, points))
        start, points = start + BUCKET, points / 2
    return out


def example_points(eps: np.ndarray, k: int) -> np.ndarray:
    """Each epsilon's bucket points for ``k`` models (0 beyond the last bucket)."""
    buckets = bucket_points(k)
    return np.array([next((p for edge, p in buckets if e < edge), 0.0) for e in np.asarray(eps, dtype=np.float64)])


def score_of_epsilons(eps: np.ndarray, k: int) -> float:
    """The challenge's score: each epsilon's bucket points (0 beyond the last bucket), averaged."""
    return float(np.mean(example_points(eps, k)))


def forget_score(unlearned: np.ndarray, retrained: np.ndarray) -> float | Missing:
    """``forget_score`` of two (models, samples) phi matrices (1: indistinguishable), or Missing with why.
    K for the buckets is the unlearned population's model count, as in ``metric.py``."""
    unlearned, retrained = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    problem = _problem(unlearned, retrained)
    if problem:
        return Missing(problem)
    return score_of_epsilons(example_epsilons(unlearned, retrained), unlearned.shape[0])


def forget_score_interval(unlearned: np.ndarray, retrained: np.ndarray) -> Interval | Missing:
    """``forget_score`` with a 95% interval over the forget samples (Student t on the samples' points, the
    models fixed, clipped to [0, 1]; a single sample: the interval is [0, 1]), or Missing with why."""
    from scipy.stats import t

    unlearned, retrained = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    problem = _problem(unlearned, retrained)
    if problem:
        return Missing(problem)
    points = example_points(example_epsilons(unlearned, retrained), unlearned.shape[0])
    value, n = float(np.mean(points)), len(points)
    if n < 2:
        return Interval(value, 0.0, 1.0)
    half = float(t.ppf(0.975, n - 1)) * float(np.std(points, ddof=1)) / math.sqrt(n)
    return Interval(value, max(0.0, value - half), min(1.0, value + half))


# ----------------------------------------------------------------------------------------------------------
# U-LiRA


@dataclass(frozen=True)
class Interval:
    """A value with its 95% interval."""

    value: float
    low: float
    high: float


def _fits_without(x: np.ndarray, w: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw and target, the Gaussian fitted to the rows of ``x`` (K, n) weighted by ``w`` (B, K: how often
    each row is in the draw) without row ``drop[t]``: (mean, sd, usable), shapes (B, T, n) and (B, T)."""
    c = x.mean(axis=0)
    d = x - c  # centred, for the sums
    s0 = w.sum(axis=1)[:, None] - w[:, drop]  # (B, T)
    s1 = (w @ d)[:, None, :] - w[:, drop, None] * d[drop][None]
    s2 = (w @ (d * d))[:, None, :] - w[:, drop, None] * (d[drop] ** 2)[None]
    usable = s0 > 0
    n = np.where(usable, s0, 1.0)[:, :, None]
    mean = s1 / n
    sd = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
    return mean + c, _floored(sd, mean + c), usable


def _floored(sd: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return np.maximum(sd, SD_FLOOR * np.maximum(1.0, np.abs(mu)))


def _log_normal(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)  # the 2 pi term cancels in a ratio


def _right(own: np.ndarray, w_own: np.ndarray, other: np.ndarray, w_other: np.ndarray) -> np.ndarray:
    """(B, T, n): whether each row of ``own`` is called a member of its own population rather than of
    ``other`` in each draw: 1, 0, or 0.5 for a tie or a draw with nothing left to fit."""
    t = np.arange(own.shape[0])
    mu_a, sd_a, ok_a = _fits_without(own, w_own, t)
    mu_b, sd_b, ok_b = _fits_without(other, w_other, t % other.shape[0])  # the same seed's row left out
    llr = _log_normal(own[None], mu_a, sd_a) - _log_normal(own[None], mu_b, sd_b)
    right = np.where(llr == 0, 0.5, (llr > 0).astype(np.float64))
    return np.where((ok_a & ok_b)[:, :, None], right, 0.5)


def ulira_correct(unlearned: np.ndarray, oracles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (model, sample) pair, whether U-LiRA calls it right (1, 0, or 0.5 for a tie): unlearned targets
    (shape of ``unlearned``) and oracle targets (shape of ``oracles``). The target's row is left out of its
    own population's fit and the row of the same position (the same seed) out of the other's."""
    wu, wo = np.ones((1, unlearned.shape[0])), np.ones((1, oracles.shape[0]))
    return _right(unlearned, wu, oracles, wo)[0], _right(oracles, wo, unlearned, wu)[0]


def _balanced(unlearned: np.ndarray, oracles: np.ndarray, wu: np.ndarray, wo: np.ndarray) -> np.ndarray:
    """Balanced accuracy per draw (B,): each target counted as often as its row is drawn."""
    per_u = _right(unlearned, wu, oracles, wo).mean(axis=2)  # (B, Ku)
    per_o = _right(oracles, wo, unlearned, wu).mean(axis=2)
    return 0.5 * ((wu * per_u).sum(axis=1) / wu.sum(axis=1) + (wo * per_o).sum(axis=1) / wo.sum(axis=1))


def ulira_acc(unlearned: np.ndarray, oracles: np.ndarray, seed: int = 0,
              n_boot: int = BOOTSTRAP) -> Interval | Missing:
    """``ulira_acc`` of two (models, samples) phi matrices with its bootstrap 95% interval over models
    (0.5: the unlearned models cannot be told from the oracles), or Missing with why."""
    unlearned, oracles = np.asarray(unlearned, dtype=np.float64), np.asarray(oracles, dtype=np.float64)
    problem = _problem(unlearned, oracles)
    if problem:
        return Missing(problem)
    ku, ko = unlearned.shape[0], oracles.shape[0]
    value = float(_balanced(unlearned, oracles, np.ones((1, ku)), np.ones((1, ko)))[0])
    g = rng(seed, "ulira_bootstrap")
    draws = []
    for start in range(0, n_boot, BOOTSTRAP_CHUNK):  # bounded memory: (chunk, K, K-ish, n) never built at once
        b = min(BOOTSTRAP_CHUNK, n_boot - start)
        wu = np.stack([np.bincount(g.integers(0, ku, ku), minlength=ku) for _ in range(b)]).astype(np.float64)
        wo = np.stack([np.bincount(g.integers(0, ko, ko), minlength=ko) for _ in range(b)]).astype(np.float64)
        draws.append(_balanced(unlearned, oracles, wu, wo))
    q_low, q_high = np.percentile(np.concatenate(draws), [2.5, 97.5])
    # the basic bootstrap interval: a draw holds about 63% of the models, so its attack is weaker and the
    # draws sit below the estimate; reflecting the quantiles about it corrects that shift to first order
    return Interval(value, float(np.clip(2 * value - q_high, 0.0, 1.0)), float(np.clip(2 * value - q_low, 0.0, 1.0)))


# ----------------------------------------------------------------------------------------------------------
# Reference rows


#: random half-splits of the oracles behind the ``null`` row's calibration figures
NULL_SPLITS = 200


def null_calibration(oracles: np.ndarray, n_splits: int = NULL_SPLITS, seed: int = 0) -> tuple[float, float] | Missing:
    """(mean, sd) of ulira_acc over ``n_splits`` seeded random half-splits of the oracles' (models, samples) phi.

    One split (the ``null`` row: first half of the seeds against the second) scatters around 0.5 by the
    models' own spread: the split-to-split sd is that scatter, and a mean near 0.5 shows the test is
    calibrated on the suite's own outputs, where a single split only gives one draw."""
    oracles = np.asarray(oracles, dtype=np.float64)
    h = oracles.shape[0] // 2 if oracles.ndim == 2 else 0
    problem = _problem(oracles[:h], oracles[h:2 * h]) if h else "no oracles"
    if problem:
        return Missing(problem)
    g = rng(seed, "null_calibration")
    accs = []
    for _ in range(n_splits):
        p = g.permutation(oracles.shape[0])
        right_u, right_o = ulira_correct(oracles[p[:h]], oracles[p[h:2 * h]])
        accs.append(0.5 * (right_u.mean() + right_o.mean()))
    return float(np.mean(accs)), float(np.std(accs, ddof=1))


def halves(oracles: Sequence[T]) -> tuple[Sequence[T], Sequence[T]]:
    """The ``null`` reference's two populations: the first and the second half of the oracles (rows of a phi
    matrix, or records, in seed order; an odd last one is left out)."""
    h = len(oracles) // 2
    return oracles[:h], oracles[h:2 * h]

"""Statistics over seeds and their fixed-format text: mean ± std with n, Student-t intervals, rank groups."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

DASH = "–"


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> "Stat":
        xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        n = len(xs)
        if n == 0:
            return cls(math.nan, math.nan, 0)
        mean = math.fsum(xs) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
        return cls(mean, std, n)

    def ci95(self) -> tuple[float, float]:
        """95% confidence interval of the mean, Student t with n - 1 degrees of freedom;
        unbounded with fewer than two seeds (nothing can be claimed)."""
        if self.n < 2:
            return (-math.inf, math.inf)
        half = t_quantile(0.975, self.n - 1) * self.std / math.sqrt(self.n)
        return (self.mean - half, self.mean + half)


@dataclass(frozen=True)
class Bounds:
    """A value with a 95% interval computed elsewhere (a bootstrap's, say), ranked like a :class:`Stat` by
    :func:`rank_groups`; ``n`` 0: no value."""

    mean: float
    low: float
    high: float
    n: int = 1

    def ci95(self) -> tuple[float, float]:
        return (self.low, self.high)


def diff_ci95(a: Stat, b: Stat) -> tuple[float, float]:
    """95% confidence interval of mean(a) - mean(b) from two independent samples over seeds: Welch's t
    (unequal variances, Welch-Satterthwaite degrees of freedom); a point where neither sample varies;
    unbounded where either has fewer than two values (nothing can be claimed)."""
    if a.n < 2 or b.n < 2:
        return (-math.inf, math.inf)
    diff, va, vb = a.mean - b.mean, a.std ** 2 / a.n, b.std ** 2 / b.n
    if va + vb == 0.0:
        return (diff, diff)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    half = t_quantile(0.975, df) * math.sqrt(va + vb)
    return (diff - half, diff + half)


def t_quantile(p: float, df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(p, df))


def fmt_num(x: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    out = f"{x:.{digits}f}"
    return "0." + "0" * digits if out == "-0." + "0" * digits else out  # no '-0.000'


def fmt_stat(s: Stat, digits: int = 3, row_n: int | None = None) -> str:
    """'mean ± std'; '(n=k)' appended where the cell's seed count differs from its row's."""
    if s.n == 0:
        return DASH
    text = f"{fmt_num(s.mean, digits)} ± {fmt_num(s.std, digits) if s.n > 1 else DASH}"
    if row_n is None or s.n != row_n:
        text += f" (n={s.n})"
    return text


def fmt_ci(s: Stat, digits: int = 3, bounds: tuple[float, float] | None = None) -> str:
    """'[lo, hi]', the 95% interval of the mean; ``bounds`` clips it to the range the metric can take
    (an accuracy's mean lies in [0, 1], so the part of a t interval outside says nothing)."""
    lo, hi = s.ci95()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return DASH
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return f"[{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def rank_groups(stats: Sequence[tuple[str, Stat | Bounds]]) -> list[tuple[int, str, Stat | Bounds]]:
    """Rank rows by mean (higher is better, ties by name); the best remaining row leads a group that
    takes every remaining row whose 95% interval overlaps the leader's; then the next group.

    A row with fewer than two seeds has an unbounded interval and so joins the current group: the
    seeds cannot support a difference. Rows without any value come last, unranked (rank 0).
    """
    order = sorted(stats, key=lambda kv: (-kv[1].mean if kv[1].n else math.inf, kv[0]))
    ranked = [kv for kv in order if kv[1].n]
    out: list[tuple[int, str, Stat | Bounds]] = []
    rank = 0
    remaining = list(ranked)
    while remaining:
        rank += 1
        lead_lo, lead_hi = remaining[0][1].ci95()
        group, rest = [], []
        for name, s in remaining:
            lo, hi = s.ci95()
            (group if (lo <= lead_hi and lead_lo <= hi) else rest).append((name, s))
        out += [(rank, name, s) for name, s in group]
        remaining = rest
    out += [(0, name, s) for name, s in order if not s.n]
    return out


def natural_key(text: str) -> tuple:
    """'8x2' < '16x4' < '64x16'; 'n4-d5' < 'n4-d10'."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text)))


def fmt_alpha(a: float) -> str:
    return f"{a:g}"

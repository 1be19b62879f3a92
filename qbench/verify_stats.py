"""``qbench verify --statistical``: check records made on another CPU (PROTOCOL 8) by re-running every seed.

XLA compiles for the host's instruction set, so a unit made on another CPU model need not re-run bit
for bit. This check re-runs every seed of a *cell* (one suite x scenario x method x alpha, x known
fraction or grid point where the suite has them: a row of a leaderboard table) on this machine, in a
fresh worker process, and compares each metric's values over seeds with the records'.

What is compared, per unit: every non-timing numeric metric of its final record (the final step of
an unlearning unit: what the tables rank) and, for units with steps, its mean over the steps (so that
an edited curve is seen too). Each is one *test*; the tests of a cell form one family.

The test, per metric (``d_s`` = re-run minus recorded value of seed ``s``; the seeds are the same on
both sides, so the test is paired: the spread between seeds, the largest one, cancels):

1. **identical**: every seed agrees within the bit-for-bit tolerances of :mod:`qbench.verify`.
2. **equivalent**: two one-sided t-tests (TOST) on ``d`` reject ``|mean d| >= margin`` at ``alpha``
   (0.05). The margin is 0.02 for a metric bounded in [0, 1] (accuracies, MIA efficacy, gap to the
   oracle) and 5% of the records' mean magnitude for any other.
3. **differs**: not equivalent, and the paired two-sided t-test of ``mean d = 0`` rejects at
   ``alpha`` after Holm's correction over the cell's tests. A fail.
4. **inconclusive**: neither: with this many seeds the re-runs spread too widely to show equivalence
   or a difference (a chaotic unit). Reported, never a fail and never a pass.

A shift of every seed is what the paired test sees; one seed replaced by the best of many tries moves
the mean by a fifth and is found by the **per-seed check** instead: a seed whose ``|d_s|`` exceeds the
margin and lies outside the prediction interval of the other seeds' differences (Student t,
Bonferroni over seeds) is *flagged*; a flagged seed is re-run again under :data:`CONFIRM_THREADS`
(other thread counts: other XLA reductions), and **the seed differs** (a fail) when its recorded
value lies outside the prediction interval of its own re-runs widened by the margin. A seed that is
honestly chaotic spreads over its own re-runs and passes.

A cell passes when no test differs and no seed differs; it fails otherwise; it is inconclusive when
some test is and none fails. A record the re-run does not produce, another status, a null where the
other side has a number, or a config that no longer hashes to its key are disagreements (a fail).
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

from tabulate import tabulate

from qbench.errors import QbenchError
from qbench.records import schema as F

ALPHA = 0.05
#: the equivalence margin of a metric bounded in [0, 1] (absolute) and of any other (relative to its mean)
MARGIN_UNIT = 0.02
MARGIN_RELATIVE = 0.05
#: thread counts a flagged seed is re-run with again (those not already used), to see its own spread
CONFIRM_THREADS = (1, 2, 3, 4)
CONFIRM_RUNS = 3


# --- the statistics (pure functions) ------------------------------------------------------------------

def _mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    n = len(xs)
    mean = math.fsum(xs) / n
    return mean, (math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan)


def _t_sf(t: float, df: int) -> float:
    from scipy.stats import t as student

    return float(student.sf(t, df))


def _t_ppf(p: float, df: int) -> float:
    from scipy.stats import t as student

    return float(student.ppf(p, df))


def paired_p(d: Sequence[float]) -> float:
    """Two-sided p of the paired t-test of ``mean d = 0`` (all ``d`` equal: 1 if zero, else 0)."""
    mean, sd = _mean_sd(d)
    if len(d) < 2:
        return math.nan
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    return min(1.0, 2 * _t_sf(abs(mean) / (sd / math.sqrt(len(d))), len(d) - 1))


def tost_p(d: Sequence[float], margin: float) -> float:
    """p of two one-sided t-tests of ``|mean d| >= margin`` (small: the mean lies within the margin)."""
    mean, sd = _mean_sd(d)
    if len(d) < 2:
        return math.nan
    if sd == 0:
        return 0.0 if abs(mean) < margin else 1.0
    se = sd / math.sqrt(len(d))
    return max(_t_sf((mean + margin) / se, len(d) - 1), _t_sf((margin - mean) / se, len(d) - 1))


def holm(ps: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone); NaN stays NaN and is not counted."""
    order = sorted((p, i) for i, p in enumerate(ps) if not math.isnan(p))
    out = [math.nan] * len(ps)
    running, m = 0.0, len(order)
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def prediction_interval(xs: Sequence[float], alpha: float, widen: float = 0.0) -> tuple[float, float]:
    """Where one more draw like ``xs`` falls with probability 1 - alpha (Student t), widened by ``widen``."""
    mean, sd = _mean_sd(xs)
    if len(xs) < 2 or sd == 0:
        return mean - widen, mean + widen
    half = _t_ppf(1 - alpha / 2, len(xs) - 1) * sd * math.sqrt(1 + 1 / len(xs))
    return mean - half - widen, mean + half + widen


def flagged_seeds(d: Sequence[float], margin: float, alpha: float = ALPHA) -> list[int]:
    """Indices of differences beyond ``margin`` and outside the prediction interval of the others'
    (Bonferroni over the ``len(d)`` seeds); with fewer than three others every such one is flagged."""
    out = []
    for k, dk in enumerate(d):
        if abs(dk) <= margin:
            continue
        others = [x for i, x in enumerate(d) if i != k]
        if len(others) < 3:
            out.append(k)
            continue
        lo, hi = prediction_interval(others, alpha / len(d))
        if not lo <= dk <= hi:
            out.append(k)
    return out


def margin_for(metric: str, recorded: Sequence[float]) -> float:
    """The equivalence margin of ``metric`` (see the module docstring)."""
    from qbench.metrics.registry import get_metric

    try:
        bounds = get_metric(metric).bounds
    except QbenchError:
        bounds = (None, None)
    if bounds == (0.0, 1.0):
        return MARGIN_UNIT
    return MARGIN_RELATIVE * max(abs(math.fsum(recorded) / len(recorded)), 1e-6)


@dataclass
class MetricTest:
    """One metric of one cell, over its seeds."""

    name: str  # metric, with where it is taken ("val_acc", "val_acc (mean over steps)")
    metric: str
    seeds: list[int]
    recorded: list[float]
    rerun: list[float]
    margin: float = math.nan
    p_diff: float = math.nan
    p_holm: float = math.nan
    p_equiv: float = math.nan
    verdict: str = ""
    flagged: list[int] = field(default_factory=list)  # seeds flagged by the per-seed check

    @property
    def diffs(self) -> list[float]:
        return [b - a for a, b in zip(self.recorded, self.rerun)]


def judge(tests: list[MetricTest], alpha: float = ALPHA) -> None:
    """Set each test's figures and verdict (identical, equivalent, differs, inconclusive); Holm over ``tests``."""
    from qbench.verify import DEFAULT_ATOL, DEFAULT_RTOL, values_agree

    open_tests = []
    for t in tests:
        if all(values_agree(t.metric, a, b, DEFAULT_RTOL, DEFAULT_ATOL)[0] for a, b in zip(t.recorded, t.rerun)):
            t.verdict, t.margin = "identical", margin_for(t.metric, t.recorded)
            continue
        t.margin = margin_for(t.metric, t.recorded)
        t.p_diff, t.p_equiv = paired_p(t.diffs), tost_p(t.diffs, t.margin)
        t.flagged = [t.seeds[k] for k in flagged_seeds(t.diffs, t.margin, alpha)]
        open_tests.append(t)
    for t, p in zip(open_tests, holm([t.p_diff for t in open_tests])):
        t.p_holm = p
        t.verdict = ("equivalent" if t.p_equiv < alpha else "differs" if p < alpha else "inconclusive")


# --- cells: what one statistical check covers ---------------------------------------------------------

def cell_of(rec: dict) -> tuple:
    """The suite x scenario x method x alpha (x known fraction, x grid point) of a record: a table row."""
    point = json.dumps((rec.get("grid") or {}).get("point") or {}, sort_keys=True)
    return (rec[F.SUITE], rec[F.SCENARIO], str(rec.get(F.METHOD)), str(rec.get(F.ALPHA)),
            str(rec.get(F.KNOWN_FRACTION)), point)


def cell_label(cell: tuple) -> str:
    _, scenario, method, alpha, fraction, point = cell
    parts = [scenario, f"method {method}" if method != "None" else "", f"alpha {alpha}" if alpha != "None" else "",
             f"known fraction {fraction}" if fraction != "None" else "", f"point {point}" if point != "{}" else ""]
    return ", ".join(p for p in parts if p)


def _is_timing(name: str) -> bool:
    from qbench.verify import is_timing

    return is_timing(name)


def observations(records: list[dict]) -> tuple[dict[str, tuple[str, float | None]], list[str]]:
    """{test name: (metric, value)} of one unit's records (final record, and the mean over steps of a unit
    with steps), and the names not tested (lists, strings) with why."""
    out: dict[str, tuple[str, float | None]] = {}
    untested: list[str] = []
    groups: dict[str, list[dict]] = defaultdict(list)
    several_alphas = len({r.get(F.ALPHA) for r in records}) > 1  # a landscape unit covers several
    for r in records:
        if r[F.STATUS] == "ok":
            groups[f"alpha {r.get(F.ALPHA)}" if several_alphas else ""].append(r)
    for where, recs in groups.items():
        prefix = f"{where}: " if where else ""
        stepped = [r for r in recs if r.get(F.STEP) is not None]
        final = max(stepped, key=lambda r: int(r[F.STEP])) if stepped else recs[-1]
        for name, v in sorted(final[F.METRICS].items()):
            if _is_timing(name):
                continue
            if v is not None and (isinstance(v, (bool, str, list, dict)) or not isinstance(v, (int, float))):
                untested.append(f"{prefix}{name} ({type(v).__name__}-valued)")
                continue
            out[prefix + name] = (name, None if v is None else float(v))
        if len(stepped) > 1:
            names = sorted({n for r in stepped for n, v in r[F.METRICS].items()
                            if not _is_timing(n) and isinstance(v, (int, float)) and not isinstance(v, bool)})
            for name in names:
                vals = [float(r[F.METRICS][name]) for r in sorted(stepped, key=lambda r: int(r[F.STEP]))
                        if isinstance(r[F.METRICS].get(name), (int, float))]
                out[f"{prefix}{name} (mean over steps)"] = (name, math.fsum(vals) / len(vals) if vals else None)
    return dict(sorted(out.items())), sorted(set(untested))


@dataclass
class CellReport:
    cell: tuple
    units: list[str]
    tests: list[MetricTest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # disagreements that are fails by themselves
    seed_checks: list[str] = field(default_factory=list)  # what the per-seed check found (text)
    seed_fails: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.problems or self.seed_fails or any(t.verdict == "differs" for t in self.tests):
            return "FAIL"
        return "INCONCLUSIVE" if any(t.verdict == "inconclusive" for t in self.tests) else "PASS"

    def table(self) -> str:
        def p(x: float) -> str:
            return "-" if math.isnan(x) else f"{x:.3g}"

        rows = [[t.name, f"{math.fsum(t.recorded) / len(t.recorded):.6g}", f"{math.fsum(t.rerun) / len(t.rerun):.6g}",
                 f"{math.fsum(t.diffs) / len(t.diffs):+.3g}", p(t.p_holm), f"{p(t.p_equiv)} (±{t.margin:.3g})",
                 t.verdict + (f"; seeds {', '.join(map(str, t.flagged))} flagged" if t.flagged else "")]
                for t in self.tests]
        return tabulate(rows, headers=["metric", "recorded mean", "re-run mean", "mean diff", "p differ (Holm)",
                                       "p equivalent (TOST, margin)", "verdict"], tablefmt="github",
                        disable_numparse=True)


def compare_cell(cell: tuple, recorded: dict[str, list[dict]], rerun: dict[str, list[dict]],
                 alpha: float = ALPHA) -> CellReport:
    """The cell's tests from its units' recorded and re-run records (keys: unit keys)."""
    report = CellReport(cell, sorted(recorded))
    seeds, obs_rec, obs_new = [], [], []
    for key in sorted(recorded, key=lambda k: int(recorded[k][0][F.SEED])):
        old, new = recorded[key], rerun.get(key) or []
        if not new:
            report.problems.append(f"{key}: the re-run produced no records")
            continue
        status_old = sorted(r[F.STATUS] for r in old)
        status_new = sorted(r[F.STATUS] for r in new)
        if status_old != status_new or len(old) != len(new):
            failed = next((r.get(F.ERROR) for r in new if r[F.STATUS] != "ok"), "")
            report.problems.append(f"{key}: recorded {len(old)} record(s) {sorted(set(status_old))}, re-run "
                                   f"{len(new)} {sorted(set(status_new))}" + (f" ({failed})"[:120] if failed else ""))
            continue
        (a, untested_a), (b, _) = observations(old), observations(new)
        if set(a) != set(b):
            report.problems.append(f"{key}: metrics differ: {sorted(set(a) ^ set(b))[:4]}")
            continue
        seeds.append(int(old[0][F.SEED]))
        obs_rec.append(a)
        obs_new.append(b)
        report.untested = sorted(set(report.untested) | set(untested_a))
    names = sorted(set.intersection(*(set(o) for o in obs_rec))) if obs_rec else []
    for name in names:
        metric = obs_rec[0][name][0]
        pairs = [(s, o[name][1], n[name][1]) for s, o, n in zip(seeds, obs_rec, obs_new)]
        nulls = [s for s, x, y in pairs if (x is None) != (y is None)]
        if nulls:
            report.problems.append(f"{name}: null on one side only for seed(s) {', '.join(map(str, nulls))}")
            continue
        pairs = [(s, x, y) for s, x, y in pairs if x is not None]
        if not pairs:
            report.untested.append(f"{name} (null on every seed, on both sides)")
            continue
        report.tests.append(MetricTest(name, metric, [s for s, _, _ in pairs], [x for _, x, _ in pairs],
                                       [y for _, _, y in pairs]))
    judge(report.tests, alpha)
    for t in report.tests:
        if len(t.seeds) < 2 and t.verdict != "identical":
            t.verdict = "inconclusive"
    return report


# --- the command ----------------------------------------------------------------------------------

@dataclass
class StatisticalReport:
    cells: list[CellReport]
    cells_total: int
    failed_units: list[str]
    #: cells left out because their estimated re-run exceeds the budget
    over_budget: list[tuple] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.verdict != "FAIL" for c in self.cells)


def group_cells(by_unit: dict[str, list[dict]]) -> dict[tuple, list[str]]:
    cells: dict[tuple, list[str]] = defaultdict(list)
    for key, recs in by_unit.items():
        cells[cell_of(recs[0])].append(key)
    return cells


def unit_cost_s(recs: list[dict]) -> float:
    """Seconds a re-run of one unit takes, estimated from its records' timings: the unit's own wall time, plus
    the training of its starting models (poisoned, oracle) where the records trained them (a re-run trains them
    again) rather than starting from committed ones. Timings a record lacks count 0."""
    from qbench.verify import started_from_committed

    def num(x) -> float:
        return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else 0.0

    own = max((num(r[F.METRICS].get("unit_wall_s")) or num(r[F.METRICS].get("wall_s")) for r in recs), default=0.0)
    if started_from_committed(recs):
        return own
    models = {json.dumps(r.get(f), sort_keys=True, default=str): num((r.get(f) or {}).get("train_wall_s"))
              for r in recs for f in ("poisoned_model", "oracle_model") if isinstance(r.get(f), dict)}
    return own + sum(models.values())


def cell_cost_s(keys: Sequence[str], by_unit: dict[str, list[dict]]) -> float:
    """Estimated seconds to re-run every seed of a cell (:func:`unit_cost_s`, summed)."""
    return sum(unit_cost_s(by_unit[k]) for k in keys)


def verify_statistical(paths: Sequence[str], *, sample: int | None = None, seed: int = 0,
                       data_dir: str | None = None, cache_dir: str | None = None, threads: int | None = None,
                       trust_code: bool = False, alpha: float = ALPHA, confirm: bool = True,
                       only: Callable[[list[dict]], bool] | None = None, budget_s: float | None = None,
                       log: Callable[[str], None] = print) -> StatisticalReport:
    """Re-run every seed of the cells of the records under ``paths`` (all, or a seeded sample of
    ``sample`` cells; ``only``: keep a unit's records only if it says so) and test each cell.
    ``threads``: the TensorFlow thread count of every re-run (default: each record's, capped at the cores).
    ``budget_s``: only cells whose estimated re-run (:func:`cell_cost_s`) fits it are checked or sampled;
    the others are counted and named (CI's bound on its own time)."""
    from qbench.experiment import RunContext
    from qbench.verify import (
        _rerun_elsewhere,
        _unit_disagreements_before_run,
        check_named_code,
        read_selected,
        rebuild_units,
        recorded_threads,
    )

    if sample is not None and sample < 1:
        raise QbenchError(f"--sample must be >= 1, got {sample}")
    if threads is not None and threads < 1:
        raise QbenchError(f"--threads must be >= 1, got {threads}")
    by_unit, failed = read_selected(paths, only)
    cells = group_cells({k: v for k, v in by_unit.items() if k not in failed})
    if not cells:
        raise QbenchError("no successful units to verify (failed units are not re-run)")
    if budget_s is not None and not (budget_s > 0 and math.isfinite(budget_s)):
        raise QbenchError(f"--budget must be a positive number of seconds, got {budget_s}")
    names = sorted(cells)
    over: list[tuple] = []
    if budget_s is not None:
        cost = {c: cell_cost_s(cells[c], by_unit) for c in names}
        over = [c for c in names if cost[c] > budget_s]
        names = [c for c in names if cost[c] <= budget_s]
        log(f"budget {budget_s:.0f} s: {len(names)} cell(s) fit (estimated from the records' timings); "
            f"NOT checked here, over the budget: {len(over)} cell(s)"
            + (f", e.g. {cell_label(over[0])} (about {cost[over[0]]:.0f} s)" if over else ""))
        if not names:
            log("no cell fits the budget: nothing re-run")
            return StatisticalReport([], len(over), failed, over)
    chosen = sorted(random.Random(seed).sample(names, min(sample, len(names)))) if sample else names
    keys = sorted(k for c in chosen for k in cells[c])
    check_named_code([r for k in keys for r in by_unit[k]], trust_code, log)
    units = rebuild_units(keys, by_unit)
    want = {k: threads or recorded_threads(by_unit[k]) for k in keys}
    ctx = RunContext(data_dir=data_dir, cache_dir=cache_dir)
    log(f"statistical check (PROTOCOL 8): {len(chosen)} of {len(names)} cell(s) (suite x scenario x method x alpha), "
        f"{len(keys)} unit(s), every seed re-run in a fresh worker process"
        + (f" (sample seed {seed})" if sample else "") + (f"; {len(failed)} failed unit(s) not re-run" if failed else ""))
    reports = []
    with tempfile.TemporaryDirectory(prefix="qbench-verify-stat-") as tmp:
        fresh: dict[str, list[dict]] = {}
        for n in sorted(set(want.values())):
            part = [k for k in keys if want[k] == n]
            log(f"  re-running {len(part)} unit(s) with {n} TensorFlow thread(s)")
            fresh.update(_rerun_elsewhere(units, part, n, ctx, f"{tmp}/main", by_unit))
        for c in chosen:
            rec = {k: by_unit[k] for k in cells[c]}
            report = compare_cell(c, rec, {k: fresh.get(k, []) for k in cells[c]}, alpha)
            for k in cells[c]:
                report.problems += [f"{k}: {d.metric} {d.recorded} vs {d.rerun}"
                                    for d in _unit_disagreements_before_run(k, by_unit[k], units[k])]
            if confirm:
                _confirm_flagged(report, rec, units, want, ctx, f"{tmp}/confirm", alpha, log)
            reports.append(report)
    return StatisticalReport(reports, len(names) + len(over), failed, over)


def _confirm_flagged(report: CellReport, recorded: dict[str, list[dict]], units: dict, want: dict[str, int], ctx,
                     tmp: str, alpha: float, log: Callable[[str], None]) -> None:
    """Re-run each flagged seed under other thread counts; a recorded value outside its own re-runs' spread fails."""
    from qbench.verify import _rerun_elsewhere

    by_seed = {int(recs[0][F.SEED]): k for k, recs in recorded.items()}
    flagged = sorted({s for t in report.tests if t.verdict != "identical" for s in t.flagged})
    for s in flagged:
        key = by_seed[s]
        counts = [n for n in CONFIRM_THREADS if n != want[key]][:CONFIRM_RUNS]
        log(f"  seed {s} flagged: re-running {key} with {', '.join(map(str, counts))} thread(s) to see its own spread")
        runs = [observations(_rerun_elsewhere(units, [key], n, ctx, f"{tmp}/{s}-{n}", recorded)[key])[0]
                for n in counts]
        for t in report.tests:
            if s not in t.flagged:
                continue
            i = t.seeds.index(s)
            own = [t.rerun[i]] + [r[t.name][1] for r in runs if r.get(t.name, (None, None))[1] is not None]
            lo, hi = prediction_interval(own, alpha, widen=t.margin)
            line = (f"seed {s}, {t.name}: recorded {t.recorded[i]:.6g}; its {len(own)} re-run(s) "
                    f"{', '.join(f'{v:.6g}' for v in own)}; prediction interval ± margin [{lo:.6g}, {hi:.6g}]")
            if lo <= t.recorded[i] <= hi:
                report.seed_checks.append(line + ": within (a seed that spreads under other numerics)")
            else:
                report.seed_fails.append(line + ": OUTSIDE (the recorded seed is not what this seed gives)")


def print_report(report: StatisticalReport, log: Callable[[str], None] = print) -> None:
    """Per cell: its table (both means, the tests' figures, the verdicts), the per-seed checks, what was not tested."""
    for c in report.cells:
        log(f"\n{c.verdict}: {cell_label(c.cell)} ({len(c.units)} unit(s))")
        if c.tests:
            log(c.table())
        for line in c.problems:
            log(f"  disagreement: {line}")
        for line in c.seed_fails:
            log(f"  per-seed check FAILED: {line}")
        for line in c.seed_checks:
            log(f"  per-seed check: {line}")
        if c.untested:
            log(f"  not tested statistically: {'; '.join(c.untested)}")
    if report.over_budget:
        log(f"\nNOT checked: {len(report.over_budget)} cell(s) whose estimated re-run exceeds the budget: "
            + "; ".join(cell_label(c) for c in report.over_budget[:5])
            + (f"; and {len(report.over_budget) - 5} more" if len(report.over_budget) > 5 else ""))
    counts = defaultdict(int)
    for c in report.cells:
        counts[c.verdict] += 1
    log(f"\n{len(report.cells)} cell(s) checked statistically (alpha {ALPHA}, Holm over each cell's metrics, "
        f"TOST margins ±{MARGIN_UNIT} for [0, 1] metrics, ±{MARGIN_RELATIVE:.0%} of the mean for others): "
        f"{counts['PASS']} pass, {counts['FAIL']} fail, {counts['INCONCLUSIVE']} inconclusive"
        + (" (inconclusive: the seeds spread too widely to show equivalence or a difference; not a failure)"
           if counts["INCONCLUSIVE"] else ""))

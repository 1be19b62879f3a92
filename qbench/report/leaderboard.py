"""The leaderboard: markdown tables from records only, written between two marker comments.

Every cell is the mean ± sample standard deviation over seeds; each table has a column ``n`` (the
number of seeds of the row) and a cell whose count differs says ``(n=k)``. Records of different
protocol versions land in different tables. Failed units are counted in a note under their table and
never averaged. The output depends only on the records: everything is sorted, numbers have a fixed
format, there is no timestamp; regenerating from the same records gives the same bytes.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tabulate import tabulate

from qbench.errors import QbenchError
from qbench.files import new_temp_file
from qbench.records import schema as F
from qbench.records.protocol_rules import check_task_option_rules, table_protocol
from qbench.records.checks import (check_complete_steps, check_one_variant, check_publication, check_same_seeds,
                                   check_unit_steps, seeds_by_row, split_failed)
from qbench.report.conformance import Deviation, split_protocol
from qbench.report.registry import RECORD_CHECKS, SECTIONS, leaderboard_section, record_check, section_suites
from qbench.metrics.curves import steps_to_reach
from qbench.metrics.registry import get_metric
from qbench.models import model_info, registered_models
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_ci, fmt_num, fmt_stat, natural_key, rank_groups

START = "<!-- qbench:leaderboard:start -->"
END = "<!-- qbench:leaderboard:end -->"
WITHIN = 0.05  # the 5-point rule: largest alpha whose mean val_acc stays within 0.05 of the clean one
#: the built-in models' places in tables (their registrations' ``order``); any other model comes after them
MODEL_ORDER = {m: model_info(m).order for m in registered_models()}
CORRUPTION_ORDER = {"label_flip": 0, "feature_randomization": 1}
METHOD_ORDER = {m: i for i, m in enumerate(("retrain", "finetune", "gradient_ascent", "scrub", "scrub_alternating",
                                             "neg_grad_plus", "random_labels", "salun", "l1_sparse", "bad_teacher"))}


@dataclass
class Section:
    heading: str
    body: str
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = [f"#### {self.heading}", "", self.body]
        if self.notes:
            parts += [""] + [f"_{n}_" if not n.startswith("- ") else n for n in self.notes]
        return "\n".join(parts)


def family(rec: dict) -> str:
    """The scenario family ('landscape', 'landscape-study', ...): scenario name up to its first '/'."""
    return str(rec.get(F.SCENARIO) or rec[F.SUITE]).split("/", 1)[0]


def _heading(*parts: Any, protocol: str, fam: str, suite: str, records: Sequence[dict] = (), ranked: bool = True) -> str:
    extra = f"{fam}, " if fam != suite else ""
    return " · ".join(str(p) for p in parts) + f" ({extra}protocol {protocol}{'' if ranked else _not_protocol(records)})"


def _not_protocol(records: Sequence[dict]) -> str:
    quick = bool(records) and all(r[F.CONFIG].get("quick") for r in records)
    return f"; {'quick tier' if quick else 'NOT the protocol settings'}, not ranked"


def _md(headers: list[str], rows: list[list[str]], align: Sequence[str] | None = None) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True,
                    colalign=align)


def _failed_note(failed: list[dict], describe: Callable[[dict], str]) -> list[str]:
    if not failed:
        return []
    items = sorted(f"{describe(r)}: {str(r.get(F.ERROR) or 'failed').splitlines()[0][:120]}" for r in failed)
    return [f"{len(failed)} failed unit(s), not averaged:"] + [f"- {i}" for i in items]


def _group(records: Iterable[dict], key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        out[key(r)].append(r)
    return out


def _metric(r: dict, name: str) -> float | None:
    v = r[F.METRICS].get(name)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _col(metric: str) -> str:
    """A metric's column title, from its registration (qbench.metrics.registry)."""
    return get_metric(metric).column


def _sort_tables(keys: Iterable[tuple]) -> list[tuple]:
    return sorted(keys, key=lambda k: tuple((natural_key(str(x)) if x is not None else ()) for x in k))


# -- unlearning -------------------------------------------------------------------------------------
@leaderboard_section("unlearning")
def unlearning_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK], MODEL_ORDER.get(r[F.MODEL], 9), r[F.MODEL])

    tables, fails = _group(ok, tkey), _group(failed, tkey)
    sections = []
    for key in _sort_tables(set(tables) | set(fails)):
        pv, fam, task, _, model = key
        recs = tables.get(key, [])
        where = f"unlearning {task}/{model} (protocol {pv})"
        by_method = _group(recs, lambda r: (r[F.METHOD],))
        check_one_variant({m[0]: rs for m, rs in by_method.items()}, where)
        check_same_seeds(seeds_by_row(recs, fails.get(key, []), lambda r: r[F.METHOD]), where)
        body, notes = _unlearning_table(recs, where, ranked)
        notes += _failed_note(fails.get(key, []), lambda r: f"{r[F.METHOD]} seed {r[F.SEED]}")
        sections.append(Section(_heading(task, model, protocol=pv, fam=fam, suite="unlearning",
                                         records=recs + fails.get(key, []), ranked=ranked), body, notes))
    return sections


def _final_step(recs: Sequence[dict], where: str) -> int:
    """The one number of steps (config ``steps``) every unit of a table ran; bad input if they differ."""
    finals = sorted({r[F.CONFIG].get("steps") for r in recs}, key=str)
    if len(finals) != 1 or not isinstance(finals[0], int):
        raise QbenchError(f"records not fit to publish: {where}: methods ran different numbers of steps {finals}")
    return finals[0]


def _unlearning_table(recs: list[dict], where: str, ranked: bool = True) -> tuple[str, list[str]]:
    if not recs:
        return "No successful records.", []
    final = _final_step(recs, where)
    # curves[method][seed][step] = metrics
    curves: dict[str, dict[int, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in recs:
        curves[r[F.METHOD]][r[F.SEED]][r[F.STEP]] = r[F.METRICS]
    # protocol 2 (the oracle, membership inference): its columns and ranking only where its metrics are
    privacy = F.ORACLE in curves or any("mia_efficacy" in r[F.METRICS] for r in recs)
    mia, gap = get_metric("mia_efficacy"), get_metric("gap_to_oracle")
    retrain = curves.get("retrain", {})
    target = {seed: (c.get(final) or {}).get("val_acc") for seed, c in retrain.items()}
    steps_shown = [s for s in (0, 10) if s < final] + [final]
    rows: dict[str, dict[str, Any]] = {}
    for method, by_seed in curves.items():
        seeds = sorted(by_seed)
        row: dict[str, Any] = {"n": len(seeds)}
        for s in steps_shown:
            row[f"val@{s}"] = Stat.of(by_seed[seed].get(s, {}).get("val_acc") for seed in seeds)
        row["forget"] = Stat.of(by_seed[seed].get(final, {}).get("forget_acc") for seed in seeds)
        for m in (mia, gap):
            row[m.name] = Stat.of(by_seed[seed].get(final, {}).get(m.name) for seed in seeds)
        reach = [steps_to_reach({st: m.get("val_acc") for st, m in by_seed[seed].items()}, target.get(seed, math.nan))
                 for seed in seeds]
        row["reach"] = Stat.of(reach)
        row["reach_k"] = sum(1 for v in reach if math.isfinite(v))
        row["sps"] = Stat.of((by_seed[seed].get(final, {}).get("wall_s") or math.nan) / max(final, 1) for seed in seeds)
        rows[method] = row
    methods = [m for m in rows if m != F.ORACLE]
    if ranked:
        ranking = rank_groups([(m, rows[m][f"val@{final}"]) for m in methods])
        # lower is better: rank the negated gaps (the interval is symmetric, so the groups are the same)
        by_gap = {m: r for r, m, _ in rank_groups([(m, Stat(-rows[m][gap.name].mean, rows[m][gap.name].std,
                                                             rows[m][gap.name].n)) for m in methods])}
    else:
        ranking = [(None, m, None) for m in sorted(methods, key=lambda m: (METHOD_ORDER.get(m, 99), m))]
        by_gap = {}
    if F.ORACLE in rows:
        ranking.append((None, F.ORACLE, None))  # the target: shown, never ranked
    headers = (["rank"] + ([f"rank by {gap.column}"] if privacy else []) if ranked else []) + ["method"] + [
        f"{_col('val_acc')} @{s}" for s in steps_shown] + [f"95% CI {_col('val_acc')} @{final}",
                                                           f"{_col('forget_acc')} @{final}"] + (
        [f"{mia.column} @{final}", gap.column, f"95% CI {gap.column}"] if privacy else []) + [
        "steps to retrain's val_acc", "s/step", "n"]
    table = []
    for rank, method, _ in ranking:
        row = rows[method]
        n = row["n"]
        reach = row["reach"]
        oracle = method == F.ORACLE
        reach_cell = (DASH if not retrain or oracle else
                      f"{fmt_num(reach.mean, 1)} ± {fmt_num(reach.std, 1) if reach.n > 1 else DASH} ({row['reach_k']}/{n})"
                      if reach.n else f"never (0/{n})")
        gap_rank = by_gap.get(method)
        table.append(([str(rank) if rank else DASH] + ([str(gap_rank) if gap_rank else DASH] if privacy else [])
                      if ranked else []) + [f"`{method}`"]
                     + [fmt_stat(row[f"val@{s}"], 3, n) for s in steps_shown]
                     + [fmt_ci(row[f"val@{final}"], bounds=(0.0, 1.0)), fmt_stat(row["forget"], 3, n)]
                     + ([fmt_stat(row[mia.name], mia.digits, n), fmt_stat(row[gap.name], gap.digits, n),
                         fmt_ci(row[gap.name], gap.digits, bounds=(0.0, 1.0))] if privacy else [])
                     + [reach_cell, fmt_stat(row["sps"], 4, n), str(n)])
    order = (f"Ranked by val_acc at the final step ({final}); methods whose 95% interval of the mean "
             "(Student t over seeds, clipped to [0, 1]) overlaps the leader's share its rank." if ranked else
             "Not ranked: these records do not follow the protocol, so no method is placed above another; "
             "95% interval of the mean: Student t over seeds, clipped to [0, 1].")
    notes = [order + " forget_acc: agreement with the "
             "flipped labels on the forget set (lower is better). Steps to retrain's val_acc: first step at "
             "which a seed reaches the final val_acc of the same seed's `retrain` run, mean over the seeds "
             "that reach it (reached/seeds)."]
    if privacy:
        notes.append(("The two rankings: by val_acc rewards recovering accuracy on clean data, whatever the model "
                      "still remembers of the forget set; by gap_to_oracle (lower is better, same rank groups) "
                      "rewards ending where a model that never saw the forget set ends, on accuracy and privacy alike. "
                      if ranked else "") +
                     f"`{F.ORACLE}`: the model trained from a fresh initialization on the retain set with the full "
                     "recipe (PROTOCOL 4.2), the target, not ranked. "
                     f"{mia.column}: {mia.description}. {gap.column}: {gap.description}. "
                     "A cell with (n=k) has a value for k seeds only (the others' could not be computed).")
    if not retrain:
        notes.append("No `retrain` records in this table: steps to retrain's val_acc cannot be computed.")
    return _md(headers, table), notes


# -- resilience and capacity --------------------------------------------------------------------------
def max_alpha_within(means: dict[float, float], within: float = WITHIN) -> float | None:
    """Largest alpha up to which the mean val_acc stays within ``within`` of the clean (alpha 0) value:
    alphas are taken in increasing order and the first one that drops more than ``within`` below the
    clean value ends the run (a later recovery does not count). None without an alpha-0 value."""
    clean = means.get(0.0)
    if clean is None or not math.isfinite(clean):
        return None
    best = None
    for a in sorted(means):
        m = means[a]
        if m is None or not math.isfinite(m) or clean - m > within + 1e-9:
            break
        best = a
    return best


def _sweep_sections(ok: list[dict], failed: list[dict], suite: str, row_fields: tuple[str, ...],
                    ranked: bool = True) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK])

    tables, fails = _group(ok, tkey), _group(failed, tkey)
    sections = []
    for key in _sort_tables(set(tables) | set(fails)):
        pv, fam, task = key
        recs = tables.get(key, [])
        where = f"{suite} {task} (protocol {pv})"

        def rkey(r: dict) -> tuple:
            return tuple(r[f] for f in row_fields)

        cells = _group(recs, lambda r: rkey(r) + (float(r[F.ALPHA]),))
        check_one_variant({"/".join(map(str, k)): rs for k, rs in cells.items()}, where)
        check_same_seeds(seeds_by_row(recs, fails.get(key, []), lambda r: "/".join(str(r.get(f)) for f in row_fields)
                                      + f" alpha {r[F.ALPHA]}"), where)
        alphas = sorted({k[-1] for k in cells})
        row_keys = sorted({k[:-1] for k in cells}, key=lambda k: tuple(
            (MODEL_ORDER.get(v, 9) if f == F.MODEL else CORRUPTION_ORDER.get(v, 9) if f == F.CORRUPTION else 0,
             natural_key(str(v))) for f, v in zip(row_fields, k)))
        headers = list(row_fields) + [f"α={fmt_alpha(a)}" for a in alphas] + [f"max α within {WITHIN:g} of α=0", "n"]
        rows = []
        for rk in row_keys:
            stats = {a: Stat.of(_metric(r, "val_acc") for r in cells.get(rk + (a,), [])) for a in alphas}
            n = max((s.n for s in stats.values()), default=0)
            best = max_alpha_within({a: s.mean for a, s in stats.items() if s.n})
            rows.append([str(v) for v in rk] + [fmt_stat(stats[a], 3, n) for a in alphas]
                        + [DASH if best is None else fmt_alpha(best), str(n)])
        body = _md(headers, rows) if rows else "No successful records."
        notes = [f"val_acc (clean validation set) per corrupted fraction α. Last column: the largest α up to "
                 f"which the mean val_acc stays within {WITHIN:g} ({WITHIN * 100:g} points) of its α=0 value."] if rows else []
        notes += _failed_note(fails.get(key, []), lambda r: "/".join(str(r.get(f)) for f in row_fields)
                              + f" alpha {r[F.ALPHA] if r[F.ALPHA] is None else fmt_alpha(r[F.ALPHA])} seed {r[F.SEED]}")
        sections.append(Section(_heading(task, protocol=pv, fam=fam, suite=suite, records=recs + fails.get(key, []),
                                         ranked=ranked), body, notes))
    return sections


@leaderboard_section("resilience")
def resilience_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    return _sweep_sections(ok, failed, "resilience", (F.MODEL, F.MODEL_SIZE, F.CORRUPTION), ranked)


@leaderboard_section("capacity")
def capacity_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    return _sweep_sections(ok, failed, "capacity", (F.MODEL, F.MODEL_SIZE), ranked)


# -- landscape ----------------------------------------------------------------------------------------
@leaderboard_section("landscape")
def landscape_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK])

    tables, fails = _group(ok, tkey), _group(failed, tkey)
    sections = []
    for key in _sort_tables(set(tables) | set(fails)):
        pv, fam, task = key
        recs = tables.get(key, [])
        where = f"landscape {task} (protocol {pv})"
        check_one_variant({f"{m}/{s}": rs for (m, s), rs in _group(recs, lambda r: (r[F.MODEL], r[F.MODEL_SIZE])).items()},
                          where)
        cells = _group(recs, lambda r: (MODEL_ORDER.get(r[F.MODEL], 9), r[F.MODEL], r[F.MODEL_SIZE], float(r[F.ALPHA])))
        check_same_seeds(seeds_by_row(recs, fails.get(key, []), lambda r: f"{r[F.MODEL]} ({r[F.SCENARIO]})"), where)
        # the study's LRR: against the mean clean trace over seeds, per model (collapsed models excluded)
        # a seed whose clean model collapsed has no per-seed ratio at any alpha
        bad_clean = {(r[F.MODEL], r[F.MODEL_SIZE], r[F.SEED]) for r in recs
                     if float(r[F.ALPHA]) == 0.0 and r[F.METRICS].get("collapsed")}
        clean_mean: dict[tuple, float] = {}
        for k, rs in cells.items():
            if k[3] == 0.0:
                clean_mean[k[:3]] = Stat.of(_metric(r, "hessian_trace") for r in rs if not r[F.METRICS].get("collapsed")).mean
        headers = ["model", "model_size", "α", _col("hessian_trace"), f"{_col('lrr')} (same seed)",
                   f"{_col('lrr')} (vs mean clean)",
                   "top eigenvalue", "bottom eigenvalue", "collapsed", "n"]
        rows = []
        for k in sorted(cells, key=lambda k: (k[0], k[1], natural_key(k[2]), k[3])):
            rs = sorted(cells[k], key=lambda r: r[F.SEED])
            n = len({r[F.SEED] for r in rs})
            live = [r for r in rs if not r[F.METRICS].get("collapsed")]
            cm = clean_mean.get(k[:3], math.nan)
            tops = [max(r[F.METRICS]["eig_top"]) if r[F.METRICS].get("eig_top") else None for r in rs]
            bottoms = [min(r[F.METRICS]["eig_bottom"]) if r[F.METRICS].get("eig_bottom") else None for r in rs]
            rows.append([k[1], k[2], fmt_alpha(k[3]),
                         fmt_stat(Stat.of(_metric(r, "hessian_trace") for r in rs), get_metric("hessian_trace").digits, n),
                         fmt_stat(Stat.of(_metric(r, "lrr") for r in live
                                          if (r[F.MODEL], r[F.MODEL_SIZE], r[F.SEED]) not in bad_clean), 3, n),
                         fmt_stat(Stat.of((_metric(r, "hessian_trace") or math.nan) / cm if cm else math.nan
                                          for r in live), 3, n),
                         fmt_stat(Stat.of(tops), 4, n), fmt_stat(Stat.of(bottoms), 4, n),
                         str(len(rs) - len(live)), str(n)])
        body = _md(headers, rows) if rows else "No successful records."
        notes = ["Exact Hessian trace of the mean BCE at the trained parameters; LRR(α) = Tr H(α) / Tr H(0), "
                 "per seed against the same seed's clean model, and (the study's form) against the mean clean "
                 "trace over seeds. Models whose output collapsed to a constant are counted and left out of "
                 "the ratios. The top and bottom eigenvalues (Lanczos on Hessian-vector products) show the "
                 "curvature the trace hides: a negative bottom eigenvalue is a saddle direction."] if rows else []
        notes += _failed_note(fails.get(key, []), lambda r: f"{r[F.MODEL]} seed {r[F.SEED]}")
        sections.append(Section(_heading(task, protocol=pv, fam=fam, suite="landscape",
                                         records=recs + fails.get(key, []), ranked=ranked), body, notes))
    return sections


# -- sensitivity ---------------------------------------------------------------------------------------
@leaderboard_section("sensitivity")
def sensitivity_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    """Per task and model: each method's best grid point (highest mean final val_acc) beside its default's."""
    from qbench.report.sweeps import sweeps

    def tkey(r: dict) -> tuple:
        return (table_protocol(r), r[F.TASK], MODEL_ORDER.get(r[F.MODEL], 9), r[F.MODEL])

    by_table = _group(sweeps(ok), lambda sw: (sw.protocol, sw.task, MODEL_ORDER.get(sw.model, 9), sw.model))
    fails = _group(failed, tkey)
    sections = []
    for key in _sort_tables(set(by_table) | set(fails)):
        pv, task, _, model = key
        where = f"sensitivity {task}/{model} (protocol {pv})"
        rows = []
        for sw in sorted(by_table.get(key, []), key=lambda sw: (METHOD_ORDER.get(sw.method, 99), sw.method, sw.model_size)):
            check_one_variant({f"{sw.method} {sw.label(p)}": rs for p, rs in sw.records.items()}, where)
            check_same_seeds({f"{sw.method} {sw.label(p)}": {r[F.SEED] for r in rs} for p, rs in sw.records.items()}, where)
            best, n = sw.best(), len(sw.seeds)
            cell = lambda p: fmt_stat(sw.cells[p]["val_acc"], 3, n) if p is not None else DASH  # noqa: E731
            rows.append([f"`{sw.method}`", sw.model_size, ", ".join(sw.params) or DASH, str(len(sw.cells)),
                         sw.label(best), cell(best), fmt_stat(sw.cells[best]["forget_acc"], 3, n) if best is not None else DASH,
                         sw.label(sw.default) if sw.default is not None else "not on the grid", cell(sw.default),
                         ", ".join(str(s) for s in sorted(x for x in sw.steps if x is not None)) or DASH, str(n)])
        headers = ["method", "model_size", "swept", "points", "best point", f"{_col('val_acc')} (best)",
                   f"{_col('forget_acc')} (best)", "default point", f"{_col('val_acc')} (default)", "steps", "n"]
        body = _md(headers, rows) if rows else "No successful records."
        notes = ["Final val_acc after the last unlearning step at each grid point (PROTOCOL 4.7), mean ± std "
                 "over seeds; the best point is chosen by the same seeds that measure it, so its value is an "
                 "optimistic estimate. Figures: `qbench plot` (heat map or curve per method)."] if rows else []
        notes += _failed_note(fails.get(key, []), lambda r: f"{r[F.METHOD]} {r[F.SCENARIO]} seed {r[F.SEED]}")
        recs = [r for sw in by_table.get(key, []) for rs in sw.records.values() for r in rs] + fails.get(key, [])
        sections.append(Section(_heading(task, model, protocol=pv, fam="sensitivity", suite="sensitivity",
                                         records=recs, ranked=ranked), body, notes))
    return sections


# -- corrective ----------------------------------------------------------------------------------------
RECOVER_WITHIN = 0.02  # "recovers at f ≥": mean final val_acc no more than 0.02 below the method's own at f = 1


def known_fraction(rec: dict) -> float | None:
    """A corrective record's identified fraction (PROTOCOL 4.8): its own field, else its config's (the record of
    a unit that raised holds only what its config says)."""
    v = rec.get(F.KNOWN_FRACTION, rec[F.CONFIG].get(F.KNOWN_FRACTION))
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def recovers_from(means: dict[float, float], within: float = RECOVER_WITHIN) -> float | None:
    """Smallest fraction f from which on the mean val_acc stays no more than ``within`` below its value at f = 1:
    fractions are taken downwards from 1 and the first one that falls short (or has no mean) ends the run, so a
    lucky small fraction beyond a shortfall does not count. None without a value at f = 1."""
    full = means.get(1.0)
    if full is None or not math.isfinite(full):
        return None
    best = None
    for f in sorted(means, reverse=True):
        m = means[f]
        if m is None or not math.isfinite(m) or full - m > within + 1e-9:
            break
        best = f
    return best


@leaderboard_section("corrective")
def corrective_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    """Per task and model: final val_acc and residual_poison_acc per known fraction, a row per method."""
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK], MODEL_ORDER.get(r[F.MODEL], 9), r[F.MODEL])

    def row(r: dict) -> str:
        f = known_fraction(r)
        return f"{r[F.METHOD]} f={DASH if f is None else fmt_alpha(f)}"

    tables, fails = _group(ok, tkey), _group(failed, tkey)
    sections = []
    for key in _sort_tables(set(tables) | set(fails)):
        pv, fam, task, _, model = key
        recs, bad = tables.get(key, []), fails.get(key, [])
        where = f"corrective {task}/{model} (protocol {pv})"
        check_one_variant({label: rs for (label,), rs in _group(recs, lambda r: (row(r),)).items()}, where)
        check_same_seeds(seeds_by_row(recs, bad, row), where)
        body, notes = _corrective_tables(recs, bad, where, ranked)
        notes += _failed_note(bad, lambda r: f"{row(r)} seed {r[F.SEED]}")
        sections.append(Section(_heading(task, model, protocol=pv, fam=fam, suite="corrective", records=recs + bad,
                                         ranked=ranked), body, notes))
    return sections


def _corrective_tables(recs: list[dict], failed: list[dict], where: str, ranked: bool = True) -> tuple[str, list[str]]:
    if not recs:
        return "No successful records.", []
    final = _final_step(recs, where)
    fractions = sorted({f for r in recs + failed if (f := known_fraction(r)) is not None})
    # last[method][fraction][seed] = the final step's metrics
    last: dict[str, dict[float, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    seeds: dict[str, set[int]] = defaultdict(set)
    for r in recs:
        seeds[r[F.METHOD]].add(r[F.SEED])
        if r[F.STEP] == final:
            last[r[F.METHOD]][known_fraction(r)][r[F.SEED]] = r[F.METRICS]
    rows: dict[str, dict[str, Any]] = {}
    for method, by_seed in seeds.items():
        at = last[method]
        cell = {(name, f): Stat.of(m.get(name) for m in at[f].values())
                for name in ("val_acc", "residual_poison_acc") for f in fractions}
        # a seed's mean over the fractions, only for a seed with every fraction's val_acc
        per_seed = [[at[f].get(seed, {}).get("val_acc") for f in fractions] for seed in sorted(by_seed)]
        mean = Stat.of(math.fsum(v) / len(v) if all(x is not None for x in v) else None for v in per_seed)
        rows[method] = {"n": len(by_seed), "cell": cell, "mean": mean,
                        "recovers": recovers_from({f: cell[("val_acc", f)].mean for f in fractions})}
    methods = [m for m in rows if m != F.ORACLE]
    if ranked:
        order = [(rank, m) for rank, m, _ in rank_groups([(m, rows[m]["mean"]) for m in methods])]
    else:
        order = [(None, m) for m in sorted(methods, key=lambda m: (METHOD_ORDER.get(m, 99), m))]
    if F.ORACLE in rows:
        order.append((None, F.ORACLE))  # the reference: shown, never ranked
    cols = [f"f={fmt_alpha(f)}" for f in fractions]
    val_headers = (["rank"] if ranked else []) + ["method"] + [f"{_col('val_acc')} @{c}" for c in cols] + [
        "mean over f", "95% CI mean over f", "recovers at f ≥", "n"]
    res_headers = ["method"] + [f"{_col('residual_poison_acc')} @{c}" for c in cols] + ["n"]
    val_rows, res_rows = [], []
    for rank, method in order:
        r, n = rows[method], rows[method]["n"]
        name = f"`{method}` (reference)" if method == F.ORACLE else f"`{method}`"
        val_rows.append(([str(rank) if rank else DASH] if ranked else []) + [name]
                        + [fmt_stat(r["cell"][("val_acc", f)], 3, n) for f in fractions]
                        + [fmt_stat(r["mean"], 3, n), fmt_ci(r["mean"], bounds=(0.0, 1.0)),
                           DASH if r["recovers"] is None else fmt_alpha(r["recovers"]), str(n)])
        res_rows.append([name] + [fmt_stat(r["cell"][("residual_poison_acc", f)], 3, n) for f in fractions] + [str(n)])
    order_text = ("Ranked by the mean over f of each seed's final val_acc; methods whose 95% interval of the mean "
                  "(Student t over seeds, clipped to [0, 1]) overlaps the leader's share its rank." if ranked else
                  "Not ranked: these records do not follow the protocol, so no method is placed above another.")
    notes = [f"{order_text} val_acc @f: validation accuracy after the last unlearning step ({final}) when a fraction f "
             "of the flipped samples is identified and forgotten, the rest staying in the retain set with their "
             f"flipped labels (PROTOCOL 4.8); recovers at f ≥: the smallest f from which on the mean val_acc stays no "
             f"more than {RECOVER_WITHIN:g} below the row's own value at f = 1 ({DASH} without f = 1); "
             "residual_poison_acc @f: agreement with the flipped labels on the flipped samples not identified, "
             f"lower is better ({DASH} at f = 1, where none is left); `{F.ORACLE}`: trained from a fresh "
             "initialization on that f's retain set with the full recipe, the reference, not ranked."]
    return _md(val_headers, val_rows) + "\n\n" + _md(res_headers, res_rows), notes


@record_check("corrective")
def check_corrective_steps(records: Sequence[dict], bad: set[str]) -> list[str]:
    """A successful method unit of the corrective suite records steps 0 and N = config["steps"], an oracle unit N."""
    return check_unit_steps(records, bad, lambda final, oracle: [final] if oracle else [0, final])


# -- ablation: the xxz global phase ---------------------------------------------------------------------
def phase_ablation_section(protocol_recs: Sequence[dict], fixed_recs: Sequence[dict]) -> Section | None:
    """xxz MLP resilience under label flipping with the fixed phase (protocol 1, the ablation) beside the
    random phase (protocol 2): train_acc and val_acc per alpha. None without fixed-phase records."""
    from qbench.records.protocol_rules import record_phase

    def pick(recs: Sequence[dict], phase: str) -> list[dict]:
        return [r for r in recs if r[F.SUITE] == "resilience" and r[F.MODEL] == "mlp" and r[F.STATUS] == "ok"
                and r[F.CORRUPTION] == "label_flip" and record_phase(r) == phase]

    fixed, rnd = pick(fixed_recs, "fixed"), pick(protocol_recs, "random")
    if not fixed:
        return None
    tasks = sorted({r[F.TASK] for r in fixed})
    if len(tasks) != 1 or {r[F.TASK] for r in rnd} - set(tasks):
        raise QbenchError(f"records not fit to publish: the phase ablation covers one xxz task, got {tasks}")
    cells = {name: _group(recs, lambda r: (float(r[F.ALPHA]),)) for name, recs in (("fixed", fixed), ("random", rnd))}
    for name, recs in (("fixed", fixed), ("random", rnd)):
        check_one_variant({f"phase {name} alpha {a[0]}": rs for a, rs in cells[name].items()},
                          f"phase ablation {tasks[0]}")
    alphas = sorted({a for c in cells.values() for (a,) in c})
    rows = []
    for a in alphas:
        stats = {(name, m): Stat.of(_metric(r, m) for r in cells[name].get((a,), []))
                 for name in ("fixed", "random") for m in ("train_acc", "val_acc")}
        n = {name: stats[(name, "val_acc")].n for name in ("fixed", "random")}
        rows.append([fmt_alpha(a)] + [fmt_stat(stats[(name, m)], 3, n[name]) if n[name] else DASH
                                      for m in ("train_acc", "val_acc") for name in ("fixed", "random")]
                    + [f"{n['fixed']} / {n['random']}"])
    headers = ["α"] + [f"{_col(m)}, {name} phase" for m in ("train_acc", "val_acc") for name in ("fixed", "random")] + [
        "n (fixed / random)"]
    notes = ["Label flipping, MLP "
             f"{', '.join(sorted({str(r[F.MODEL_SIZE]) for r in fixed}))}, full training recipe; fixed phase: every "
             "state in its canonical form (largest amplitude real positive; protocol 1, now an ablation); random "
             "phase: each state times e^(iφ) drawn from the data seed (protocol 2). The QNN cannot see a global "
             "phase, so only the MLP has this ablation."]
    return Section(f"{tasks[0]} · mlp · label_flip: fixed vs random global phase (ablation of PROTOCOL 1.2)",
                   _md(headers, rows), notes)


record_check("unlearning")(check_complete_steps)


def provenance_line(records: Sequence[dict]) -> str:
    revs = sorted({str(r[F.PROVENANCE].get("git_revision", "unknown")) for r in records})
    vers = sorted({str((r[F.PROVENANCE].get("versions") or {}).get("qbench", "unknown")) for r in records})
    protos = sorted({table_protocol(r) for r in records})
    units = {r[F.UNIT_KEY] for r in records}
    return (f"Generated by `qbench leaderboard` from {len(records)} records of {len(units)} units; "
            f"protocol version(s) {', '.join(protos) or DASH}; qbench {', '.join(vers) or DASH}; "
            f"git revision(s) {', '.join(revs) or DASH}.")


def _suite_sections(records: Sequence[dict], ranked: bool) -> dict[str, list[Section]]:
    """Each suite's sections (registered builders, in leaderboard order) from the checked records."""
    check_publication(records, RECORD_CHECKS)
    check_task_option_rules(records)
    ok, failed = split_failed(records)
    return {suite: SECTIONS[suite]([r for r in ok if r[F.SUITE] == suite], [r for r in failed if r[F.SUITE] == suite],
                                   ranked=ranked)
            for suite in (s.name for s in section_suites())}


def _titles() -> dict[str, str]:
    return {s.name: s.title for s in section_suites()}


def _disagreement_split(cov: dict) -> str:
    """' (a on the CPU that made them, b on another CPU, c made on a CPU the record does not name)', or ''."""
    parts = [(cov.get("disagreed_same_cpu", 0), "re-run on the CPU model that made them"),
             (cov.get("disagreed_other_cpu", 0), "re-run on another CPU model (XLA compiles per instruction set)"),
             (cov.get("disagreed_cpu_unknown", 0), "where the record or the check does not name its CPU")]
    shown = [f"{n:,} {what}" for n, what in parts if n]
    return f" ({'; '.join(shown)})" if cov.get("units_disagreed") and shown else ""


def coverage_line(cov: dict) -> str:
    """One sentence: how many of the tabled units ``qbench verify --all`` re-ran with agreeing numbers."""
    def part(c: dict) -> str:
        return f"{c['units_agreed']:,} of {c['units']:,}"

    models = "; ".join(f"{m} {part(c)}" for m, c in cov.get("by_model", {}).items())
    suites = "; ".join(f"{s} {part(c)}" for s, c in cov.get("by_suite", {}).items())
    revs = ", ".join(r[:12] for r in cov.get("revisions", [])) or DASH
    return (f"Re-run check (`qbench verify --all leaderboard/results`, ledger `leaderboard/verify-ledger.jsonl`): "
            f"{part(cov)} successful units re-run with every metric agreeing ({cov['records_agreed']:,} of "
            f"{cov['records']:,} records), {cov['units_disagreed']:,} disagreeing{_disagreement_split(cov)}; "
            f"by model: {models}; by suite: "
            f"{suites}; at revision(s) {revs}.")


def render_block(records: Sequence[dict], nonprotocol: Sequence[Deviation] = (), ablation: Sequence[dict] = (),
                 coverage: dict | None = None) -> str:
    """The text between (and including) the markers, from ``records`` alone: the protocol's
    ``records`` in ranked tables, the ablations' records of ``ablation`` in their own section, and,
    apart and never ranked, the records of ``nonprotocol``."""
    by_suite, titles = _suite_sections(records, ranked=True), _titles()
    unknown = sorted({r[F.SUITE] for r in records} - set(SECTIONS))
    lines = [START, "<!-- generated by `qbench leaderboard` from records; edit only the text outside "
                    "these markers -->", ""]
    # a run of one's own that is all quick tier or overrides: no empty protocol headings before its tables
    only_nonprotocol = not records and bool(nonprotocol)
    if only_nonprotocol:
        lines += ["No protocol records: every record here differs from the protocol's settings (see below).", ""]
    for suite in () if only_nonprotocol else [s.name for s in section_suites(optional=False)]:
        lines += [f"### {titles[suite]}", ""]
        if not by_suite[suite]:
            lines += ["No records yet.", ""]
        for s in by_suite[suite]:
            lines += [s.render(), ""]
    for suite in [s.name for s in section_suites(optional=True)]:
        if by_suite[suite]:
            lines += [f"### {titles[suite]}", ""] + [x for s in by_suite[suite] for x in (s.render(), "")]
    if ablation:
        check_publication(ablation, RECORD_CHECKS)
        section = phase_ablation_section(split_failed(records)[0], ablation)
        if section is not None:
            lines += ["### Ablations", "", section.render(), ""]
    if unknown:
        lines += [f"_Records of suites without a leaderboard table were skipped: {', '.join(unknown)}._", ""]
    lines += [f"_{provenance_line(records)}_"]
    if coverage is not None:
        lines += ["", f"_{coverage_line(coverage)}_"]
    if nonprotocol:
        lines += [""] + _nonprotocol_lines(nonprotocol)
    lines += [END]
    return "\n".join(lines)


MAX_DEVIATION_KINDS = 10


def _nonprotocol_lines(deviations: Sequence[Deviation]) -> list[str]:
    records = [d.record for d in deviations]
    kinds: dict[str, list[str]] = defaultdict(list)
    for d in deviations:
        kinds[d.summary].append(d.where.rsplit(":", 1)[0])
    listed = sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    lines = [f"### {NONPROTOCOL_TITLE}", "",
             "_These records were made with settings other than the protocol's (a quick tier, `--epochs`, "
             "`--steps`, `--seeds`, `--alphas`, an unregistered task or scenario, ...): they are shown apart "
             "from the tables above, never ranked, and no claim about the protocol can rest on them. "
             "How they differ from the protocol:_", ""]
    for summary, files in listed[:MAX_DEVIATION_KINDS]:
        n_files = len(set(files))
        lines.append(f"- {len(files)} record(s) in {n_files} file(s), e.g. `{sorted(files)[0]}`: {summary}")
    if len(listed) > MAX_DEVIATION_KINDS:
        lines.append(f"- and {len(listed) - MAX_DEVIATION_KINDS} other kind(s) of difference")
    lines.append("")
    unknown, titles = sorted({r[F.SUITE] for r in records} - set(SECTIONS)), _titles()
    for suite, sections in _suite_sections(records, ranked=False).items():
        for s in sections:
            lines += [Section(f"{titles[suite]} · {s.heading}", s.body, s.notes).render(), ""]
    if unknown:
        lines += [f"_Records of suites without a leaderboard table were skipped: {', '.join(unknown)}._", ""]
    return lines + [f"_Not the protocol's settings. {provenance_line(records)}_"]


NONPROTOCOL_TITLE = "Not the protocol's settings (quick tiers, overrides): not ranked"


SKELETON = """# qbench leaderboard

Hand-written text above and below the markers is kept; the block between them is regenerated by
`qbench leaderboard` from the records under {results}.

{block}
"""


def replace_block(text: str, block: str, where: str = "output") -> str:
    """``text`` with the marker block replaced by ``block``; surrounding text is kept byte for byte."""
    starts, ends = text.count(START), text.count(END)
    if starts != 1 or ends != 1:
        raise QbenchError(f"{where}: expected exactly one '{START}' and one '{END}' marker line, "
                          f"found {starts} and {ends}")
    i, j = text.index(START), text.index(END)
    if j < i:
        raise QbenchError(f"{where}: the end marker comes before the start marker")
    return text[:i] + block + text[j + len(END):]


def default_results() -> str:
    return os.path.join("leaderboard", "results")


def default_ablations() -> str:
    """Records of ablations (not protocol): shown in their own section, never in a protocol table."""
    return os.path.join("leaderboard", "ablations")


def default_leaderboard() -> str:
    return os.path.join("leaderboard", "README.md")


RESULTS_LEADERBOARD = "leaderboard.md"


def default_output(results: Sequence[str]) -> str | None:
    """Where ``qbench leaderboard`` writes without ``--output``: the committed leaderboard
    (``leaderboard/README.md``) only from the committed records (``leaderboard/results``); for any
    other results ``leaderboard.md`` in the (first) results directory, so that a table of one's own
    run never replaces the published one. None (standard output) where that directory is a file
    or lies inside the committed records."""
    committed = os.path.realpath(default_results())
    real = [os.path.realpath(r) for r in results]
    if all(r == committed for r in real):
        return default_leaderboard()
    first = results[0]
    if not os.path.isdir(first) or real[0].startswith(committed + os.sep):
        return None
    return os.path.join(first, RESULTS_LEADERBOARD)


def load_results(paths: Sequence[str]) -> list[dict]:
    from qbench.records.store import load_records

    return load_records(paths, recursive=True)


def load_checked(paths: Sequence[str], allow_nonprotocol: bool = False) -> tuple[list[dict], list[Deviation]]:
    """(protocol records, non-protocol ones) under ``paths``. Without ``allow_nonprotocol`` a record
    whose config is not its registered scenario's at protocol defaults is bad input: QbenchError
    naming its file, line and the differing fields."""
    from qbench.records.store import iter_records

    protocol, deviations = split_protocol(iter_records(paths, recursive=True))
    if deviations and not allow_nonprotocol:
        first = deviations[0]
        files = {d.where.rsplit(":", 1)[0] for d in deviations}
        more = (f" (and {len(deviations) - 1} more non-protocol record(s) in {len(files)} file(s))"
                if len(deviations) > 1 else "")
        raise QbenchError(f"{first.where}: not a protocol record: {first.summary}{more}; the leaderboard ranks "
                          "protocol records only (`qbench leaderboard --allow-nonprotocol` shows others apart, "
                          "unranked)")
    return protocol, deviations


def regenerate(results: Sequence[str], output: str | None, *, check: bool = False, missing_ok: bool = False,
               allow_nonprotocol: bool = False, ablations: Sequence[str] = (),
               ledger: str | None = None) -> tuple[bool, str]:
    """Rebuild the marker block of ``output`` from the records under ``results``.

    Returns (changed, new text). With ``check`` nothing is written; with ``output`` None neither
    (the caller prints the text). A missing ``output`` starts from a skeleton. Records are all read,
    validated and checked against the protocol (see :func:`load_checked`) before anything is
    written; with ``missing_ok`` a results path that does not exist counts as no records (the
    default tree before any submission).
    """
    paths = [p for p in results if os.path.exists(p)] if missing_ok else list(results)
    records, deviations = load_checked(paths, allow_nonprotocol) if paths else ([], [])
    # ablation records are not the protocol by design: validated, never checked for conformance
    ablation = load_results([p for p in ablations if os.path.exists(p)]) if ablations else []
    coverage = None
    if ledger is not None and os.path.exists(ledger) and len(paths) == 1:
        from qbench.records.ledger import ledger_coverage

        coverage = ledger_coverage(ledger, paths[0])
    block = render_block(records, deviations, ablation, coverage)
    skeleton = SKELETON.format(block=block, results=", ".join(f"`{r}`" for r in results))
    if output is None:
        return True, skeleton
    out = Path(output)
    old = out.read_text() if out.exists() else None
    new = replace_block(old, block, str(out)) if old is not None else skeleton
    changed = old != new
    if changed and not check:
        _atomic_write(out, new)
    return changed, new


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_temp_file(path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

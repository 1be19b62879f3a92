"""The unlearning suite's report (PROTOCOL 4.2): a table per task and model ranking the methods by
val_acc at the final step (and, from protocol 2, by gap_to_oracle), and figures of val_acc, forget_acc
and gap_to_oracle per step, a panel per model."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from qbench.metrics.curves import steps_to_reach
from qbench.metrics.registry import Metric, reported_by
from qbench.records import schema as F
from qbench.records.checks import check_complete_steps, check_one_variant, check_same_seeds, seeds_by_row
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import (
    Section,
    failed_note,
    family,
    final_step,
    group,
    heading,
    md_table,
    method_key,
    model_key,
    model_order,
    sort_tables,
)
from qbench.report.plotting import MODEL_TITLES, acc, band, figure_tables, file_name, legend_below, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section, record_check
from qbench.report.stats import DASH, Stat, fmt_ci, fmt_num, fmt_stat, rank_groups

#: the second ranking (from protocol 2): by this metric, in its own direction; the first is by the suite's first
#: reported metric (val_acc)
SECOND_RANKING = "gap_to_oracle"
#: the metrics of protocol 2's oracle and membership inference: their columns only where their records are
PRIVACY = ("mia_efficacy", "gap_to_oracle")


def ranking_stat(metric: Metric, stat: Stat) -> Stat:
    """``stat`` turned so that a larger mean ranks first (negated where lower is better; the interval is
    symmetric, so the rank groups are the same)."""
    return stat if metric.higher_is_better is not False else Stat(-stat.mean, stat.std, stat.n)


@leaderboard_section("unlearning")
def unlearning_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK], model_order(r[F.MODEL]), r[F.MODEL])

    tables, fails = group(ok, tkey), group(failed, tkey)
    sections = []
    for key in sort_tables(set(tables) | set(fails)):
        pv, fam, task, _, model = key
        recs = tables.get(key, [])
        where = f"unlearning {task}/{model} (protocol {pv})"
        by_method = group(recs, lambda r: (r[F.METHOD],))
        check_one_variant({m[0]: rs for m, rs in by_method.items()}, where)
        check_same_seeds(seeds_by_row(recs, fails.get(key, []), lambda r: r[F.METHOD]), where)
        body, notes = unlearning_table(recs, where, ranked)
        notes += failed_note(fails.get(key, []), lambda r: f"{r[F.METHOD]} seed {r[F.SEED]}")
        sections.append(Section(heading(task, model, protocol=pv, fam=fam, suite="unlearning",
                                         records=recs + fails.get(key, []), ranked=ranked), body, notes))
    return sections


def unlearning_table(recs: list[dict], where: str, ranked: bool = True) -> tuple[str, list[str]]:
    if not recs:
        return "No successful records.", []
    final = final_step(recs, where)
    # curves[method][seed][step] = metrics
    curves: dict[str, dict[int, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in recs:
        curves[r[F.METHOD]][r[F.SEED]][r[F.STEP]] = r[F.METRICS]
    # protocol 2 (the oracle, membership inference): its columns and ranking only where its metrics are
    privacy = F.ORACLE in curves or any(PRIVACY[0] in r[F.METRICS] for r in recs)
    # the suite's metrics (their registration): the first shown at steps 0, 10 and the last, and ranked; the
    # others at the last step, the second ranking's with its interval
    first, *others = reported_by("unlearning")
    gap = next(m for m in others if m.name == SECOND_RANKING)
    finals = [m for m in others if m is not gap and (privacy or m.name not in PRIVACY)]
    retrain = curves.get("retrain", {})
    target = {seed: (c.get(final) or {}).get(first.name) for seed, c in retrain.items()}
    steps_shown = [s for s in (0, 10) if s < final] + [final]
    rows: dict[str, dict[str, Any]] = {}
    for method, by_seed in curves.items():
        seeds = sorted(by_seed)
        row: dict[str, Any] = {"n": len(seeds)}
        for s in steps_shown:
            row[f"val@{s}"] = Stat.of(by_seed[seed].get(s, {}).get(first.name) for seed in seeds)
        for m in others:
            row[m.name] = Stat.of(by_seed[seed].get(final, {}).get(m.name) for seed in seeds)
        reach = [steps_to_reach({st: m.get(first.name) for st, m in by_seed[seed].items()}, target.get(seed, math.nan))
                 for seed in seeds]
        row["reach"] = Stat.of(reach)
        row["reach_k"] = sum(1 for v in reach if math.isfinite(v))
        row["sps"] = Stat.of((by_seed[seed].get(final, {}).get("wall_s") or math.nan) / max(final, 1) for seed in seeds)
        rows[method] = row
    methods = [m for m in rows if m != F.ORACLE]
    if ranked:
        ranking = rank_groups([(m, ranking_stat(first, rows[m][f"val@{final}"])) for m in methods])
        by_gap = {m: r for r, m, _ in rank_groups([(m, ranking_stat(gap, rows[m][gap.name])) for m in methods])}
    else:
        ranking = [(None, m, None) for m in sorted(methods, key=method_key)]
        by_gap = {}
    if F.ORACLE in rows:
        ranking.append((None, F.ORACLE, None))  # the target: shown, never ranked
    headers = (["rank"] + ([f"rank by {gap.column}"] if privacy else []) if ranked else []) + ["method"] + [
        f"{first.column} @{s}" for s in steps_shown] + [f"95% CI {first.column} @{final}"] + [
        f"{m.column} @{final}" for m in finals] + ([gap.column, f"95% CI {gap.column}"] if privacy else []) + [
        f"steps to retrain's {first.name}", "s/step", "n"]
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
                     + [fmt_stat(row[f"val@{s}"], first.digits, n) for s in steps_shown]
                     + [fmt_ci(row[f"val@{final}"], first.digits, bounds=first.bounds)]
                     + [fmt_stat(row[m.name], m.digits, n) for m in finals]
                     + ([fmt_stat(row[gap.name], gap.digits, n), fmt_ci(row[gap.name], gap.digits, bounds=gap.bounds)]
                        if privacy else [])
                     + [reach_cell, fmt_stat(row["sps"], 4, n), str(n)])
    order = (f"Ranked by {first.name} at the final step ({final}); methods whose 95% interval of the mean "
             "(Student t over seeds, clipped to [0, 1]) overlaps the leader's share its rank." if ranked else
             "Not ranked: these records do not follow the protocol, so no method is placed above another; "
             "95% interval of the mean: Student t over seeds, clipped to [0, 1].")
    forget = finals[0]
    notes = [order + f" {forget.name}: agreement with the "
             f"flipped labels on the forget set ({forget.direction}). Steps to retrain's val_acc: first step at "
             "which a seed reaches the final val_acc of the same seed's `retrain` run, mean over the seeds "
             "that reach it (reached/seeds)."]
    if privacy:
        notes.append(("The two rankings: by val_acc rewards recovering accuracy on clean data, whatever the model "
                      "still remembers of the forget set; by gap_to_oracle (lower is better, same rank groups) "
                      "rewards ending where a model that never saw the forget set ends, on accuracy and privacy alike. "
                      if ranked else "") +
                     f"`{F.ORACLE}`: the model trained from a fresh initialization on the retain set with the full "
                     "recipe (PROTOCOL 4.2), the target, not ranked. "
                     + "".join(f"{m.column}: {m.description}. " for m in finals[1:] + [gap]) +
                     "A cell with (n=k) has a value for k seeds only (the others' could not be computed).")
    if not retrain:
        notes.append("No `retrain` records in this table: steps to retrain's val_acc cannot be computed.")
    if privacy:
        notes.append(power_note([m for by_seed in curves.values() for c in by_seed.values() for m in [c.get(final, {})]]))
    return md_table(headers, table), notes


#: a final mia_efficacy at or outside these bounds calls (nearly) the whole forget set one thing
POWERLESS = (0.1, 0.9)


def power_note(finals: list[dict]) -> str:
    """Where mia_efficacy has no power, from the units' final metrics: how many are at most 0.1 or at least 0.9,
    and the mean of mia_attack_acc where the records carry it."""
    mias = [v for m in finals if (v := m.get("mia_efficacy")) is not None]
    extreme = sum(1 for v in mias if not POWERLESS[0] < v < POWERLESS[1])
    attack = Stat.of(m.get("mia_attack_acc") for m in finals)
    acc = (f" The attack's balanced accuracy on its own training set (mia_attack_acc; 0.5: no power) averages "
           f"{fmt_num(attack.mean)} over the {attack.n} unit(s) that record it." if attack.n else "")
    return ("mia_efficacy is a population attack: one threshold for the whole forget set, fitted on retain vs "
            "validation, so against a model that barely overfits it has no power and calls (nearly) the whole forget "
            f"set member or non-member. Here {extreme} of the {len(mias)} units' final mia_efficacy are at most "
            f"{POWERLESS[0]:g} or at least {POWERLESS[1]:g}." + acc + " Per-example membership tests with power "
            "(ulira_acc, forget_score, over many models) are in the Forgetting section (PROTOCOL 4.9).")


record_check("unlearning")(check_complete_steps)


@figures_for("unlearning")
def unlearning_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, "unlearning")
    for (fam, task, pv), recs in tables.items():
        labels = {"val_acc": "validation accuracy", "forget_acc": "forgetting accuracy (polluted labels)"}
        if any(r[F.METRICS].get("gap_to_oracle") is not None for r in recs):  # protocol 2: every 10 steps
            labels["gap_to_oracle"] = "gap to the oracle (lower: better)"
        models = sorted({r[F.MODEL] for r in recs}, key=model_key)
        methods = sorted({r[F.METHOD] for r in recs} - {F.ORACLE}, key=method_key)
        colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
        for metric, ylabel in labels.items():
            fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True,
                                     layout="constrained")
            for j, model in enumerate(models):
                ax = axes[0][j]
                for method in methods:
                    rs = [r for r in recs if r[F.MODEL] == model and r[F.METHOD] == method]
                    if not rs:
                        continue
                    by_step = group([r for r in rs if r[F.METRICS].get(metric) is not None], lambda r: (int(r[F.STEP]),))
                    steps = sorted(s for (s,) in by_step)
                    band(ax, steps, [Stat.of(acc(r, metric) for r in by_step[(s,)]) for s in steps],
                          color=colors[method], label=method, linewidth=1.4)
                target = Stat.of(acc(r, metric) for r in recs if r[F.MODEL] == model and r[F.METHOD] == F.ORACLE)
                if target.n:  # the oracle is one model, not a curve: its mean as a reference line
                    ax.axhline(target.mean, color="0.3", linestyle="--", linewidth=1.0, label=F.ORACLE)
                ax.set_title(f"{task}, {MODEL_TITLES.get(model, model)}")
                ax.set_xlabel("unlearning step")
                if j == 0:
                    ax.set_ylabel(ylabel)
                ax.set_ylim(-0.02, 1.02)
                ax.grid(alpha=0.3)
            legend_below(fig, axes[0], methods + [F.ORACLE])
            fig.suptitle(f"Unlearning on {task}: {ylabel} vs step (mean ± 1 std over seeds)")
            save(fig, out_dir, file_name(fam, task, f"_{metric}", pv, newest[(fam, task)]), written)
    return written

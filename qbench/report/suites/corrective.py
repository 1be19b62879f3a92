"""The corrective suite's report (PROTOCOL 4.8): final val_acc and residual_poison_acc per known fraction f
in tables per task and model (a row per method), and validation accuracy vs f in a figure per task."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

from qbench.metrics.registry import reported_by
from qbench.records import schema as F
from qbench.records.checks import check_one_variant, check_same_seeds, check_unit_steps, seeds_by_row
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
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_ci, fmt_stat, rank_groups

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
        return (table_protocol(r), family(r), r[F.TASK], model_order(r[F.MODEL]), r[F.MODEL])

    def row(r: dict) -> str:
        f = known_fraction(r)
        return f"{r[F.METHOD]} f={DASH if f is None else fmt_alpha(f)}"

    tables, fails = group(ok, tkey), group(failed, tkey)
    sections = []
    for key in sort_tables(set(tables) | set(fails)):
        pv, fam, task, _, model = key
        recs, bad = tables.get(key, []), fails.get(key, [])
        where = f"corrective {task}/{model} (protocol {pv})"
        check_one_variant({label: rs for (label,), rs in group(recs, lambda r: (row(r),)).items()}, where)
        check_same_seeds(seeds_by_row(recs, bad, row), where)
        body, notes = corrective_tables(recs, bad, where, ranked)
        notes += failed_note(bad, lambda r: f"{row(r)} seed {r[F.SEED]}")
        sections.append(Section(heading(task, model, protocol=pv, fam=fam, suite="corrective", records=recs + bad,
                                         ranked=ranked), body, notes))
    return sections


def corrective_tables(recs: list[dict], failed: list[dict], where: str, ranked: bool = True) -> tuple[str, list[str]]:
    if not recs:
        return "No successful records.", []
    final = final_step(recs, where)
    fractions = sorted({f for r in recs + failed if (f := known_fraction(r)) is not None})
    # the suite's metrics (their registration): the first ranks the methods, the second is its own table
    first, residual = reported_by("corrective")
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
        cell = {(m.name, f): Stat.of(x.get(m.name) for x in at[f].values()) for m in (first, residual) for f in fractions}
        # a seed's mean over the fractions, only for a seed with every fraction's val_acc
        per_seed = [[at[f].get(seed, {}).get(first.name) for f in fractions] for seed in sorted(by_seed)]
        mean = Stat.of(math.fsum(v) / len(v) if all(x is not None for x in v) else None for v in per_seed)
        rows[method] = {"n": len(by_seed), "cell": cell, "mean": mean,
                        "recovers": recovers_from({f: cell[(first.name, f)].mean for f in fractions})}
    methods = [m for m in rows if m != F.ORACLE]
    if ranked:
        order = [(rank, m) for rank, m, _ in rank_groups([(m, rows[m]["mean"]) for m in methods])]
    else:
        order = [(None, m) for m in sorted(methods, key=method_key)]
    if F.ORACLE in rows:
        order.append((None, F.ORACLE))  # the reference: shown, never ranked
    cols = [f"f={fmt_alpha(f)}" for f in fractions]
    val_headers = (["rank"] if ranked else []) + ["method"] + [f"{first.column} @{c}" for c in cols] + [
        "mean over f", "95% CI mean over f", "recovers at f ≥", "n"]
    res_headers = ["method"] + [f"{residual.column} @{c}" for c in cols] + ["n"]
    val_rows, res_rows = [], []
    for rank, method in order:
        r, n = rows[method], rows[method]["n"]
        name = f"`{method}` (reference)" if method == F.ORACLE else f"`{method}`"
        val_rows.append(([str(rank) if rank else DASH] if ranked else []) + [name]
                        + [fmt_stat(r["cell"][(first.name, f)], first.digits, n) for f in fractions]
                        + [fmt_stat(r["mean"], first.digits, n), fmt_ci(r["mean"], first.digits, bounds=first.bounds),
                           DASH if r["recovers"] is None else fmt_alpha(r["recovers"]), str(n)])
        res_rows.append([name] + [fmt_stat(r["cell"][(residual.name, f)], residual.digits, n) for f in fractions] + [str(n)])
    order_text = ("Ranked by the mean over f of each seed's final val_acc; methods whose 95% interval of the mean "
                  "(Student t over seeds, clipped to [0, 1]) overlaps the leader's share its rank." if ranked else
                  "Not ranked: these records do not follow the protocol, so no method is placed above another.")
    notes = [f"{order_text} val_acc @f: validation accuracy after the last unlearning step ({final}) when a fraction f "
             "of the flipped samples is identified and forgotten, the rest staying in the retain set with their "
             f"flipped labels (PROTOCOL 4.8); recovers at f ≥: the smallest f from which on the mean val_acc stays no "
             f"more than {RECOVER_WITHIN:g} below the row's own value at f = 1 ({DASH} without f = 1); "
             f"{residual.name} @f: agreement with the flipped labels on the flipped samples not identified, "
             f"{residual.direction} ({DASH} at f = 1, where none is left); `{F.ORACLE}`: trained from a fresh "
             "initialization on that f's retain set with the full recipe, the reference, not ranked."]
    return md_table(val_headers, val_rows) + "\n\n" + md_table(res_headers, res_rows), notes


@record_check("corrective")
def check_corrective_steps(records: Sequence[dict], bad: set[str]) -> list[str]:
    """A successful method unit of the corrective suite records steps 0 and N = config["steps"], an oracle unit N."""
    return check_unit_steps(records, bad, lambda final, oracle: [final] if oracle else [0, final])


@figures_for("corrective")
def corrective_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, "corrective")
    for (fam, task, pv), recs in tables.items():
        # the final step only: the method units' step N (their config's steps), the oracle's one record
        recs = [r for r in recs if r[F.STEP] == r[F.CONFIG].get("steps") and known_fraction(r) is not None]
        models = sorted({r[F.MODEL] for r in recs}, key=model_key)
        methods = sorted({r[F.METHOD] for r in recs} - {F.ORACLE}, key=method_key)
        colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
        fractions = sorted({known_fraction(r) for r in recs})
        fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True,
                                 layout="constrained")
        for j, model in enumerate(models):
            ax = axes[0][j]
            ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
            for method in methods + [F.ORACLE]:
                by_f = group([r for r in recs if r[F.MODEL] == model and r[F.METHOD] == method], lambda r: (known_fraction(r),))
                fs = sorted(f for (f,) in by_f)
                if not fs:
                    continue
                stats = [Stat.of(acc(r, "val_acc") for r in by_f[(f,)]) for f in fs]
                if method == F.ORACLE:
                    ax.plot(fs, [s.mean for s in stats], color="0.3", linestyle="--", marker="x", markersize=4,
                            linewidth=1.0, label=F.ORACLE)
                else:
                    band(ax, fs, stats, color=colors[method], marker="o", markersize=3, linewidth=1.4, label=method)
            ax.set_title(f"{task}, {MODEL_TITLES.get(model, model)}")
            ax.set_xlabel("known fraction f of the flipped samples")
            if j == 0:
                ax.set_ylabel("validation accuracy after the last step")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        legend_below(fig, axes[0], methods + [F.ORACLE])
        fig.suptitle(f"Corrective unlearning on {task}: validation accuracy vs known fraction (mean ± 1 std over seeds)")
        save(fig, out_dir, file_name(fam, task, "_val_acc", pv, newest[(fam, task)]), written)
    return written

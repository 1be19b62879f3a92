"""The landscape suite's report (PROTOCOL 4.3): Hessian trace, LRR and extreme eigenvalues per model
and α in a table per task, and LRR per α as bars, one figure per task."""

from __future__ import annotations

import math

import numpy as np

from qbench.metrics.registry import reported_by
from qbench.records import schema as F
from qbench.records.checks import check_one_variant, check_same_seeds, seeds_by_row
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import (
    Section,
    failed_note,
    family,
    group,
    heading,
    md_table,
    metric_value,
    model_key,
    model_order,
    sort_tables,
)
from qbench.report.plotting import MODEL_TITLES, acc, figure_tables, file_name, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section
from qbench.report.stats import Stat, fmt_alpha, fmt_stat, natural_key


@leaderboard_section("landscape")
def landscape_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK])

    tables, fails = group(ok, tkey), group(failed, tkey)
    # the suite's metrics (their registration): the trace, its ratio, the largest and smallest eigenvalues
    trace, lrr, top, bottom = reported_by("landscape")
    sections = []
    for key in sort_tables(set(tables) | set(fails)):
        pv, fam, task = key
        recs = tables.get(key, [])
        where = f"landscape {task} (protocol {pv})"
        check_one_variant({f"{m}/{s}": rs for (m, s), rs in group(recs, lambda r: (r[F.MODEL], r[F.MODEL_SIZE])).items()},
                          where)
        cells = group(recs, lambda r: (model_order(r[F.MODEL]), r[F.MODEL], r[F.MODEL_SIZE], float(r[F.ALPHA])))
        check_same_seeds(seeds_by_row(recs, fails.get(key, []), lambda r: f"{r[F.MODEL]} ({r[F.SCENARIO]})"), where)
        # the study's LRR: against the mean clean trace over seeds, per model (collapsed models excluded)
        # a seed whose clean model collapsed has no per-seed ratio at any alpha
        bad_clean = {(r[F.MODEL], r[F.MODEL_SIZE], r[F.SEED]) for r in recs
                     if float(r[F.ALPHA]) == 0.0 and r[F.METRICS].get("collapsed")}
        clean_mean: dict[tuple, float] = {}
        for k, rs in cells.items():
            if k[3] == 0.0:
                clean_mean[k[:3]] = Stat.of(metric_value(r, trace.name) for r in rs if not r[F.METRICS].get("collapsed")).mean
        headers = ["model", "model_size", "α", trace.column, f"{lrr.column} (same seed)", f"{lrr.column} (vs mean clean)",
                   top.column, bottom.column, "collapsed", "n"]
        rows = []
        for k in sorted(cells, key=lambda k: (k[0], k[1], natural_key(k[2]), k[3])):
            rs = sorted(cells[k], key=lambda r: r[F.SEED])
            n = len({r[F.SEED] for r in rs})
            live = [r for r in rs if not r[F.METRICS].get("collapsed")]
            cm = clean_mean.get(k[:3], math.nan)
            tops = [max(r[F.METRICS][top.name]) if r[F.METRICS].get(top.name) else None for r in rs]
            bottoms = [min(r[F.METRICS][bottom.name]) if r[F.METRICS].get(bottom.name) else None for r in rs]
            rows.append([k[1], k[2], fmt_alpha(k[3]),
                         fmt_stat(Stat.of(metric_value(r, trace.name) for r in rs), trace.digits, n),
                         fmt_stat(Stat.of(metric_value(r, lrr.name) for r in live
                                          if (r[F.MODEL], r[F.MODEL_SIZE], r[F.SEED]) not in bad_clean), lrr.digits, n),
                         fmt_stat(Stat.of((metric_value(r, trace.name) or math.nan) / cm if cm else math.nan
                                          for r in live), lrr.digits, n),
                         fmt_stat(Stat.of(tops), top.digits, n), fmt_stat(Stat.of(bottoms), bottom.digits, n),
                         str(len(rs) - len(live)), str(n)])
        body = md_table(headers, rows) if rows else "No successful records."
        notes = ["Exact Hessian trace of the mean BCE at the trained parameters; LRR(α) = Tr H(α) / Tr H(0), "
                 "per seed against the same seed's clean model, and (the study's form) against the mean clean "
                 "trace over seeds. Models whose output collapsed to a constant are counted and left out of "
                 "the ratios. The top and bottom eigenvalues (Lanczos on Hessian-vector products) show the "
                 "curvature the trace hides: a negative bottom eigenvalue is a saddle direction."] if rows else []
        notes += failed_note(fails.get(key, []), lambda r: f"{r[F.MODEL]} seed {r[F.SEED]}")
        sections.append(Section(heading(task, protocol=pv, fam=fam, suite="landscape",
                                         records=recs + fails.get(key, []), ranked=ranked), body, notes))
    return sections


@figures_for("landscape")
def landscape_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, "landscape")
    for (fam, task, pv), recs in tables.items():
        live = [r for r in recs if not r[F.METRICS].get("collapsed") and float(r[F.ALPHA]) > 0]
        alphas = sorted({float(r[F.ALPHA]) for r in live})
        models = sorted({r[F.MODEL] for r in live}, key=model_key)
        fig, ax = plt.subplots(figsize=(4.6, 3.2), layout="constrained")
        width = 0.8 / max(len(models), 1)
        x = np.arange(len(alphas))
        per_model = {model: [Stat.of(acc(r, "lrr") for r in live if r[F.MODEL] == model and float(r[F.ALPHA]) == a)
                             for a in alphas] for model in models}
        means = [s.mean for stats in per_model.values() for s in stats if s.n and np.isfinite(s.mean)]
        # ratios that differ by orders of magnitude between models: a log axis keeps every bar visible
        log = bool(means) and min(means) > 0 and max(means) / min(means) > 20
        for j, model in enumerate(models):
            stats = per_model[model]
            mean = np.array([s.mean for s in stats])
            std = np.array([s.std if s.n > 1 else 0.0 for s in stats])
            lower = np.minimum(std, mean * 0.999) if log else std  # a log axis cannot show mean - std <= 0
            ax.bar(x + (j - (len(models) - 1) / 2) * width, mean, width,
                   yerr=[lower, std], capsize=3, color=f"C{j}", label=MODEL_TITLES.get(model, model))
        if log:
            ax.set_yscale("log")
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xticks(x, [f"{a:g}" for a in alphas])
        ax.set_xlabel("label-flipping fraction α")
        ax.set_ylabel("LRR = Tr H(α) / Tr H(0)")
        where = f"{task}, the study's configuration" if fam == "landscape-study" else task
        ax.set_title(f"Landscape roughening on {where}\n(mean ± 1 std over seeds; collapsed models left out)")
        if models:
            ax.legend()
        ax.grid(alpha=0.3, axis="y")
        save(fig, out_dir, file_name(fam, task, "_lrr", pv, newest[(fam, task)]), written)
    return written

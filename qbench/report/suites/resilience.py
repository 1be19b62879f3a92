"""The resilience suite's report (PROTOCOL 4.1): val_acc per corrupted fraction α in a table per task
(a row per model, size and corruption, with the 5-point rule), and train and validation accuracy vs α
in a figure per task. The capacity suite's table is the same sweep with a row per model size."""

from __future__ import annotations

import math

from qbench.metrics.registry import reported_by
from qbench.records import schema as F
from qbench.records.checks import check_one_variant, check_same_seeds, seeds_by_row
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import (
    CORRUPTION_ORDER,
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
from qbench.report.plotting import CORRUPTION_TITLES, MODEL_TITLES, acc, band, figure_tables, file_name, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_stat, natural_key

WITHIN = 0.05  # the 5-point rule: largest alpha whose mean val_acc stays within 0.05 of the clean one


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


def sweep_sections(ok: list[dict], failed: list[dict], suite: str, row_fields: tuple[str, ...],
                    ranked: bool = True) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK])

    tables, fails = group(ok, tkey), group(failed, tkey)
    (metric,) = reported_by(suite)  # the one number the sweep tables, per α (val_acc)
    sections = []
    for key in sort_tables(set(tables) | set(fails)):
        pv, fam, task = key
        recs = tables.get(key, [])
        where = f"{suite} {task} (protocol {pv})"

        def rkey(r: dict) -> tuple:
            return tuple(r[f] for f in row_fields)

        cells = group(recs, lambda r: rkey(r) + (float(r[F.ALPHA]),))
        check_one_variant({"/".join(map(str, k)): rs for k, rs in cells.items()}, where)
        check_same_seeds(seeds_by_row(recs, fails.get(key, []), lambda r: "/".join(str(r.get(f)) for f in row_fields)
                                      + f" alpha {r[F.ALPHA]}"), where)
        alphas = sorted({k[-1] for k in cells})
        row_keys = sorted({k[:-1] for k in cells}, key=lambda k: tuple(
            (model_order(v) if f == F.MODEL else CORRUPTION_ORDER.get(v, 9) if f == F.CORRUPTION else 0,
             natural_key(str(v))) for f, v in zip(row_fields, k)))
        headers = list(row_fields) + [f"α={fmt_alpha(a)}" for a in alphas] + [f"max α within {WITHIN:g} of α=0", "n"]
        rows = []
        for rk in row_keys:
            stats = {a: Stat.of(metric_value(r, metric.name) for r in cells.get(rk + (a,), [])) for a in alphas}
            n = max((s.n for s in stats.values()), default=0)
            best = max_alpha_within({a: s.mean for a, s in stats.items() if s.n})
            rows.append([str(v) for v in rk] + [fmt_stat(stats[a], metric.digits, n) for a in alphas]
                        + [DASH if best is None else fmt_alpha(best), str(n)])
        body = md_table(headers, rows) if rows else "No successful records."
        notes = [f"{metric.name} (clean validation set) per corrupted fraction α. Last column: the largest α up to "
                 f"which the mean {metric.name} stays within {WITHIN:g} ({WITHIN * 100:g} points) of its α=0 value."] if rows else []
        notes += failed_note(fails.get(key, []), lambda r: "/".join(str(r.get(f)) for f in row_fields)
                              + f" alpha {r[F.ALPHA] if r[F.ALPHA] is None else fmt_alpha(r[F.ALPHA])} seed {r[F.SEED]}")
        sections.append(Section(heading(task, protocol=pv, fam=fam, suite=suite, records=recs + fails.get(key, []),
                                         ranked=ranked), body, notes))
    return sections


@leaderboard_section("resilience")
def resilience_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    return sweep_sections(ok, failed, "resilience", (F.MODEL, F.MODEL_SIZE, F.CORRUPTION), ranked)


@figures_for("resilience")
def resilience_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, "resilience")
    for (fam, task, pv), recs in tables.items():
        corrs = sorted({r[F.CORRUPTION] for r in recs}, key=lambda c: (CORRUPTION_ORDER.get(c, 9), c))
        models = sorted({r[F.MODEL] for r in recs}, key=model_key)
        fig, axes = plt.subplots(len(corrs), len(models), figsize=(3.4 * len(models), 2.8 * len(corrs)),
                                 squeeze=False, sharex=True, sharey=True, layout="constrained")
        for i, corr in enumerate(corrs):
            for j, model in enumerate(models):
                ax = axes[i][j]
                cell = [r for r in recs if r[F.CORRUPTION] == corr and r[F.MODEL] == model]
                sizes = sorted({r[F.MODEL_SIZE] for r in cell}, key=natural_key)
                for k, size in enumerate(sizes):
                    by_alpha = group([r for r in cell if r[F.MODEL_SIZE] == size], lambda r: (float(r[F.ALPHA]),))
                    alphas = sorted(a for (a,) in by_alpha)
                    label = f" ({size})" if len(sizes) > 1 else ""
                    color = f"C{2 * k}"
                    band(ax, alphas, [Stat.of(acc(r, "train_acc") for r in by_alpha[(a,)]) for a in alphas],
                          color=color, linestyle="-", marker="o", markersize=3, label=f"train{label}")
                    band(ax, alphas, [Stat.of(acc(r, "val_acc") for r in by_alpha[(a,)]) for a in alphas],
                          color=f"C{2 * k + 1}", linestyle="--", marker="s", markersize=3, label=f"validation{label}")
                ax.set_title(f"{MODEL_TITLES.get(model, model)}, {CORRUPTION_TITLES.get(corr, corr)}")
                ax.set_ylim(-0.02, 1.02)
                ax.grid(alpha=0.3)
                if i == len(corrs) - 1:
                    ax.set_xlabel("corrupted fraction α")
                if j == 0:
                    ax.set_ylabel("accuracy")
                if i == 0 and j == len(models) - 1:
                    ax.legend(loc="lower left")
        fig.suptitle(f"Resilience on {task}: accuracy vs α (mean ± 1 std over seeds)")
        save(fig, out_dir, file_name(fam, task, "", pv, newest[(fam, task)]), written)
    return written

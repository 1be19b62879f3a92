"""The capacity suite's report (PROTOCOL 4.4): the resilience sweep with a row per model size, and
validation accuracy vs α in a figure per task, a line per model size, a panel per model."""

from __future__ import annotations

from qbench.records import schema as F
from qbench.report.common import Section, group, model_key
from qbench.report.plotting import MODEL_TITLES, acc, band, figure_tables, file_name, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section
from qbench.report.stats import Stat, natural_key
from qbench.report.suites.resilience import sweep_sections


@leaderboard_section("capacity")
def capacity_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    return sweep_sections(ok, failed, "capacity", (F.MODEL, F.MODEL_SIZE), ranked)


@figures_for("capacity")
def capacity_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, "capacity")
    for (fam, task, pv), recs in tables.items():
        models = sorted({r[F.MODEL] for r in recs}, key=model_key)
        fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True,
                                     layout="constrained")
        for j, model in enumerate(models):
            ax = axes[0][j]
            sizes = sorted({r[F.MODEL_SIZE] for r in recs if r[F.MODEL] == model}, key=natural_key)
            for k, size in enumerate(sizes):
                by_alpha = group([r for r in recs if r[F.MODEL] == model and r[F.MODEL_SIZE] == size],
                               lambda r: (float(r[F.ALPHA]),))
                alphas = sorted(a for (a,) in by_alpha)
                band(ax, alphas, [Stat.of(acc(r, "val_acc") for r in by_alpha[(a,)]) for a in alphas],
                      color=f"C{k}", marker="o", markersize=3, label=size)
            ax.set_title(f"{task}, {MODEL_TITLES.get(model, model)}")
            ax.set_xlabel("corrupted fraction α")
            if j == 0:
                ax.set_ylabel("validation accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(title="size", loc="lower left")
        fig.suptitle(f"Capacity on {task}: validation accuracy vs α per model size (mean ± 1 std)")
        save(fig, out_dir, file_name(fam, task, "", pv, newest[(fam, task)]), written)
    return written

"""The sensitivity suite's report (PROTOCOL 4.7): each method's best grid point beside its default's in a
table per task and model, and a heat map (two swept parameters) or a curve (one) per method."""

from __future__ import annotations

import numpy as np

from qbench.methods import method_order
from qbench.metrics.registry import reported_by
from qbench.records import schema as F
from qbench.records.checks import check_one_variant, check_same_seeds
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import Section, failed_note, group, heading, md_table, model_order, sort_tables
from qbench.report.plotting import MODEL_TITLES, band, file_name, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section
from qbench.report.stats import DASH, fmt_stat, natural_key
from qbench.report.sweeps import sweeps


@leaderboard_section("sensitivity")
def sensitivity_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    """Per task and model: each method's best grid point (highest mean final val_acc) beside its default's."""
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), r[F.TASK], model_order(r[F.MODEL]), r[F.MODEL])

    by_table = group(sweeps(ok), lambda sw: (sw.protocol, sw.task, model_order(sw.model), sw.model))
    # the suite's metrics (their registration): the first chooses the best point, the second is shown beside it
    first, second = reported_by("sensitivity")
    fails = group(failed, tkey)
    sections = []
    for key in sort_tables(set(by_table) | set(fails)):
        pv, task, _, model = key
        where = f"sensitivity {task}/{model} (protocol {pv})"
        rows = []
        for sw in sorted(by_table.get(key, []), key=lambda sw: (method_order(sw.method), sw.method, sw.model_size)):
            check_one_variant({f"{sw.method} {sw.label(p)}": rs for p, rs in sw.records.items()}, where)
            check_same_seeds({f"{sw.method} {sw.label(p)}": {r[F.SEED] for r in rs} for p, rs in sw.records.items()}, where)
            best, n = sw.best(), len(sw.seeds)
            cell = lambda p, m=first: fmt_stat(sw.cells[p][m.name], m.digits, n) if p is not None else DASH  # noqa: E731
            rows.append([f"`{sw.method}`", sw.model_size, ", ".join(sw.params) or DASH, str(len(sw.cells)),
                         sw.label(best), cell(best), cell(best, second),
                         sw.label(sw.default) if sw.default is not None else "not on the grid", cell(sw.default),
                         ", ".join(str(s) for s in sorted(x for x in sw.steps if x is not None)) or DASH, str(n)])
        headers = ["method", "model_size", "swept", "points", "best point", f"{first.column} (best)",
                   f"{second.column} (best)", "default point", f"{first.column} (default)", "steps", "n"]
        body = md_table(headers, rows) if rows else "No successful records."
        notes = ["Final val_acc after the last unlearning step at each grid point (PROTOCOL 4.7), mean ± std "
                 "over seeds; the best point is chosen by the same seeds that measure it, so its value is an "
                 "optimistic estimate. Figures: `qbench plot` (heat map or curve per method)."] if rows else []
        notes += failed_note(fails.get(key, []), lambda r: f"{r[F.METHOD]} {r[F.SCENARIO]} seed {r[F.SEED]}")
        recs = [r for sw in by_table.get(key, []) for rs in sw.records.values() for r in rs] + fails.get(key, [])
        sections.append(Section(heading(task, model, protocol=pv, fam="sensitivity", suite="sensitivity",
                                         records=recs, ranked=ranked), body, notes))
    return sections


@figures_for("sensitivity")
def sensitivity_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    all_sweeps = sweeps(ok)
    newest: dict[tuple, str] = {}
    for sw in all_sweeps:
        k = (sw.task, sw.model, sw.method)
        if k not in newest or natural_key(sw.protocol) > natural_key(newest[k]):
            newest[k] = sw.protocol
    for sw in all_sweeps:
        n = len(sw.seeds)
        where = f"{sw.task}, {MODEL_TITLES.get(sw.model, sw.model)} {sw.model_size}, {sw.method}"
        if len(sw.params) == 2:
            (py, px), (ys, xs) = sw.params, (sw.values[sw.params[0]], sw.values[sw.params[1]])
            grid = np.full((len(ys), len(xs)), np.nan)
            for (vy, vx), stats in sw.cells.items():
                grid[ys.index(vy), xs.index(vx)] = stats["val_acc"].mean
            fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(xs) + 1.2, 1.2 + 0.45 * len(ys)), layout="constrained")
            im = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
            fig.colorbar(im, ax=ax, label=f"final val_acc (mean of {n} seed{'s' if n != 1 else ''})")
            lo, hi = np.nanmin(grid), np.nanmax(grid)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(grid[i, j]):
                        light = hi > lo and (grid[i, j] - lo) / (hi - lo) > 0.6
                        ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                                color="black" if light else "white")
            for point, style in ((sw.default, dict(edgecolor="red", linestyle="-")),
                                 (sw.best(), dict(edgecolor="white", linestyle="--"))):
                if point is not None:
                    ax.add_patch(plt.Rectangle((xs.index(point[1]) - 0.5, ys.index(point[0]) - 0.5), 1, 1,
                                               fill=False, linewidth=1.6, **style))
            ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
            ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
            ax.set_xlabel(px)
            ax.set_ylabel(py)
            ax.set_title(f"{where}\nred: default, dashed white: best")
        elif len(sw.params) == 1:
            (p,) = sw.params
            xs = sw.values[p]
            fig, ax = plt.subplots(figsize=(4.6, 3.3), layout="constrained")
            band(ax, xs, [sw.cells[(x,)]["val_acc"] for x in xs], color="C0", marker="o", markersize=3,
                  label="val_acc")
            band(ax, xs, [sw.cells[(x,)]["forget_acc"] for x in xs], color="C3", marker="s", markersize=3,
                  linestyle="--", label="forget_acc (polluted labels)")
            if sw.default is not None:
                ax.axvline(sw.default[0], color="grey", linestyle=":", linewidth=1, label="default")
            ax.set_xlabel(p)
            ax.set_ylabel("accuracy after the last step")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(loc="best")
            ax.set_title(f"{where}\n(mean ± 1 std over {n} seed{'s' if n != 1 else ''})")
        else:
            continue  # no swept parameter, or more than two: no figure of this kind
        name = file_name("sensitivity", f"{sw.task}_{sw.model}_{sw.method}", "", sw.protocol,
                     newest[(sw.task, sw.model, sw.method)])
        save(fig, out_dir, name, written)
    return written

"""Figures from records only (matplotlib, Agg backend, PNG at 150 dpi), one file per figure with a
name that depends only on what is plotted:

- ``resilience_<task>.png``: train (solid) and validation (dashed) accuracy vs alpha, mean with a
  one-std band; rows = corruption, columns = model (the paper's Fig 2).
- ``unlearning_<task>_val_acc.png``, ``unlearning_<task>_forget_acc.png``: accuracy vs unlearning
  step, a line per method with a one-std band, one panel per model (Fig 3a/b, S2/S3); the oracle (protocol 2)
  as a dashed line at its mean.
- ``unlearning_<task>_gap_to_oracle.png`` (protocol 2): gap_to_oracle vs step (step 0 and every 10 steps),
  a line per method with a one-std band, one panel per model.
- ``landscape_<task>_lrr.png``: LRR per alpha, a bar per model with one-std error bars (Fig 3d).
- ``capacity_<task>.png``: validation accuracy vs alpha, a line per model size, a panel per model (Fig S1).
- ``corrective_<task>_val_acc.png`` (PROTOCOL 4.8): validation accuracy after the last unlearning step vs the
  known fraction f of the flipped samples, a line per method with a one-std band, MLP and QNN side by side;
  the oracle of each f as a dashed line.
- ``sensitivity_<task>_<model>_<method>.png``: final val_acc over a method's hyperparameter grid
  (PROTOCOL 4.7): an annotated heat map of the mean over seeds for two swept parameters, a curve
  with a one-std band (and forget_acc dashed) for one.

Records of another protocol version than the newest of a figure's records get their own file,
suffixed ``_protocol-<v>``; a ``landscape-study`` family likewise gets ``landscape-study_<task>_lrr.png``.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import Callable, Sequence

import numpy as np

from qbench.models import model_info, registered_models
from qbench.records import schema as F
from qbench.records.protocol_rules import table_protocol
from qbench.records.checks import split_failed
from qbench.report.leaderboard import CORRUPTION_ORDER, METHOD_ORDER, MODEL_ORDER, family, known_fraction
from qbench.report.registry import FIGURES, figures_for
from qbench.report.stats import Stat, natural_key

DPI = 150
MODEL_TITLES = {m: model_info(m).title for m in registered_models()}
CORRUPTION_TITLES = {"label_flip": "label flipping", "feature_randomization": "feature randomization"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8, "svg.hashsalt": "qbench"})
    return plt


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))


def _name(prefix: str, task: str, suffix: str, protocol: str, newest: str) -> str:
    tail = "" if protocol == newest else f"_protocol-{_safe(protocol)}"
    return f"{_safe(prefix)}_{_safe(task)}{suffix}{tail}.png"


def _by(records, key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        out[key(r)].append(r)
    return out


def _model_key(m: str):
    return (MODEL_ORDER.get(m, 9), m)


def _band(ax, x, stats: list[Stat], **kw):
    mean = np.array([s.mean for s in stats])
    std = np.array([s.std if s.n > 1 else 0.0 for s in stats])
    line, = ax.plot(x, mean, **kw)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.18, linewidth=0)
    return line


def _legend_below(fig, axes, order: list[str]) -> None:
    """One legend under the panels for the labels of ``order`` that some panel drew."""
    found = {}
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels()):
            found.setdefault(n, h)
    names = [m for m in order if m in found]
    fig.legend([found[m] for m in names], names, loc="outside lower center", ncol=min(len(names), 6), frameon=False)


def _save(fig, out_dir: str, name: str, written: list[str]) -> None:
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    _plt().close(fig)
    written.append(path)


def _acc(r: dict, name: str) -> float:
    v = r[F.METRICS].get(name)
    return float(v) if isinstance(v, (int, float)) else math.nan


def _tables(ok: list[dict], suite: str):
    """{(family, task, protocol): records} for one suite, and the newest protocol per (family, task)."""
    recs = [r for r in ok if r[F.SUITE] == suite]
    groups = _by(recs, lambda r: (family(r), r[F.TASK], table_protocol(r)))
    newest: dict[tuple, str] = {}
    for fam, task, pv in groups:
        if (fam, task) not in newest or natural_key(pv) > natural_key(newest[(fam, task)]):
            newest[(fam, task)] = pv
    return {k: groups[k] for k in sorted(groups, key=lambda k: tuple(natural_key(x) for x in k))}, newest


@figures_for("resilience")
def resilience_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = _plt()
    written: list[str] = []
    tables, newest = _tables(ok, "resilience")
    for (fam, task, pv), recs in tables.items():
        corrs = sorted({r[F.CORRUPTION] for r in recs}, key=lambda c: (CORRUPTION_ORDER.get(c, 9), c))
        models = sorted({r[F.MODEL] for r in recs}, key=_model_key)
        fig, axes = plt.subplots(len(corrs), len(models), figsize=(3.4 * len(models), 2.8 * len(corrs)),
                                 squeeze=False, sharex=True, sharey=True, layout="constrained")
        for i, corr in enumerate(corrs):
            for j, model in enumerate(models):
                ax = axes[i][j]
                cell = [r for r in recs if r[F.CORRUPTION] == corr and r[F.MODEL] == model]
                sizes = sorted({r[F.MODEL_SIZE] for r in cell}, key=natural_key)
                for k, size in enumerate(sizes):
                    by_alpha = _by([r for r in cell if r[F.MODEL_SIZE] == size], lambda r: (float(r[F.ALPHA]),))
                    alphas = sorted(a for (a,) in by_alpha)
                    label = f" ({size})" if len(sizes) > 1 else ""
                    color = f"C{2 * k}"
                    _band(ax, alphas, [Stat.of(_acc(r, "train_acc") for r in by_alpha[(a,)]) for a in alphas],
                          color=color, linestyle="-", marker="o", markersize=3, label=f"train{label}")
                    _band(ax, alphas, [Stat.of(_acc(r, "val_acc") for r in by_alpha[(a,)]) for a in alphas],
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
        _save(fig, out_dir, _name(fam, task, "", pv, newest[(fam, task)]), written)
    return written


@figures_for("unlearning")
def unlearning_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = _plt()
    written: list[str] = []
    tables, newest = _tables(ok, "unlearning")
    for (fam, task, pv), recs in tables.items():
        labels = {"val_acc": "validation accuracy", "forget_acc": "forgetting accuracy (polluted labels)"}
        if any(r[F.METRICS].get("gap_to_oracle") is not None for r in recs):  # protocol 2: every 10 steps
            labels["gap_to_oracle"] = "gap to the oracle (lower: better)"
        models = sorted({r[F.MODEL] for r in recs}, key=_model_key)
        methods = sorted({r[F.METHOD] for r in recs} - {F.ORACLE}, key=lambda m: (METHOD_ORDER.get(m, 99), m))
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
                    by_step = _by([r for r in rs if r[F.METRICS].get(metric) is not None], lambda r: (int(r[F.STEP]),))
                    steps = sorted(s for (s,) in by_step)
                    _band(ax, steps, [Stat.of(_acc(r, metric) for r in by_step[(s,)]) for s in steps],
                          color=colors[method], label=method, linewidth=1.4)
                target = Stat.of(_acc(r, metric) for r in recs if r[F.MODEL] == model and r[F.METHOD] == F.ORACLE)
                if target.n:  # the oracle is one model, not a curve: its mean as a reference line
                    ax.axhline(target.mean, color="0.3", linestyle="--", linewidth=1.0, label=F.ORACLE)
                ax.set_title(f"{task}, {MODEL_TITLES.get(model, model)}")
                ax.set_xlabel("unlearning step")
                if j == 0:
                    ax.set_ylabel(ylabel)
                ax.set_ylim(-0.02, 1.02)
                ax.grid(alpha=0.3)
            _legend_below(fig, axes[0], methods + [F.ORACLE])
            fig.suptitle(f"Unlearning on {task}: {ylabel} vs step (mean ± 1 std over seeds)")
            _save(fig, out_dir, _name(fam, task, f"_{metric}", pv, newest[(fam, task)]), written)
    return written


@figures_for("landscape")
def landscape_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = _plt()
    written: list[str] = []
    tables, newest = _tables(ok, "landscape")
    for (fam, task, pv), recs in tables.items():
        live = [r for r in recs if not r[F.METRICS].get("collapsed") and float(r[F.ALPHA]) > 0]
        alphas = sorted({float(r[F.ALPHA]) for r in live})
        models = sorted({r[F.MODEL] for r in live}, key=_model_key)
        fig, ax = plt.subplots(figsize=(4.6, 3.2), layout="constrained")
        width = 0.8 / max(len(models), 1)
        x = np.arange(len(alphas))
        per_model = {model: [Stat.of(_acc(r, "lrr") for r in live if r[F.MODEL] == model and float(r[F.ALPHA]) == a)
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
        _save(fig, out_dir, _name(fam, task, "_lrr", pv, newest[(fam, task)]), written)
    return written


@figures_for("capacity")
def capacity_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = _plt()
    written: list[str] = []
    tables, newest = _tables(ok, "capacity")
    for (fam, task, pv), recs in tables.items():
        models = sorted({r[F.MODEL] for r in recs}, key=_model_key)
        fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True,
                                     layout="constrained")
        for j, model in enumerate(models):
            ax = axes[0][j]
            sizes = sorted({r[F.MODEL_SIZE] for r in recs if r[F.MODEL] == model}, key=natural_key)
            for k, size in enumerate(sizes):
                by_alpha = _by([r for r in recs if r[F.MODEL] == model and r[F.MODEL_SIZE] == size],
                               lambda r: (float(r[F.ALPHA]),))
                alphas = sorted(a for (a,) in by_alpha)
                _band(ax, alphas, [Stat.of(_acc(r, "val_acc") for r in by_alpha[(a,)]) for a in alphas],
                      color=f"C{k}", marker="o", markersize=3, label=size)
            ax.set_title(f"{task}, {MODEL_TITLES.get(model, model)}")
            ax.set_xlabel("corrupted fraction α")
            if j == 0:
                ax.set_ylabel("validation accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(title="size", loc="lower left")
        fig.suptitle(f"Capacity on {task}: validation accuracy vs α per model size (mean ± 1 std)")
        _save(fig, out_dir, _name(fam, task, "", pv, newest[(fam, task)]), written)
    return written


@figures_for("corrective")
def corrective_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = _plt()
    written: list[str] = []
    tables, newest = _tables(ok, "corrective")
    for (fam, task, pv), recs in tables.items():
        # the final step only: the method units' step N (their config's steps), the oracle's one record
        recs = [r for r in recs if r[F.STEP] == r[F.CONFIG].get("steps") and known_fraction(r) is not None]
        models = sorted({r[F.MODEL] for r in recs}, key=_model_key)
        methods = sorted({r[F.METHOD] for r in recs} - {F.ORACLE}, key=lambda m: (METHOD_ORDER.get(m, 99), m))
        colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
        fractions = sorted({known_fraction(r) for r in recs})
        fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True,
                                 layout="constrained")
        for j, model in enumerate(models):
            ax = axes[0][j]
            ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
            for method in methods + [F.ORACLE]:
                by_f = _by([r for r in recs if r[F.MODEL] == model and r[F.METHOD] == method], lambda r: (known_fraction(r),))
                fs = sorted(f for (f,) in by_f)
                if not fs:
                    continue
                stats = [Stat.of(_acc(r, "val_acc") for r in by_f[(f,)]) for f in fs]
                if method == F.ORACLE:
                    ax.plot(fs, [s.mean for s in stats], color="0.3", linestyle="--", marker="x", markersize=4,
                            linewidth=1.0, label=F.ORACLE)
                else:
                    _band(ax, fs, stats, color=colors[method], marker="o", markersize=3, linewidth=1.4, label=method)
            ax.set_title(f"{task}, {MODEL_TITLES.get(model, model)}")
            ax.set_xlabel("known fraction f of the flipped samples")
            if j == 0:
                ax.set_ylabel("validation accuracy after the last step")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        _legend_below(fig, axes[0], methods + [F.ORACLE])
        fig.suptitle(f"Corrective unlearning on {task}: validation accuracy vs known fraction (mean ± 1 std over seeds)")
        _save(fig, out_dir, _name(fam, task, "_val_acc", pv, newest[(fam, task)]), written)
    return written


@figures_for("sensitivity")
def sensitivity_figures(ok: list[dict], out_dir: str) -> list[str]:
    from qbench.report.sweeps import sweeps

    plt = _plt()
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
            _band(ax, xs, [sw.cells[(x,)]["val_acc"] for x in xs], color="C0", marker="o", markersize=3,
                  label="val_acc")
            _band(ax, xs, [sw.cells[(x,)]["forget_acc"] for x in xs], color="C3", marker="s", markersize=3,
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
        name = _name("sensitivity", f"{sw.task}_{sw.model}_{sw.method}", "", sw.protocol,
                     newest[(sw.task, sw.model, sw.method)])
        _save(fig, out_dir, name, written)
    return written


def make_figures(records: Sequence[dict], out_dir: str, log: Callable[[str], None] = print) -> list[str]:
    """Every figure the records allow; a suite without successful records is skipped with a message."""
    ok, failed = split_failed(records)
    written: list[str] = []
    for suite, fn in FIGURES.items():
        if not any(r[F.SUITE] == suite for r in ok):
            log(f"{suite}: no successful records, figure skipped")
            continue
        os.makedirs(out_dir, exist_ok=True)
        paths = fn(ok, out_dir)
        for p in paths:
            log(f"{suite}: wrote {p}")
        written += paths
    if failed:
        log(f"{len(failed)} failed unit(s) left out of the figures")
    return written

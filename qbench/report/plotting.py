"""What every suite's figures share: matplotlib (Agg backend, PNG at 150 dpi, no software tag, so the
same records give the same bytes), file names, mean ± std bands, a legend under the panels."""

from __future__ import annotations

import math
import os

import numpy as np

from qbench.models import model_info, registered_models
from qbench.records import schema as F
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import family, group
from qbench.report.stats import Stat, natural_key

DPI = 150
MODEL_TITLES = {m: model_info(m).title for m in registered_models()}
CORRUPTION_TITLES = {"label_flip": "label flipping", "feature_randomization": "feature randomization"}


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8, "svg.hashsalt": "qbench"})
    return plt


def safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))


def file_name(prefix: str, task: str, suffix: str, protocol: str, newest: str) -> str:
    tail = "" if protocol == newest else f"_protocol-{safe(protocol)}"
    return f"{safe(prefix)}_{safe(task)}{suffix}{tail}.png"


def band(ax, x, stats: list[Stat], **kw):
    mean = np.array([s.mean for s in stats])
    std = np.array([s.std if s.n > 1 else 0.0 for s in stats])
    line, = ax.plot(x, mean, **kw)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.18, linewidth=0)
    return line


def legend_below(fig, axes, order: list[str]) -> None:
    """One legend under the panels for the labels of ``order`` that some panel drew."""
    found = {}
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels()):
            found.setdefault(n, h)
    names = [m for m in order if m in found]
    fig.legend([found[m] for m in names], names, loc="outside lower center", ncol=min(len(names), 6), frameon=False)


def save(fig, out_dir: str, name: str, written: list[str]) -> None:
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    pyplot().close(fig)
    written.append(path)


def acc(r: dict, name: str) -> float:
    v = r[F.METRICS].get(name)
    return float(v) if isinstance(v, (int, float)) else math.nan


def figure_tables(ok: list[dict], suite: str):
    """{(family, task, protocol): records} for one suite, and the newest protocol per (family, task)."""
    recs = [r for r in ok if r[F.SUITE] == suite]
    groups = group(recs, lambda r: (family(r), r[F.TASK], table_protocol(r)))
    newest: dict[tuple, str] = {}
    for fam, task, pv in groups:
        if (fam, task) not in newest or natural_key(pv) > natural_key(newest[(fam, task)]):
            newest[(fam, task)] = pv
    return {k: groups[k] for k in sorted(groups, key=lambda k: tuple(natural_key(x) for x in k))}, newest

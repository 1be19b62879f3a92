"""Mean and standard deviation over seeds, as a DataFrame and as a printable table."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tabulate import tabulate


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per record: key fields plus its metrics flattened as columns."""
    rows = []
    for r in records:
        row = {k: v for k, v in r.items() if k not in ("config", "metrics", "provenance")}
        for name, value in r["metrics"].items():
            if not isinstance(value, list):
                row[name] = value
        rows.append(row)
    return pd.DataFrame(rows)


def mean_std_table(records: Sequence[dict], by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per group of ``by``: mean and sample std (ddof=1) over seeds of each metric, and the seed count."""
    df = records_frame([r for r in records if r.get("status") == "ok"])
    if df.empty:
        return pd.DataFrame()
    df = df.copy()
    for col in by:
        df[col] = df[col].where(df[col].notna(), "-")
    g = df.groupby(by, sort=True, dropna=False)
    out = g[metrics].agg(["mean", "std"])
    out.columns = [f"{m}_{stat}" for m, stat in out.columns]
    out["n_seeds"] = g["seed"].nunique()
    return out.reset_index()


#: what the key columns of every suite's summary mean; a suite declares its own columns with its
#: registration (``Suite.legend``)
KEY_LEGEND: dict[str, str] = {
    "task": "the task: mnist-1v9 (MNIST digits 1 vs 9) or xxz-<L> (ground states of the L-site XXZ chain)",
    "model": "qnn (TensorCircuit-NG circuit) or mlp (Keras multi-layer perceptron)",
    "model_size": "MLP hidden widths (64x16) or QNN qubits and depth (n12-d4)",
    "corruption": "label_flip (labels flipped) or feature_randomization (inputs replaced by random vectors)",
    "alpha": "fraction of the training samples corrupted",
    "method": "unlearning method (`qbench list methods`)",
    "n_seeds": "seeds (independent runs) behind each cell",
}

#: how a summary cell reads
CELL_LEGEND = (
    ("a ± b", "mean ± sample standard deviation over the seeds (a alone: one seed has a value)"),
    ("-", "no value: the metric is undefined for every seed of the row"),
)


def metric_names(table: pd.DataFrame) -> list[str]:
    """The metrics of a :func:`mean_std_table` (its ``*_mean`` columns, without the suffix)."""
    return [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]


def shown_columns(table: pd.DataFrame, metrics: list[str]) -> list[str]:
    """The columns :func:`format_table` prints, in order."""
    keys = [c for c in table.columns if not any(c.startswith(m + "_") for m in metrics) and c != "n_seeds"]
    return keys + list(metrics) + ["n_seeds"]


def legend_lines(columns: Sequence[str], legend: Mapping[str, str]) -> list[str]:
    """One line per column (the suite's ``legend`` first, then :data:`KEY_LEGEND`), then how cells read."""
    known = {**KEY_LEGEND, **legend}
    rows = [(c, known.get(c, "(not described by its suite)")) for c in columns] + list(CELL_LEGEND)
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {text}" for name, text in rows]


def format_table(table: pd.DataFrame, metrics: list[str], digits: int = 3) -> str:
    """Cells as 'mean ± std' for a terminal."""
    if table.empty:
        return "(no successful records)"
    shown = table[[c for c in table.columns if not any(c.startswith(m + "_") for m in metrics)]].copy()
    for m in metrics:
        mean, std = table[f"{m}_mean"], table[f"{m}_std"]
        shown[m] = [
            "-" if not np.isfinite(a) else (f"{a:.{digits}f}" if not np.isfinite(s) else f"{a:.{digits}f} ± {s:.{digits}f}")
            for a, s in zip(mean, std)
        ]
    return tabulate(shown[shown_columns(table, metrics)], headers="keys", tablefmt="github", showindex=False)

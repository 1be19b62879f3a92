"""Mean and standard deviation over seeds, as a DataFrame and as a printable table."""

from __future__ import annotations

from typing import Sequence

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
    cols = [c for c in shown.columns if c != "n_seeds"] + ["n_seeds"]
    return tabulate(shown[cols], headers="keys", tablefmt="github", showindex=False)

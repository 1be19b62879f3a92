"""Sensitivity records (PROTOCOL 4.7) as grids: which hyperparameters vary, the seeds' statistics at
each grid point, the method's default point and the best one. Used by the figures and the leaderboard.

A sweep is the records of one (protocol version, task, model, model size, method). Its swept
parameters are the numeric hyperparameters that take more than one value among the records (so a
sweep's axes come from the records alone, whichever grids produced them), in the order the run gave
them (the records' ``grid.params``), the rest by name.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from qbench.records import schema as F
from qbench.records.protocol_rules import table_protocol
from qbench.report.stats import Stat


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass
class Sweep:
    protocol: str
    task: str
    model: str
    model_size: str
    method: str
    params: list[str]  # swept, in axis order
    values: dict[str, list[float]]  # sorted values per swept parameter
    cells: dict[tuple, dict[str, Stat]]  # point (tuple in params order) -> metric -> Stat over seeds
    seeds: set[int] = field(default_factory=set)
    default: tuple | None = None  # the method's default point, if it lies on the grid
    steps: set[int] = field(default_factory=set)
    records: dict[tuple, list[dict]] = field(default_factory=dict)  # point -> its records (one per seed)

    def best(self, metric: str = "val_acc") -> tuple | None:
        """Point with the highest mean (first in grid order on a tie)."""
        scored = [(p, s[metric].mean) for p, s in sorted(self.cells.items()) if s[metric].n]
        if not scored:
            return None
        top = max(m for _, m in scored)
        return next(p for p, m in scored if m == top)

    def label(self, point: tuple | None) -> str:
        if point is None:
            return "–"
        return ", ".join(f"{k}={v:g}" for k, v in zip(self.params, point)) or "(no swept parameter)"


def sweeps(records: Iterable[dict], metrics: tuple[str, ...] = ("val_acc", "forget_acc")) -> list[Sweep]:
    """Successful sensitivity records grouped into sweeps, sorted by protocol, task, model, method."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r[F.SUITE] == "sensitivity" and r[F.STATUS] == "ok":
            groups[(table_protocol(r), r[F.TASK], r[F.MODEL], str(r[F.MODEL_SIZE]), r[F.METHOD])].append(r)
    out = []
    for key in sorted(groups, key=lambda k: tuple(map(str, k))):
        recs = groups[key]
        hps = [r[F.CONFIG].get("method_hyperparameters") or {} for r in recs]
        names = sorted({k for hp in hps for k, v in hp.items() if _numeric(v)})
        varying = [k for k in names if len({hp.get(k) for hp in hps}) > 1]
        hinted = []
        for r in recs:
            for k in (r.get("grid") or {}).get("params", []):
                if k in varying and k not in hinted:
                    hinted.append(k)
        params = hinted + [k for k in varying if k not in hinted]
        per_point: dict[tuple, list[dict]] = defaultdict(list)
        for r, hp in zip(recs, hps):
            per_point[tuple(hp.get(k) for k in params)].append(r)
        cells = {p: {m: Stat.of(_metric(r, m) for r in rs) for m in metrics} for p, rs in per_point.items()}
        defaults = recs[0][F.CONFIG].get("method_defaults") or {}
        default = tuple(defaults.get(k) for k in params) if defaults else None
        if default is not None and default not in cells:
            default = None
        out.append(Sweep(*key, params=params,
                         values={k: sorted({p[i] for p in cells}) for i, k in enumerate(params)}, cells=cells,
                         seeds={r[F.SEED] for r in recs}, default=default,
                         steps={r[F.CONFIG].get("steps") for r in recs}, records=dict(per_point)))
    return out


def _metric(r: dict, name: str) -> float | None:
    v = r[F.METRICS].get(name)
    return float(v) if _numeric(v) and math.isfinite(float(v)) else None

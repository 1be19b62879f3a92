"""Ablations: records that differ from the protocol on purpose, kept under ``leaderboard/ablations`` and
shown in their own section beside the protocol's records, never ranked."""

from __future__ import annotations

from typing import Sequence

from qbench.errors import QbenchError
from qbench.records import schema as F
from qbench.records.checks import check_one_variant
from qbench.records.protocol_rules import record_phase
from qbench.report.common import Section, column, group, md_table, metric_value
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_stat


def phase_ablation_section(protocol_recs: Sequence[dict], fixed_recs: Sequence[dict]) -> Section | None:
    """xxz MLP resilience under label flipping with the fixed phase (protocol 1, the ablation) beside the
    random phase (protocol 2): train_acc and val_acc per alpha. None without fixed-phase records."""
    from qbench.records.protocol_rules import record_phase

    def pick(recs: Sequence[dict], phase: str) -> list[dict]:
        return [r for r in recs if r[F.SUITE] == "resilience" and r[F.MODEL] == "mlp" and r[F.STATUS] == "ok"
                and r[F.CORRUPTION] == "label_flip" and record_phase(r) == phase]

    fixed, rnd = pick(fixed_recs, "fixed"), pick(protocol_recs, "random")
    if not fixed:
        return None
    tasks = sorted({r[F.TASK] for r in fixed})
    if len(tasks) != 1 or {r[F.TASK] for r in rnd} - set(tasks):
        raise QbenchError(f"records not fit to publish: the phase ablation covers one xxz task, got {tasks}")
    cells = {name: group(recs, lambda r: (float(r[F.ALPHA]),)) for name, recs in (("fixed", fixed), ("random", rnd))}
    for name, recs in (("fixed", fixed), ("random", rnd)):
        check_one_variant({f"phase {name} alpha {a[0]}": rs for a, rs in cells[name].items()},
                          f"phase ablation {tasks[0]}")
    alphas = sorted({a for c in cells.values() for (a,) in c})
    rows = []
    for a in alphas:
        stats = {(name, m): Stat.of(metric_value(r, m) for r in cells[name].get((a,), []))
                 for name in ("fixed", "random") for m in ("train_acc", "val_acc")}
        n = {name: stats[(name, "val_acc")].n for name in ("fixed", "random")}
        rows.append([fmt_alpha(a)] + [fmt_stat(stats[(name, m)], 3, n[name]) if n[name] else DASH
                                      for m in ("train_acc", "val_acc") for name in ("fixed", "random")]
                    + [f"{n['fixed']} / {n['random']}"])
    headers = ["α"] + [f"{column(m)}, {name} phase" for m in ("train_acc", "val_acc") for name in ("fixed", "random")] + [
        "n (fixed / random)"]
    notes = ["Label flipping, MLP "
             f"{', '.join(sorted({str(r[F.MODEL_SIZE]) for r in fixed}))}, full training recipe; fixed phase: every "
             "state in its canonical form (largest amplitude real positive; protocol 1, now an ablation); random "
             "phase: each state times e^(iφ) drawn from the data seed (protocol 2). The QNN cannot see a global "
             "phase, so only the MLP has this ablation."]
    return Section(f"{tasks[0]} · mlp · label_flip: fixed vs random global phase (ablation of PROTOCOL 1.2)",
                   md_table(headers, rows), notes)

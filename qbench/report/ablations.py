"""Ablations: records that differ from the protocol on purpose, kept under ``leaderboard/ablations`` and
shown in their own section beside the protocol's records, never ranked.

An ablation's records are checked as the protocol's are (:mod:`qbench.report.conformance`): each must
belong to a registered ablation and differ from its registered scenario's protocol config only in the
fields that ablation changes. A record of no ablation is refused, never skipped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from qbench.errors import QbenchError
from qbench.records import schema as F
from qbench.records.checks import check_one_variant
from qbench.records.protocol_rules import record_phase
from qbench.report.common import Section, column, group, md_table, metric_value
from qbench.report.conformance import Checker
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_stat


@dataclass(frozen=True)
class Ablation:
    name: str
    #: the config fields (and the fields below them) in which its records differ from the protocol on purpose
    changes: tuple[str, ...]
    #: whether a record is one of its records
    takes: Callable[[dict], bool]
    #: ``f(the protocol's successful records, its records) -> Section | None``
    section: Callable[[Sequence[dict], Sequence[dict]], Section | None]

    def unexpected(self, deviations: Sequence[str]) -> list[str]:
        """The deviations from the protocol that are not this ablation's changes."""
        return [d for d in deviations if not any(d.split(":", 1)[0] == c or d.startswith(c + ".")
                                                 for c in self.changes)]


def _phase_cell(rec: dict, phase: str) -> bool:
    return (rec[F.SUITE] == "resilience" and rec[F.MODEL] == "mlp" and rec[F.CORRUPTION] == "label_flip"
            and record_phase(rec) == phase)


def phase_ablation_section(protocol_recs: Sequence[dict], fixed_recs: Sequence[dict]) -> Section | None:
    """xxz MLP resilience under label flipping with the fixed phase (protocol 1, the ablation) beside the
    random phase (protocol 2): train_acc and val_acc per alpha. None without fixed-phase records."""
    def pick(recs: Sequence[dict], phase: str) -> list[dict]:
        return [r for r in recs if _phase_cell(r, phase) and r[F.STATUS] == "ok"]

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



#: the registered ablations (the xxz global phase: protocol 1's fixed phase, made before protocol 2 changed it)
ABLATIONS = (Ablation("xxz global phase fixed", ("config.protocol_version", "config.task_options"),
                      lambda r: _phase_cell(r, "fixed"), phase_ablation_section),)


def load_ablations(paths: Sequence[str]) -> list[dict]:
    """The records under ``paths``, each one of a registered ablation and otherwise the protocol's; else
    QbenchError naming its file and line (a record naming a module is refused here too, never imported)."""
    from qbench.records.store import iter_records

    checker, out = Checker(), []
    for where, rec in iter_records(paths, recursive=True):
        deviations = checker.deviations(rec)
        ablation = next((a for a in ABLATIONS if a.takes(rec)), None)
        if ablation is None:
            raise QbenchError(f"{where}: not a record of any ablation ({'; '.join(a.name for a in ABLATIONS)})"
                              + (f": {'; '.join(deviations[:3])}" if deviations else ""))
        other = ablation.unexpected(deviations)
        if other:
            raise QbenchError(f"{where}: not a record of the ablation '{ablation.name}': {'; '.join(other[:3])}")
        out.append(rec)
    return out


def ablation_sections(protocol_ok: Sequence[dict], records: Sequence[dict]) -> list[Section]:
    """Each registered ablation's section from its records (and the protocol's successful records)."""
    sections = [a.section(protocol_ok, [r for r in records if a.takes(r)]) for a in ABLATIONS]
    return [s for s in sections if s is not None]

"""The ``forgetting`` suite's rows (PROTOCOL 4.9) from its records: a pure function, for the leaderboard.

A row per (task, model, model size, tier) and method: ``ulira_acc`` with its bootstrap 95% interval and
``forget_score`` with its 95% interval over forget samples, of the method's K unlearned models against the
K oracles (phi on every forget sample, :mod:`qbench.metrics.forgetting`), and the K models' mean
``val_acc``, ``retain_acc``, ``forget_acc``,
``mia_efficacy`` and ``mia_attack_acc``. Two reference rows, computed the same way and never ranked:
``poisoned`` (the poisoned models against the oracles: what forgetting nothing looks like) and ``null``
(the oracles of seeds 0..K/2-1 against those of K/2..K-1: the test's calibration), which also carries the
mean and sd of ulira_acc over :data:`NULL_SPLITS` seeded random half-splits of the oracles. Failed units are left
out and counted (``failed``); a number that cannot be computed is None with its reason under ``notes``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from qbench.errors import QbenchError
from qbench.metrics.forgetting import (
    NULL_SPLITS,
    Interval,
    forget_score_interval,
    halves,
    max_resolvable_epsilon,
    null_calibration,
    phi,
    ulira_acc,
)
from qbench.metrics.registry import Missing
from qbench.records import schema as F

SUITE = "forgetting"
NULL = "null"
#: the per-model metrics a row averages
MEANS = ("val_acc", "retain_acc", "forget_acc", "mia_efficacy", "mia_attack_acc")


def _group_key(r: dict) -> tuple:
    return (r[F.TASK], r[F.MODEL], r[F.MODEL_SIZE], bool((r.get(F.CONFIG) or {}).get("quick", False)))


def _forget_set(r: dict) -> tuple:
    return tuple(r[F.FORGET_INDICES]), tuple(r[F.FORGET_LABELS])


def _by_seed(records: list[dict], where: str) -> list[dict]:
    """The records in seed order; a seed recorded twice is refused."""
    seeds = [r[F.SEED] for r in records]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise QbenchError(f"{where}: seed(s) {', '.join(map(str, twice))} recorded twice")
    return sorted(records, key=lambda r: r[F.SEED])


def _phi(recs: Sequence[dict]) -> np.ndarray:
    """(models, samples) phi of the records, in their order."""
    return np.array([phi(np.asarray(r[F.FORGET_LOGITS]), np.asarray(r[F.FORGET_LABELS]))
                     for r in recs]).reshape(len(recs), -1)


def _means(recs: Iterable[dict]) -> dict[str, float | None]:
    out = {}
    for name in MEANS:
        values = [r[F.METRICS].get(name) for r in recs]
        values = [float(v) for v in values if v is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def _row(head: dict, method: str, kind: str, unlearned: Sequence[dict], oracles: Sequence[dict],
         failed: int, means_over: Iterable[dict], seed: int) -> dict:
    notes: dict[str, str] = {}
    u, o = _phi(unlearned) if unlearned else np.zeros((0, 0)), _phi(oracles) if oracles else np.zeros((0, 0))
    acc = ulira_acc(u, o, seed=seed) if unlearned and oracles else Missing("no finished models")
    score = forget_score_interval(u, o) if unlearned and oracles else Missing("no finished models")
    if isinstance(acc, Missing):
        notes["ulira_acc"] = acc.reason
    if isinstance(score, Missing):
        notes["forget_score"] = score.reason
    row = {
        **head, "method": method, "kind": kind, "n_models": len(unlearned), "n_oracles": len(oracles), "failed": failed,
        "ulira_acc": acc.value if isinstance(acc, Interval) else None,
        "ulira_low": acc.low if isinstance(acc, Interval) else None,
        "ulira_high": acc.high if isinstance(acc, Interval) else None,
        "forget_score": score.value if isinstance(score, Interval) else None,
        "forget_score_low": score.low if isinstance(score, Interval) else None,
        "forget_score_high": score.high if isinstance(score, Interval) else None,
        "max_resolvable_epsilon": max_resolvable_epsilon(len(unlearned)) if len(unlearned) > 1 else None,
        **_means(means_over), "bootstrap_seed": seed,
    }
    if failed:
        notes["failed"] = f"{failed} of the method's units failed; the row is over the {len(unlearned)} that finished"
    if notes:
        row["notes"] = notes
    return row


def forgetting_rows(records: Iterable[dict], seed: int = 0) -> list[dict]:
    """The suite's rows from its records (others are ignored): per group, each method's row (sorted by name),
    then the ``poisoned`` and ``null`` references. ``seed``: the bootstrap's. Records of one group that
    disagree on the forget set (indices or labels) or repeat a seed are refused (QbenchError)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r.get(F.SUITE) == SUITE:
            groups[_group_key(r)].append(r)
    rows = []
    for key in sorted(groups, key=str):
        recs = groups[key]
        task, model, size, quick = key
        where = f"forgetting {task} {model} ({size}{', quick' if quick else ''})"
        ok = [r for r in recs if r[F.STATUS] == "ok"]
        if len({_forget_set(r) for r in ok}) > 1:
            raise QbenchError(f"{where}: the records disagree on the forget set (data not fixed across models)")
        kinds: dict[str, list[dict]] = defaultdict(list)
        failed: dict[str, int] = defaultdict(int)
        for r in recs:
            if r[F.STATUS] == "ok":
                kinds[r[F.METHOD]].append(r)
            else:
                failed[r[F.METHOD]] += 1
        per = {m: _by_seed(rs, f"{where}, {m}") for m, rs in kinds.items()}
        oracles = per.get(F.ORACLE, [])
        head = {"task": task, "model": model, "model_size": size, "quick": quick}
        for method in sorted(set(per) | set(failed)):
            if method in (F.ORACLE, F.POISONED):
                continue
            got = per.get(method, [])
            rows.append(_row(head, method, "method", got, oracles, failed[method], got, seed))
        poisoned = per.get(F.POISONED, [])
        rows.append(_row(head, F.POISONED, "reference", poisoned, oracles, failed[F.POISONED], poisoned, seed))
        first, second = halves(oracles)
        null = _row(head, NULL, "reference", first, second, failed[F.ORACLE], oracles, seed)
        calibration = null_calibration(_phi(oracles), seed=seed) if oracles else Missing("no finished models")
        if isinstance(calibration, Missing):
            null.setdefault("notes", {})["null_splits"] = calibration.reason
        else:
            null.update(null_split_mean=calibration[0], null_split_sd=calibration[1], null_splits=NULL_SPLITS)
        rows.append(null)
    return rows

"""Which protocol a record belongs to, and which xxz global-phase rule its data had (PROTOCOL 1.2).

A record carries the protocol version that last changed its scenario (``protocol.scenario_version``):
records of scenarios that protocol 2 left unchanged keep ``protocol_version`` 1 and still belong in
protocol-2 tables; a record whose version is older than its scenario's is stale and is shown apart.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from qbench.errors import QbenchError
from qbench.protocol import PROTOCOL_VERSION, scenario_version, task_family
from qbench.records import schema as F


def table_protocol(rec: dict) -> str:
    """The protocol whose tables ``rec`` belongs in: the current one if its scenario has not changed since
    the record's version; else its own version, marked, so that it never shares a table with current ones."""
    own = str(rec["protocol_version"])
    try:
        current = scenario_version(rec[F.SUITE], str(rec[F.TASK]), str(rec[F.MODEL]))
    except (KeyError, TypeError, ValueError):
        return own
    if own == current:
        return PROTOCOL_VERSION
    return f"{own} (superseded)" if own.isdigit() and int(own) < int(current) else f"{own} (not {current})"


def _train_specs(config: dict) -> list[dict]:
    if isinstance(config.get("poisoned"), dict):
        return [config["poisoned"]]
    if isinstance(config.get("train"), list):
        return [d for d in config["train"] if isinstance(d, dict)]
    return [config]


def record_phase(rec: dict) -> str | None:
    """'random' or 'fixed' for an xxz record (a config without task_options is protocol 1: fixed), else None."""
    if task_family(str(rec.get(F.TASK) or "")) != "xxz":
        return None
    phases = {(spec.get("task_options") or {}).get("phase", "fixed") if "task_options" in spec else "fixed"
              for spec in _train_specs(rec.get(F.CONFIG) or {})}
    return phases.pop() if len(phases) == 1 else "mixed"


def check_phase_rules(records: Iterable[dict]) -> None:
    """Refuse a set of records in which one suite's xxz table would mix global-phase rules."""
    seen: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        phase = record_phase(r)
        if phase is not None:
            seen[(r[F.SUITE], r[F.TASK], table_protocol(r))][phase].append(r[F.UNIT_KEY])
    for (suite, task, _), by_phase in sorted(seen.items()):
        if len(by_phase) > 1:
            desc = "; ".join(f"phase {p}: {len(set(k))} unit(s), e.g. {sorted(k)[0]}" for p, k in sorted(by_phase.items()))
            raise QbenchError(f"records not fit to publish: {suite} {task} mixes xxz global-phase rules ({desc}); "
                              f"keep one rule per results tree (the fixed-phase ablation lives in its own tree)")

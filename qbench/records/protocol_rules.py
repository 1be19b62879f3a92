"""Which protocol a record belongs to, and which xxz global-phase rule its data had (PROTOCOL 1.2).

A record carries the protocol version that last changed its scenario (``protocol.scenario_version``):
records of scenarios that protocol 2 left unchanged keep ``protocol_version`` 1 and still belong in
protocol-2 tables; a record whose version is older than its scenario's is stale and is shown apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Iterable

from qbench.errors import QbenchError
from qbench.protocol import PROTOCOL_VERSION, family_version
from qbench.records import schema as F
from qbench.tasks import named_task


def table_protocol(rec: dict) -> str:
    """The protocol whose tables ``rec`` belongs in: the current one if its scenario has not changed since
    the record's version; else its own version, marked, so that it never shares a table with current ones.
    The task's family comes from :func:`qbench.tasks.named_task`: no module a record names is imported."""
    own = str(rec["protocol_version"])
    task = named_task(str(rec.get(F.TASK)))
    try:
        current = family_version(rec[F.SUITE], task.family if task else None, str(rec[F.MODEL]))
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


def record_task_options(rec: dict) -> dict | None:
    """The task options a record's data had (xxz: its phase rule); a config without ``task_options`` was
    written before tasks had options and means the task's protocol-1 options. None: a task neither built
    in nor installed (never imported to find out)."""
    task = named_task(str(rec.get(F.TASK) or ""))
    if task is None:
        return None
    legacy = task.legacy_options
    seen = {json.dumps(spec["task_options"] if "task_options" in spec else legacy, sort_keys=True)
            for spec in _train_specs(rec.get(F.CONFIG) or {})}
    return json.loads(seen.pop()) if len(seen) == 1 else {"mixed": sorted(seen)}


def record_phase(rec: dict) -> str | None:
    """The xxz global-phase rule of a record's data ('random' or 'fixed'); None for a task without one."""
    return (record_task_options(rec) or {}).get("phase")


def check_task_option_rules(records: Iterable[dict]) -> None:
    """Refuse a set of records in which one suite's table of a task would mix task options (for xxz:
    global-phase rules), which change the data every model of the table sees."""
    seen: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        options = record_task_options(r)
        if options is not None:
            label = ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "none"
            seen[(r[F.SUITE], r[F.TASK], table_protocol(r))][label].append(r[F.UNIT_KEY])
    for (suite, task, _), by_rule in sorted(seen.items()):
        if len(by_rule) > 1:
            desc = "; ".join(f"{rule}: {len(set(k))} unit(s), e.g. {sorted(k)[0]}" for rule, k in sorted(by_rule.items()))
            raise QbenchError(f"records not fit to publish: {suite} {task} mixes task options ({desc}); keep one "
                              f"setting per results tree (the fixed-phase xxz ablation lives in its own tree)")

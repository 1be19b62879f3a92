"""Run a suite's units into an output directory: resumable, failure-tolerant, with progress."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Sequence

from tqdm.auto import tqdm

from qbench.experiment import RunContext
from qbench.records import RecordStore
from qbench.records.build import new_record
from qbench.scenarios import Unit


@dataclass
class RunReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def failure_record(unit: Unit, exc: BaseException) -> dict:
    c = unit.config
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return new_record(
        suite=unit.suite, scenario=unit.scenario, unit_key=unit.key, config=c, metrics={},
        task=c.get("task"), model=c.get("model"), model_size=str(c.get("model_options", "")),
        corruption=c.get("corruption"), alpha=c.get("alpha"), seed=c.get("seed", -1),
        method=c.get("method"), status="failed",
        error=f"{type(exc).__name__}: {exc}", traceback="".join(tb[-6:]),
    )


def run_units(
    units: Sequence[Unit], store: RecordStore, ctx: RunContext, *, force: bool = False, progress: bool = True
) -> RunReport:
    """Run every unit whose record is not in ``store`` yet (all of them with ``force``)."""
    report = RunReport()
    # units of one group share compiled functions; keep them together, in plan order otherwise
    order = {g: i for i, g in reversed(list(enumerate(u.group for u in units)))}
    ordered = sorted(units, key=lambda u: order[u.group])
    bar = tqdm(ordered, disable=not progress, unit="unit", dynamic_ncols=True)
    for unit in bar:
        bar.set_description(unit.key.rsplit("-", 1)[0][:60])
        if not force and store.has(unit.key):
            report.skipped.append(unit.key)
            continue
        try:
            records = unit.run(ctx, str(store.root))
        except Exception as exc:  # noqa: BLE001  (a failed unit is a result; the sweep goes on)
            records = [failure_record(unit, exc)]
            report.failed.append(unit.key)
        else:
            if any(r.get("status") == "failed" for r in records):
                report.failed.append(unit.key)
            else:
                report.done.append(unit.key)
        store.write_unit(unit.key, records)
        bar.set_postfix(done=len(report.done), failed=len(report.failed), skipped=len(report.skipped))
    return report

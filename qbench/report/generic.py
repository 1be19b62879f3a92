"""The table of a suite without a report module of its own (a suite from outside the package), from its
records alone: never ranked, nothing imported to draw it.

A table per protocol version, task and model; a row per model size, corruption, α, method and known fraction
that the records hold, at each unit's last step; a column per metric the records hold a number for, mean ±
std over seeds. A built-in metric is titled and formatted by its registration (:mod:`qbench.metrics.registry`:
the suite's own reported metrics first), any other by its name with three decimals."""

from __future__ import annotations

from typing import Sequence

from qbench.metrics.registry import reported_by, shown_metric
from qbench.records import schema as F
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import Section, failed_note, family, group, heading, md_table, metric_value, sort_tables
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_stat, natural_key

ROW_FIELDS = (F.MODEL_SIZE, F.CORRUPTION, F.ALPHA, F.METHOD, F.KNOWN_FRACTION)


def _cell(value: object) -> str:
    return DASH if value is None else fmt_alpha(value) if isinstance(value, float) else str(value)


def last_steps(records: Sequence[dict]) -> list[dict]:
    """Each unit's records at its last step (all of them where the records have no step)."""
    last: dict[str, int] = {}
    for r in records:
        if isinstance(r[F.STEP], int):
            last[r[F.UNIT_KEY]] = max(last.get(r[F.UNIT_KEY], r[F.STEP]), r[F.STEP])
    return [r for r in records if r[F.UNIT_KEY] not in last or r[F.STEP] == last[r[F.UNIT_KEY]]]


def metric_columns(suite: str, records: Sequence[dict]) -> list[str]:
    """The metrics with a number in ``records``: the suite's reported ones (registration order), then by name;
    counts (``n_*``) left out."""
    held = {k for r in records for k in r[F.METRICS] if metric_value(r, k) is not None and not k.startswith("n_")}
    own = [m.name for m in reported_by(suite) if m.name in held]
    return own + sorted(held - set(own))


def generic_sections(suite: str, ok: list[dict], failed: list[dict]) -> list[Section]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK], r[F.MODEL])

    tables, fails = group(last_steps(ok), tkey), group(failed, tkey)
    sections = []
    for key in sort_tables(set(tables) | set(fails)):
        pv, fam, task, model = key
        recs, bad = tables.get(key, []), fails.get(key, [])
        fields = [f for f in ROW_FIELDS if any(r.get(f) is not None for r in recs)]
        names = metric_columns(suite, recs)
        rows = []
        for rk, rs in sorted(group(recs, lambda r: tuple(r.get(f) for f in fields)).items(),
                             key=lambda kv: tuple(natural_key(str(v)) for v in kv[0])):
            n = len({r[F.SEED] for r in rs})
            rows.append([_cell(v) for v in rk] + [fmt_stat(Stat.of(metric_value(r, m) for r in rs),
                                                           shown_metric(m).digits, n) for m in names] + [str(n)])
        headers = fields + [shown_metric(m).column for m in names] + ["n"]
        body = md_table(headers, rows) if rows else "No successful records."
        notes = [f"Suite {suite!r} has no report module: each metric at each unit's last step, mean ± std over "
                 "seeds, never ranked."] if rows else []
        notes += failed_note(bad, lambda r: f"{'/'.join(_cell(r.get(f)) for f in fields)} seed {r[F.SEED]}")
        sections.append(Section(heading(task, model, protocol=pv, fam=fam, suite=suite, records=recs + bad,
                                        ranked=False), body, notes))
    return sections

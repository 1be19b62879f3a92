"""The leaderboard's re-run coverage: a table, from the ledger of ``qbench verify --all``, of how many
of the tabled units were re-run and agreed with their records, per suite and model."""

from __future__ import annotations

from qbench.records.ledger import LedgerView
from qbench.report.common import md_table, model_key
from qbench.report.registry import section_suites

TITLE = "Re-run coverage"


def disagreement_split(cov: dict) -> str:
    """' (a re-run on the CPU model that made them; b on another; c where no CPU is named)', or ''."""
    parts = [(cov.get("disagreed_same_cpu", 0), "re-run on the CPU model that made them"),
             (cov.get("disagreed_other_cpu", 0), "re-run on another CPU model (XLA compiles per instruction set)"),
             (cov.get("disagreed_cpu_unknown", 0), "where the record or the check does not name its CPU")]
    shown = [f"{n:,} {what}" for n, what in parts if n]
    return f" ({'; '.join(shown)})" if cov.get("units_disagreed") and shown else ""


def coverage_lines(view: LedgerView, results: str = "leaderboard/results",
                   ledger: str = "leaderboard/verify-ledger.jsonl") -> list[str]:
    """The section: heading, what it counts, and the table (a row per suite and model, then all units)."""
    order = {s.name: i for i, s in enumerate(section_suites())}
    cells = view.by("suite", "model")
    keys = sorted(cells, key=lambda k: (order.get(k[0], len(order)), k[0], model_key(k[1])))
    total = view.counts(view.ok_units)

    def row(suite: str, model: str, c: dict) -> list[str]:
        return [suite, model] + [f"{c[k]:,}" for k in ("units", "units_checked", "units_agreed", "units_disagreed")]

    table = md_table(["suite", "model", "units", "re-run", "agree", "disagree"],
                     [row(s, m, cells[(s, m)]) for s, m in keys] + [row("all", "all", total)],
                     align=("left", "left", "right", "right", "right", "right"))
    note = (f"Successful units under `{results}` re-run by `qbench verify --all {results}` (ledger `{ledger}`): a "
            "unit counts as re-run when a ledger entry names it with the sha256 its record file has now; agree: "
            f"every metric of the re-run within the tolerance of the record's.{disagreement_split(total)}")
    return [f"### {TITLE}", "", table, "", f"_{note}_"]

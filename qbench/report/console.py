"""A run's summary for the terminal: the leaderboard's own sections for the run's records, as plain text.

There is no second summary: ``qbench run`` prints what ``qbench leaderboard`` would table for the same
records (unranked when they are not the protocol's), so the console and the leaderboard cannot disagree."""

from __future__ import annotations

from typing import Sequence

from qbench.errors import QbenchError
from qbench.records import schema as F
from qbench.records.checks import split_failed
from qbench.report import suites as _suites  # noqa: F401  (registers every suite's sections)
from qbench.report.common import Section
from qbench.report.generic import generic_sections
from qbench.report.registry import SECTIONS, build_sections, section_suites


def plain(section: Section, title: str = "") -> str:
    """A section without its Markdown emphasis: heading, table, notes."""
    heading = f"{title} · {section.heading}" if title else section.heading
    notes = [n if n.startswith("- ") else n.strip("_") for n in section.notes]
    return "\n".join([f"== {heading}", "", section.body] + ([""] + notes if notes else []))


def run_summary(records: Sequence[dict], ranked: bool) -> str:
    """The leaderboard sections of ``records`` (every suite among them that has a section), as text."""
    ok, failed = split_failed(records)
    parts = []
    for suite in section_suites():
        mine_ok = [r for r in ok if r[F.SUITE] == suite.name]
        mine_failed = [r for r in failed if r[F.SUITE] == suite.name]
        if not mine_ok and not mine_failed:
            continue
        try:
            sections = build_sections(suite.name, ok, failed, ranked)
        except QbenchError as exc:  # e.g. a run stopped half-way: its records are there, its table is not
            parts.append(f"== {suite.title}\n\n(no table: {exc})")
            continue
        parts += [plain(s, suite.title) for s in sections]
    for name in sorted({r[F.SUITE] for r in records} - set(SECTIONS)):  # a suite without a report module
        parts += [plain(s, f"`{name}`") for s in generic_sections(name, [r for r in ok if r[F.SUITE] == name],
                                                                   [r for r in failed if r[F.SUITE] == name])]
    return "\n\n".join(parts) if parts else "(no successful records)"

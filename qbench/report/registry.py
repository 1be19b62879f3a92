"""What the report side builds for each suite, registered once by suite name: its leaderboard section
builder (``@leaderboard_section``), its figure builder (``@figures_for``) and its record checks
(``record_check``). The suite itself (title, order, optional heading) is :class:`qbench.scenarios.Suite`:
suites never import the report side, so the report side registers here, keyed by the suite's name."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

F = TypeVar("F", bound=Callable)

#: suite -> ``f(ok, failed, ranked=True) -> list[Section]`` (with ``references=`` where :data:`REFERENCES` names any)
SECTIONS: dict[str, Callable] = {}
#: suite -> the other suites whose successful records its section reads as references (``references=``), from the
#: same set of records as its own (protocol records beside protocol records, the others beside the others)
REFERENCES: dict[str, tuple[str, ...]] = {}
#: suite -> ``f(ok, out_dir) -> list[written paths]``, in registration order
FIGURES: dict[str, Callable] = {}
#: suite -> ``f(records, failed_unit_keys) -> list[problems]`` run by the publication check
RECORD_CHECKS: dict[str, Callable[[Sequence[dict], set[str]], list[str]]] = {}
#: a report that reads several suites' records (the controls, PROTOCOL 2.4), by name -> its leaderboard title;
#: its builders sit in :data:`CROSS_SECTIONS` and :data:`CROSS_FIGURES`, they get every suite's records and
#: return nothing where there is nothing of theirs (the leaderboard then shows no heading)
CROSS_TITLES: dict[str, str] = {}
#: name -> ``f(ok, failed, ranked=True) -> list[Section]``, in registration order, after the suites' sections
CROSS_SECTIONS: dict[str, Callable] = {}
#: name -> ``f(ok, out_dir) -> list[written paths]``
CROSS_FIGURES: dict[str, Callable] = {}


def _register(table: dict[str, Callable], what: str, suite: str) -> Callable[[F], F]:
    def deco(f: F) -> F:
        if suite in table:
            raise ValueError(f"{what} for suite {suite!r} registered twice")
        table[suite] = f
        return f

    return deco


def leaderboard_section(suite: str, references: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Register the leaderboard section builder of ``suite``; ``references``: the suites whose records it also
    reads (its keyword argument ``references``)."""
    if references:
        REFERENCES[suite] = tuple(references)
    return _register(SECTIONS, "leaderboard section", suite)


def build_sections(suite: str, ok: Sequence[dict], failed: Sequence[dict], ranked: bool = True) -> list:
    """The sections of ``suite`` from the successful and failed records of every suite: its own, and the
    successful records of the suites it reads as references (:data:`REFERENCES`)."""
    from qbench.records.schema import SUITE

    refs = {"references": [r for r in ok if r[SUITE] in REFERENCES[suite]]} if suite in REFERENCES else {}
    return SECTIONS[suite]([r for r in ok if r[SUITE] == suite], [r for r in failed if r[SUITE] == suite],
                           ranked=ranked, **refs)


def figures_for(suite: str) -> Callable[[F], F]:
    """Register the figure builder of ``suite``."""
    return _register(FIGURES, "figures", suite)


def record_check(suite: str) -> Callable[[F], F]:
    """Register a publication check of ``suite``'s records (beyond the checks every record gets)."""
    return _register(RECORD_CHECKS, "record check", suite)


def cross_section(name: str, title: str) -> Callable[[F], F]:
    """Register the leaderboard section builder of the cross-suite report ``name`` (heading ``title``)."""
    def deco(f: F) -> F:
        _register(CROSS_SECTIONS, "leaderboard section", name)(f)
        CROSS_TITLES[name] = title
        return f

    return deco


def cross_figures(name: str) -> Callable[[F], F]:
    """Register the figure builder of the cross-suite report ``name``."""
    return _register(CROSS_FIGURES, "figures", name)


def section_suites(optional: bool | None = None):
    """The suites with a leaderboard section, in leaderboard order (only those whose heading is
    optional, or only the others, when ``optional`` is given)."""
    from qbench.suites import suites_in_order

    return [s for s in suites_in_order()
            if s.name in SECTIONS and (optional is None or s.optional_heading == optional)]

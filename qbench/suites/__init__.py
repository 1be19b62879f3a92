"""Built-in suites, and the lookups that see them: importing this package registers every built-in suite.

The types and registries live in :mod:`qbench.scenarios`, which imports no suite: a suite module imports
it, never the other way round."""

from __future__ import annotations

from qbench.errors import QbenchError
from qbench.scenarios import SUITES, Scenario, Suite, registered_scenarios
from qbench.suites import capacity, corrective, forgetting, landscape, resilience, sensitivity, unlearning  # noqa: F401  (registers them)


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise QbenchError(f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}")
    return SUITES[name]


def list_suites() -> list[str]:
    return sorted(SUITES)


def list_scenarios(suite: str | None = None) -> list[Scenario]:
    return registered_scenarios(suite)


def all_suites() -> tuple[str, ...]:
    """What ``qbench run --suite all`` runs, in its order (each suite's ``in_all`` and ``run_order``)."""
    return tuple(s.name for s in sorted((s for s in SUITES.values() if s.in_all), key=lambda s: (s.run_order, s.name)))


def suites_in_order() -> list[Suite]:
    """Every suite in leaderboard order (each suite's ``order``)."""
    return sorted(SUITES.values(), key=lambda s: (s.order, s.name))


__all__ = ["SUITES", "all_suites", "get_suite", "list_suites", "list_scenarios", "suites_in_order"]

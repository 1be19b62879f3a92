"""Suites, and the lookups that see them: importing this package registers every built-in suite; a suite
from outside the package is an installed entry point of ``qbench.suites`` (named as the suite is), or a
``module:attribute`` name.

The types and registries live in :mod:`qbench.scenarios`, which imports no suite: a suite module imports
it, never the other way round."""

from __future__ import annotations

from qbench.scenarios import SUITE_REGISTRY, SUITES, Scenario, Suite, registered_scenarios
from qbench.suites import capacity, corrective, forgetting, landscape, noise, resilience, sensitivity, unlearning  # noqa: F401  (registers them)


def get_suite(name: str) -> Suite:
    """A suite by name: built-in, installed plugin, or 'module:attribute'."""
    return SUITE_REGISTRY.get(name)


def list_suites() -> list[str]:
    """The built-in suites, then the installed plugins' (by entry-point name; none is imported)."""
    return SUITE_REGISTRY.names()


def builtin_suites() -> list[str]:
    """The built-in suites' names, sorted."""
    return sorted(SUITES)


def list_scenarios(suite: str | None = None) -> list[Scenario]:
    return registered_scenarios(suite)


def all_suites() -> tuple[str, ...]:
    """What ``qbench run --suite all`` runs, in its order (each suite's ``in_all`` and ``run_order``)."""
    return tuple(s.name for s in sorted((s for s in SUITES.values() if s.in_all), key=lambda s: (s.run_order, s.name)))


def suites_in_order() -> list[Suite]:
    """Every suite in leaderboard order (each suite's ``order``)."""
    return sorted(SUITES.values(), key=lambda s: (s.order, s.name))


__all__ = ["SUITES", "SUITE_REGISTRY", "all_suites", "builtin_suites", "get_suite", "list_suites", "list_scenarios",
           "suites_in_order"]

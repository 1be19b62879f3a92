"""``qbench list`` lines of the suites and scenarios, built-in then from plugins (a plugin that fails to
load is one line saying why, never a stop)."""

from __future__ import annotations

from qbench.errors import QbenchError


def suite_lines() -> list[str]:
    """One line per suite: its name, description and the task families whose protocol tasks it runs."""
    from qbench.suites import SUITE_REGISTRY, SUITES, get_suite, list_suites

    lines = []
    for name in list_suites():
        try:
            suite = get_suite(name)
        except QbenchError as exc:
            lines.append(f"{name:<12} {exc}")
            continue
        origin = f"tasks of {', '.join(suite.families)}" if suite.families else ""
        origin = origin if name in SUITES else f"plugin ({SUITE_REGISTRY.source(name)})"
        lines.append(f"{name:<12} {suite.description}{f' [{origin}]' if origin else ''}")
    return lines


def scenario_lines() -> list[str]:
    """The registered scenarios, then those each suite builds for the installed plugins' tasks (their own
    recipes: never ranked), per model that has a recipe and size for the task."""
    from qbench.models import list_models
    from qbench.scenarios import RunOptions
    from qbench.suites import SUITES, list_scenarios
    from qbench.tasks import plugin_tasks

    lines = [_line(s) for s in list_scenarios()]
    plugins = []
    for task in plugin_tasks():
        for name, suite in SUITES.items():
            for model in list_models():
                try:
                    plugins += [_line(s) for s in suite.scenarios(RunOptions(tasks=(task,), models=(model,)))]
                except QbenchError:  # no recipe for the model on the task, or a suite that refuses the task
                    continue
    if plugins:
        lines += ["(tasks from plugins: their own recipes, not the protocol's; never ranked)"] + list(dict.fromkeys(plugins))
    return lines


def _line(s) -> str:
    return f"{s.name:<48} alphas={len(s.alphas)} seeds={list(s.seeds)}"

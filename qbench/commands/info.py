"""``qbench check`` (analytic checks, a method's conformance) and ``qbench list``."""

from __future__ import annotations

import argparse

from qbench.errors import QbenchError


def cmd_check(args: argparse.Namespace) -> int:
    """Autodiff Hessians of the single-neuron and single-qubit models against their closed forms; or
    (``check method``) a method's conformance, a line per check, exit 2 with the first failure's reason."""
    if args.what == "method" or args.method is not None:
        if args.what != "method" or not args.method or args.sign_flip:
            raise QbenchError("usage: qbench check method NAME_OR_MODULE:ATTR (--sign-flip is for `check analytic`)")
        from qbench.methods.conformance import check_method

        conformance = check_method(args.method)
        for line in conformance.lines:
            print(line.render())
        if not conformance.passed:
            raise QbenchError(conformance.reason())
        print(f"passed: {args.method} conforms ({len(conformance.lines)} checks)")
        return 0
    from qbench.metrics.analytic import check_analytic

    report = check_analytic(sign_flip=args.sign_flip)
    for name, dev in sorted(report.max_dev.items()):
        x, y, theta = report.worst_point[name]
        print(f"{name:<7} largest |autodiff - formula| = {dev:.3e}  at x={x:+.3f} y={y:.0f} theta={theta:+.3f}")
    verdict = "passed" if report.passed else "FAILED"
    print(f"{verdict}: largest deviation {report.max_deviation:.3e} over {report.n_points} points "
          f"(tolerance {report.tolerance:g})")
    return 0 if report.passed else 1


def cmd_list(args: argparse.Namespace) -> int:
    from qbench.corruption import list_corruptions
    from qbench.tasks import list_tasks, task_option_values

    def task_lines() -> list[str]:
        out = []
        for t in list_tasks() + ["xxz-<L>"]:
            values = task_option_values("xxz-4" if t == "xxz-<L>" else t)
            extra = "even L from 4 to 16; " if t == "xxz-<L>" else ""
            shown = ", ".join(f"{k}={v[0]!r} (one of {', '.join(map(str, v))})" for k, v in values.items())
            out.append(f"{t:<12} {extra}{'options (--set task.KEY=VALUE): ' + shown if shown else 'no options'}")
        return out

    sections = {
        "suites": _suite_lines,
        "scenarios": _scenario_lines,
        "tasks": task_lines,
        "models": _model_lines,
        "corruptions": list_corruptions,
        "methods": _method_lines,
    }
    for name, lines in sections.items():
        if args.what in ("all", name):
            print(f"{name}:")
            for line in lines():
                print(f"  {line}")
    if args.what == "all":
        from qbench.protocol import PROTOCOL_VERSION

        print(f"protocol: version {PROTOCOL_VERSION}, docs/protocol.md in the qbench repository")
    return 0


def _model_lines() -> list[str]:
    """One line per model, built-in then plugins: name, title, and its size and trainable parameter count
    on each protocol task (without building it); the controls (PROTOCOL 2.4) say that a run names them.
    Then, for a model that declares them (``ModelInfo.options``), its options with their defaults."""
    from qbench.models import list_models, model_info
    from qbench.protocol import model_size, parameter_count
    from qbench.tasks import task_families

    lines = []
    for name in list_models():
        try:
            info = model_info(name)
        except QbenchError as exc:  # one broken plugin should not hide the others
            lines.append(f"{name:<12} {exc}")
            continue
        per_task = []
        for family in task_families():
            for task in family.input_shapes:
                try:
                    size = model_size(task, name)
                except QbenchError:
                    continue
                shown = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in size.items())
                n_params = parameter_count(task, name)
                count = f"{n_params:,} parameters" if n_params is not None else "size"
                per_task.append(f"{task} {count}{f' ({shown})' if shown else ''}")
        control = ["control (PROTOCOL 2.4): runs only where named, --model " + name] if info.control else []
        lines.append(f"{name:<12} {info.title or name:<12} {'; '.join(control + per_task)}")
        if info.options:
            lines += [f"{'':<13}options:"] + [f"{'':<15}{k}={v}" for k, v in info.options.items()]
    return lines


def _method_lines() -> list[str]:
    """One line per unlearning method, built-in then plugins: name, origin, hyperparameters=defaults."""
    import dataclasses

    from qbench.methods import list_methods, method_class, method_defaults, method_source

    lines = []
    for name in list_methods():
        try:
            cls = method_class(name)
        except QbenchError as exc:  # one broken plugin should not hide the others
            lines.append(f"{name:<18} {exc}")
            continue
        hps = [f"{k}=(required)" if v is dataclasses.MISSING else f"{k}={v!r}" for k, v in method_defaults(cls).items()]
        fresh = ["from a fresh initialization"] if cls.from_scratch else []
        source = method_source(name)  # a plugin's, too long for the column: on a line of its own
        lines.append(f"{name:<18} {source if len(source) <= 10 else 'plugin':<10} "
                     f"{', '.join(hps + fresh) or '(no hyperparameters)'}")
        lines += [f"{'':<18} from {source}"] if len(source) > 10 else []
    lines.append("(override with --set METHOD.PARAM=VALUE; a plugin joins through the entry-point group "
                 "qbench.methods (or qbench.unlearning_methods), or is named as --method module:attribute)")
    return lines


def _suite_lines() -> list[str]:
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


def _scenario_lines() -> list[str]:
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

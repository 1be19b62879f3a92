"""Planning a run: what the user asked for (:class:`RunRequest`) checked whole and turned into one
:class:`Plan` per suite, before anything is trained or written.

The command line (``qbench run``) and the library (``qbench.run``) both build a ``RunRequest`` and
call :func:`plan_run`; bad input is a :class:`~qbench.errors.QbenchError` (one line; the command
line exits with status 2). :func:`qbench.runner.run_plans` then runs the plans.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from qbench.errors import QbenchError

#: at most this many seeds in one run, each below SEED_LIMIT (a seed is hashed into 32-bit seeds)
MAX_SEEDS = 10_000
SEED_LIMIT = 2**31


@dataclass(frozen=True)
class RunRequest:
    """A run as the user asked for it: ``qbench run``'s options by their long names (None: the suite's own)."""

    suite: str
    tasks: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    corruptions: tuple[str, ...] | None = None
    alphas: tuple[float, ...] | None = None
    seeds: tuple[int, ...] | None = None
    epochs: int | None = None
    steps: int | None = None
    quick: bool = False
    methods: tuple[str, ...] | None = None
    fractions: tuple[float, ...] | None = None
    #: forgetting: models per kind (K)
    n_models: int | None = None
    grids: tuple[str, ...] = ()
    #: ``--set TARGET.PARAM=VALUE`` by target: a method of the run, a suite of it, or ``task``
    sets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    out: str | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    #: seconds an unlearning step may take; None: the suite's own; "off": no watchdog
    step_budget: float | str | None = None
    force: bool = False
    retry_failed: bool = False
    progress: bool = False
    executor: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Plan:
    """One suite's part of a run: its units, where they run from and to, and the methods they use."""

    suite: Any  # qbench.scenarios.Suite
    units: tuple  # of qbench.scenarios.Unit
    context: Any  # qbench.experiment.RunContext
    out: str
    methods: tuple[str, ...] = ()


# -- text as the command line gives it ---------------------------------------------------------
def _items(text: str, what: str) -> list[str]:
    items = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in items):
        raise QbenchError(f"{what} expects a comma-separated list without empty items, got {text!r}")
    return items


def parse_floats(text: str, what: str = "--alphas") -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _items(text, what))
    except ValueError:
        raise QbenchError(f"{what} expects comma-separated numbers, got {text!r}") from None


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' or '0-4' (see :func:`check_seeds` for the bounds)."""
    usage = f"--seeds expects '0,1,2' or a range '0-4', got {text!r}"
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            if hi < lo:
                raise ValueError
            if hi - lo + 1 > MAX_SEEDS:  # checked before the range is built
                raise QbenchError(f"--seeds: at most {MAX_SEEDS:,} seeds in one run, got {hi - lo + 1:,}")
            return tuple(range(lo, hi + 1))
        return tuple(int(v) for v in _items(text, "--seeds"))
    except ValueError:
        raise QbenchError(usage) from None


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """At most :data:`MAX_SEEDS` distinct integers in [0, :data:`SEED_LIMIT`)."""
    if not seeds:
        raise QbenchError("--seeds: give at least one seed")
    if len(seeds) > MAX_SEEDS:
        raise QbenchError(f"--seeds: at most {MAX_SEEDS:,} seeds in one run, got {len(seeds):,}")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < SEED_LIMIT]
    if bad:
        raise QbenchError(f"--seeds expects integers from 0 to {SEED_LIMIT - 1}, got {bad[0]!r}")
    seen: set[int] = set()
    for s in seeds:
        if s in seen:
            raise QbenchError(f"--seeds: seed {s} is given twice")
        seen.add(s)
    return tuple(seeds)


def parse_step_budget(text: str) -> float | str:
    """'off' or a positive number of seconds."""
    if text.strip().lower() == "off":
        return "off"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise QbenchError(f"--step-budget expects a positive number of seconds or 'off', got {text!r}")
    return value


def _number(raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            continue
    return raw


def parse_sets(items: Mapping[str, Any] | Sequence[str]) -> dict[str, dict[str, object]]:
    """['scrub.lambda_fo=0.1', 'scrub.kl=study'] -> {'scrub': {'lambda_fo': 0.1, 'kl': 'study'}}; also a
    mapping, dotted ({'scrub.lambda_fo': 0.1}) or nested ({'scrub': {'lambda_fo': 0.1}}). Text that
    reads as a number becomes one. A target is a method of the run, a suite (its settings) or ``task``."""
    if isinstance(items, Mapping):
        pairs = [p for t, v in items.items()
                 for p in ([(f"{t}.{k}", x) for k, x in v.items()] if isinstance(v, Mapping) else [(t, v)])]
    else:
        pairs = []
        for item in items:
            name, eq, raw = item.partition("=")
            if not eq:
                raise QbenchError(f"--set expects METHOD.PARAM=VALUE, got {item!r}")
            pairs.append((name, raw))
    out: dict[str, dict[str, object]] = {}
    for name, raw in pairs:
        target, dot, param = name.rpartition(".")
        if not dot or not target or not param:
            raise QbenchError(f"--set expects METHOD.PARAM=VALUE, got {name}={raw}")
        out.setdefault(target, {})[param] = _number(raw)
    return out


# -- checks ------------------------------------------------------------------------------------
def check_flags(suites: Sequence, request: RunRequest) -> None:
    """A flag that no suite of the run reads (``--steps`` for resilience) is bad input, not ignored."""
    from qbench.scenarios import OPTIONAL_FLAGS
    from qbench.suites import SUITES

    given = {"corruptions": request.corruptions, "methods": request.methods, "steps": request.steps,
             "grid_args": request.grids, "fractions": request.fractions,
             "n_models": request.n_models}
    for name, flag in OPTIONAL_FLAGS.items():
        if given.get(name) and not any(name in s.flags for s in suites):
            users = [n for n in sorted(SUITES) if name in SUITES[n].flags]
            run = suites[0].name if len(suites) == 1 else "all"
            raise QbenchError(f"{flag} applies to --suite {', '.join(users)} only, not {run!r}")


def check_set_targets(sets: Mapping[str, Mapping[str, object]], plans: Sequence[Plan]) -> None:
    """Every ``--set TARGET.PARAM`` must reach something of the run: ``task``, a suite of the run with
    settings, or a method of the run."""
    from qbench.suites import SUITES

    methods = [m for p in plans for m in p.methods]
    names = [p.suite.name for p in plans]
    for target in sets:
        if target == "task" or target in names or target in methods:
            continue
        param = next(iter(sets[target]))
        if target in SUITES:
            raise QbenchError(f"--set {target}.{param}: suite {target!r} is not in this run")
        if not any(p.suite.methods is not None for p in plans):
            raise QbenchError(f"--set {target}.{param}: {target!r} is neither a suite of this run nor 'task' "
                              f"(and {', '.join(names)} runs no unlearning methods)")
        raise QbenchError(f"--set {target}.{param}: {target!r} is neither a method of this run "
                          f"({', '.join(dict.fromkeys(methods))}), a suite of it ({', '.join(names)}), nor 'task'")


def check_hyperparameters(method: str, given: Mapping[str, object]) -> None:
    """``--set METHOD.PARAM=VALUE`` values of the type of the method's declared default, and finite."""
    from qbench.methods import method_class, method_defaults

    defaults = method_defaults(method_class(method))
    for name, value in given.items():
        where = f"--set {method}.{name}={value}"
        if isinstance(value, float) and not math.isfinite(value):
            raise QbenchError(f"{where}: must be a finite number")
        default = defaults.get(name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        kind, ok = None, True
        if isinstance(default, bool):
            kind, ok = "true or false", isinstance(value, bool)
        elif isinstance(default, int):
            kind, ok = "an integer", number and isinstance(value, int)
        elif isinstance(default, float):
            kind, ok = "a number", number
        elif isinstance(default, str):
            kind, ok = "text", isinstance(value, str)
        if not ok:
            raise QbenchError(f"{where}: expected {kind} (default {default!r})")


def check_out_dir(out: str) -> None:
    """QbenchError unless ``out`` (and its ``records`` folder) is, or can be made, a writable directory."""
    for path in (os.path.join(out, "records"), out):
        if os.path.exists(path) and not os.path.isdir(path):
            raise QbenchError(f"--out {out}: {path} exists and is not a directory")
    check_writable_dir(out, "--out")


def check_writable_dir(path: str, flag: str) -> None:
    """QbenchError unless ``path`` is, or can be made, a writable directory (checked at its nearest
    existing ancestor), so that a run stops before any work rather than when it first writes."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise QbenchError(f"{flag} {path}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK) or os.statvfs(probe).f_flag & os.ST_RDONLY:
        raise QbenchError(f"{flag} {path}: {probe} is not writable")


# -- planning ----------------------------------------------------------------------------------
def plan_run(request: RunRequest) -> list[Plan]:
    """Check all input of ``request`` and plan each of its suites (``"all"``: every protocol suite)."""
    from qbench.suites import all_suites, get_suite

    names = all_suites() if request.suite == "all" else (request.suite,)
    suites = [get_suite(n) for n in names]
    check_flags(suites, request)
    if request.seeds is not None:
        check_seeds(request.seeds)
    plans = [plan_suite(s, request) for s in suites]
    check_set_targets(request.sets, plans)
    return plans


def plan_suite(suite, request: RunRequest) -> Plan:
    """One suite's plan: its units, context and output directory; every task is loaded (missing data is
    bad input, not a failed unit) and every method hyperparameter checked."""
    from qbench.corruption import check_alpha, list_corruptions
    from qbench.corruption.identification import check_fractions
    from qbench.experiment import RunContext, load_task, task_options_for
    from qbench.models import check_model_name
    from qbench.scenarios import RunOptions
    from qbench.settings import build_settings
    from qbench.tasks import check_task_name, default_task_options

    r = request
    for t in r.tasks or ():
        check_task_name(t)
    for m in r.models or ():
        check_model_name(m)
    for c in r.corruptions or ():
        if c not in list_corruptions():
            raise QbenchError(f"unknown corruption {c!r}; known: {', '.join(list_corruptions())}")
    for a in r.alphas or ():
        check_alpha(a)
    fractions = check_fractions(r.fractions) if r.fractions else None
    if r.epochs is not None and r.epochs < 1:
        raise QbenchError(f"--epochs must be >= 1, got {r.epochs}")
    if r.steps is not None and r.steps < 1:
        raise QbenchError(f"--steps must be >= 1, got {r.steps}")
    task_options = dict(r.sets.get("task", {}))  # task.PARAM=VALUE: a task option (xxz: phase)
    reads = suite.flags  # --suite all: each suite reads the flags it uses (check_flags refused the rest)
    options = RunOptions(
        tasks=r.tasks or None, models=r.models or None,
        corruptions=r.corruptions if r.corruptions and "corruptions" in reads else None,
        alphas=r.alphas or None, seeds=r.seeds, epochs=r.epochs, quick=r.quick,
        methods=r.methods if r.methods and "methods" in reads else None,
        steps=r.steps if "steps" in reads else None,
        fractions=fractions if "fractions" in reads else None,
        n_models=r.n_models if "n_models" in reads else None,
        grid_args=tuple(r.grids) if "grid_args" in reads else (),
        task_options=task_options,
        settings=build_settings(suite.settings, suite.name, dict(r.sets.get(suite.name, {}))),
    )
    methods = tuple(suite.methods(options)) if suite.methods is not None else ()
    overrides = {m: dict(hp) for m, hp in r.sets.items() if m in methods}
    for m, hp in overrides.items():
        check_hyperparameters(m, hp)
    options = replace(options, method_overrides=overrides)
    scenarios = suite.scenarios(options)
    if not scenarios:
        raise QbenchError(f"no {suite.name} scenario matches the given --task/--model/--corruption")
    for key in sorted(task_options):
        if not any(key in default_task_options(s.task) for s in scenarios):
            raise QbenchError(f"--set task.{key}: no task of this run takes option {key!r} "
                              f"(tasks: {', '.join(sorted({s.task for s in scenarios}))})")
    units = tuple(suite.plan(scenarios, options))  # validates methods and hyperparameters
    budget = r.step_budget
    ctx = RunContext(data_dir=r.data_dir, cache_dir=r.cache_dir,
                     step_budget_s=float(budget) if isinstance(budget, (int, float)) else None)
    from qbench.tasks.xxz import default_cache_dir

    check_writable_dir(str(default_cache_dir(r.cache_dir)), "--cache-dir (or QBENCH_CACHE_DIR)")
    for task in sorted(suite.tasks_needed(scenarios)):
        opts = {**default_task_options(task), **task_options_for(task, task_options)}
        load_task(task, 0, ctx.data_dir, ctx.cache_dir, tuple(sorted(opts.items())))
    out = default_out(r, suite.name)
    check_out_dir(out)
    return Plan(suite, units, ctx, out, methods)


def default_out(request: RunRequest, suite: str) -> str:
    """``--out`` (``--suite all``: ``OUT/<suite>``), else ``runs/<suite>`` (``runs/<suite>-quick``)."""
    if request.out:
        return os.path.join(request.out, suite) if request.suite == "all" else request.out
    return os.path.join("runs", suite + ("-quick" if request.quick else ""))


def default_executor(request: RunRequest, plans: Sequence[Plan]) -> tuple[str, int | None]:
    """``--executor`` and ``--workers``, or what a run without them uses: serial, except a ``--quick``
    run on a multi-core machine, which runs its groups (task x model shape) on one local worker each,
    up to the core count. The quick tier is a first run, and compile-bound: its QNN groups compile
    each method's step (measured: 7 min 34 s serial, cold, on 2 cores; README, Performance)."""
    if request.executor is not None or not request.quick:
        return request.executor or "serial", request.workers
    if request.workers is not None:
        return "local", request.workers
    groups = max((len({u.group for u in p.units}) for p in plans), default=0)
    n = min(os.cpu_count() or 1, groups)
    return ("local", n) if n > 1 else ("serial", None)


__all__ = ["MAX_SEEDS", "SEED_LIMIT", "Plan", "RunRequest", "check_out_dir", "default_executor", "parse_floats",
           "parse_seeds", "parse_sets", "parse_step_budget", "plan_run", "plan_suite"]

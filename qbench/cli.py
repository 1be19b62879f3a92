"""The ``qbench`` command line. Bad input: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import replace
from typing import Sequence

from qbench.errors import QbenchError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we promise one line
        raise QbenchError(f"{self.prog}: {message}")


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise QbenchError(f"expected comma-separated numbers, got {text!r}") from None


def _seed_list(text: str) -> tuple[int, ...]:
    """'0,1,2' or '0-4'."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            if hi < lo:
                raise ValueError
            return tuple(range(lo, hi + 1))
        seeds = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise QbenchError(f"--seeds expects '0,1,2' or a range '0-4', got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise QbenchError(f"--seeds expects non-negative integers, got {text!r}")
    return seeds


def _step_budget(text: str) -> float | None:
    """'off' (None) or a positive number of seconds."""
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise QbenchError(f"--step-budget expects a positive number of seconds or 'off', got {text!r}")
    return value


def _parse_sets(items: Sequence[str]) -> dict[str, dict[str, object]]:
    """['scrub.lambda_fo=0.1', 'scrub.kl=study'] -> {'scrub': {'lambda_fo': 0.1, 'kl': 'study'}}.
    A target is a method of the run, the suite (its settings) or ``task`` (task options)."""
    out: dict[str, dict[str, object]] = {}
    for item in items:
        target, eq, raw = item.partition("=")
        method, dot, param = target.rpartition(".")
        if not eq or not dot or not method or not param:
            raise QbenchError(f"--set expects METHOD.PARAM=VALUE, got {item!r}")
        value: object = raw
        for conv in (int, float):
            try:
                value = conv(raw)
                break
            except ValueError:
                continue
        out.setdefault(method, {})[param] = value
    return out


VERBOSE_HELP = "show TensorFlow's log lines (start-up notes, CUDA and XLA messages), hidden otherwise"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="qbench", description="Poisoning resilience and machine unlearning of QNNs and MLPs.")
    p.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ck = sub.add_parser("check", help="analytic checks: `qbench check analytic` (PROTOCOL 4.5); a method's "
                                      "conformance: `qbench check method NAME_OR_MODULE:ATTR`")
    ck.add_argument("what", choices=["analytic", "method"])
    ck.add_argument("method", nargs="?", help="for `check method`: a registered method or module:attribute")
    ck.add_argument("--sign-flip", action="store_true",
                    help="flip the sign of the (p - y) cos term in the formula (shows the check can fail)")

    ls = sub.add_parser("list", help="list suites, scenarios, tasks, models, corruptions, unlearning methods")
    ls.add_argument("what", nargs="?", default="all",
                    choices=["all", "suites", "scenarios", "tasks", "models", "corruptions", "methods"])

    run = sub.add_parser("run", help="run a suite into an output directory (resumes what is there)")
    run.add_argument("--suite", required=True, help="suite name (see `qbench list suites`), or 'all'")
    run.add_argument("--task", action="append", dest="tasks", help="task name, repeatable (e.g. mnist-1v9, xxz-12, xxz-6)")
    run.add_argument("--model", action="append", dest="models",
                     help="qnn or mlp, or a control: qnn-product, linear, mlp-matched (PROTOCOL 2.4); repeatable")
    run.add_argument("--corruption", action="append", dest="corruptions", help="label_flip or feature_randomization, repeatable")
    run.add_argument("--alphas", type=_float_list, help="comma-separated corrupted fractions in [0, 1]")
    run.add_argument("--alpha", type=float, action="append", dest="alpha_list", help="one alpha, repeatable")
    run.add_argument("--fraction", type=float, action="append", dest="fractions",
                     help="corrective: a known fraction of the poison in (0, 1], repeatable (default: 4.8's five)")
    run.add_argument("--seeds", type=_seed_list, help="'0,1,2' or '0-4' (default: the protocol's 0-4)")
    run.add_argument("--epochs", type=int, help="override the protocol's epochs (for smoke tests)")
    run.add_argument("--quick", action="store_true", help="the quick tier: fewer epochs, seeds and alphas")
    run.add_argument("--out", help="output directory (default: runs/<suite>, with --quick runs/<suite>-quick, so "
                                   "that quick and protocol records never mix; --suite all: DIR/<suite>)")
    run.add_argument("--data-dir", help="directory with the MNIST IDX files (or set QBENCH_DATA_DIR)")
    run.add_argument("--cache-dir", help="cache directory for XXZ ground states (or set QBENCH_CACHE_DIR)")
    run.add_argument("--method", action="append", dest="methods",
                     help="unlearning method: a registered name or module:attribute, repeatable")
    run.add_argument("--set", action="append", dest="sets", default=[], metavar="METHOD.PARAM=VALUE",
                     help="override a method hyperparameter, e.g. scrub.lambda_fo=0.1, or set a suite option, "
                          "e.g. landscape.variant=study, landscape.hessian_samples=50 (repeatable)")
    run.add_argument("--steps", type=int, help="unlearning steps (default: the protocol's 50)")
    run.add_argument("--models", type=int, dest="n_models", metavar="K",
                     help="forgetting: models per kind, seeds 0..K-1 (default 32, --quick 8; at least 8)")
    run.add_argument("--grid", action="append", dest="grids", default=[], metavar="[METHOD.]PARAM=SPEC",
                     help="sensitivity suite: values of a method hyperparameter, a range start:stop:step (both "
                          "ends included) or a list v1,v2,... (repeatable; default: the protocol's grids)")
    run.add_argument("--force", action="store_true", help="re-run units whose records exist")
    run.add_argument("--retry-failed", action="store_true",
                     help="re-run units recorded as failed (e.g. a step over budget on a busy machine); "
                          "their old file is kept beside, as <key>.jsonl.failed-<UTC time>")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--progress", action="store_true",
                     help="progress bar (units done, failed, skipped, ETA) even when stderr is not a terminal")
    run.add_argument("--executor", choices=["serial", "local", "dask"], default=None,
                     help="serial (default): in this process; local: a pool of --workers processes; "
                          "dask: a dask.distributed cluster (--scheduler, or a local one of --workers processes); "
                          "a --quick run defaults to local, one worker per core up to one per task and model")
    run.add_argument("--workers", type=int, help="worker processes of --executor local/dask (default: the CPU count)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    run.add_argument("--threads", type=int,
                     help="TensorFlow intra-op threads per worker (default: CPU count / workers; serial: TF's own)")
    run.add_argument("--step-budget", type=_step_budget, default=False, metavar="SECONDS",
                     help="seconds an unlearning step may take before its unit is stopped and recorded failed "
                          "(default: the suite's 120; step 0 gets 120 more to compile); 'off': no watchdog, "
                          "every serial unit in this process")

    lb = sub.add_parser("leaderboard", help="regenerate the leaderboard tables from records")
    lb.add_argument("--results", action="append", dest="results", metavar="DIR",
                    help="records tree (files or directories, searched recursively), repeatable "
                         "(default: leaderboard/results)")
    lb.add_argument("--output",
                    help="markdown file whose marker block is rewritten, or '-' for standard output (default: "
                         "leaderboard/README.md for the committed leaderboard/results, RESULTS/leaderboard.md "
                         "for any other results)")
    lb.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if the output would change (for CI; strict: protocol records only)")
    lb.add_argument("--allow-nonprotocol", action="store_true",
                    help="show records whose settings are not the protocol's (quick tiers, --epochs, --steps, ...) "
                         "in a separate, unranked section instead of refusing them")

    pl = sub.add_parser("plot", help="draw the figures (PNG) from records; `qbench plot tsne`: data views (PROTOCOL 4.6)")
    pl.add_argument("what", nargs="?", choices=["tsne"],
                    help="tsne: t-SNE maps of a task's training set, clean and corrupted (not from records)")
    pl.add_argument("--task", action="append", dest="tsne_tasks", metavar="TASK",
                    help="tsne: task, repeatable (default: mnist-1v9 and xxz-12)")
    pl.add_argument("--alpha", type=float, dest="tsne_alpha", help="tsne: corrupted fraction (default 0.2)")
    pl.add_argument("--seed", type=int, dest="tsne_seed", help="tsne: run seed of the corruption and t-SNE (default 0)")
    pl.add_argument("--perplexity", type=float, dest="tsne_perplexity", help="tsne: t-SNE perplexity (default 30)")
    pl.add_argument("--data-dir", dest="tsne_data_dir", help="tsne: directory with the MNIST IDX files (or QBENCH_DATA_DIR)")
    pl.add_argument("--phase", dest="tsne_phase", choices=["random", "fixed"],
                    help="tsne: global-phase rule of the xxz states (default random, the protocol's; fixed: the ablation)")
    pl.add_argument("--cache-dir", dest="tsne_cache_dir",
                    help="tsne: cache directory for XXZ ground states and embeddings (or QBENCH_CACHE_DIR)")
    pl.add_argument("--results", nargs="+", action="extend", dest="results", metavar="DIR",
                    help="records trees, searched recursively (default: leaderboard/results)")
    pl.add_argument("--out", help="directory for the PNG files (default: leaderboard/figures for the committed "
                                  "records, RESULTS/figures for --results RESULTS)")

    vf = sub.add_parser("verify", help="re-run the units of stored records and compare their metrics")
    vf.add_argument("records", nargs="*", metavar="RECORDS", help="record files or directories (searched recursively)")
    vf.add_argument("--all", metavar="DIR", dest="all_dir",
                    help="check every successful unit under DIR, resumably: each checked unit is appended to a "
                         "ledger, and units the ledger holds for this revision (or one with the same qbench/ source) "
                         "and record content are skipped")
    vf.add_argument("--ledger", metavar="FILE",
                    help="--all: the ledger (JSON lines; default: verify-ledger.jsonl beside DIR)")
    vf.add_argument("--model", action="append", dest="models", metavar="MODEL", help="--all: only this model (repeatable)")
    vf.add_argument("--suite", action="append", dest="suites", metavar="SUITE", help="--all: only this suite (repeatable)")
    vf.add_argument("--one-seed-per-scenario", action="store_true",
                    help="--all: only the lowest seed of each suite x scenario x method x alpha (x grid point)")
    vf.add_argument("--sample", type=int, metavar="N", help="re-run a random sample of N units (default: all)")
    vf.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    vf.add_argument("--rtol", type=float, default=None,
                    help="relative tolerance for non-accuracy metrics (default 1e-5)")
    vf.add_argument("--atol", type=float, default=None,
                    help="absolute tolerance for every compared metric (default 1e-6)")
    vf.add_argument("--data-dir", help="directory with the MNIST IDX files (or set QBENCH_DATA_DIR)")
    vf.add_argument("--cache-dir", help="cache directory for XXZ ground states (or set QBENCH_CACHE_DIR)")
    vf.add_argument("--threads", type=int, metavar="N",
                    help="TensorFlow threads for records without provenance.tf_threads (older records; "
                         "default: TensorFlow's default here)")
    for command in sub.choices.values():  # also after the command: `qbench run ... --verbose`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return p


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
    from qbench.listing import scenario_lines, suite_lines
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
        "suites": suite_lines,
        "scenarios": scenario_lines,
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
    on each protocol task (without building it); the controls (PROTOCOL 2.4) say that a run names them."""
    from qbench.models import list_models, model_info
    from qbench.protocol import model_size
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
            for task, (n_amplitudes, complex_input) in family.input_shapes.items():
                try:
                    size = model_size(task, name)
                except QbenchError:
                    continue
                shown = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in size.items())
                count = f"{info.count(size, n_amplitudes, complex_input):,} parameters" if info.count else "size"
                per_task.append(f"{task} {count}{f' ({shown})' if shown else ''}")
        control = ["control (PROTOCOL 2.4): runs only where named, --model " + name] if info.control else []
        lines.append(f"{name:<12} {info.title or name:<12} {'; '.join(control + per_task)}")
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


def cmd_run(args: argparse.Namespace) -> int:
    """``--suite all`` runs every protocol suite in turn, each into its own output directory."""
    runs = run_suites(args, after=_print_run)
    return 1 if any(report.failed for _, report, _ in runs) else 0


def run_suites(args: argparse.Namespace, after=None) -> list:
    """Check all input, then run each suite of ``args`` into its directory: [(suite, RunReport, out)].
    ``after(suite, units, out, report, wall_s)`` is called as each suite ends (the command prints its table)."""
    from qbench.suites import all_suites, get_suite

    names = all_suites() if args.suite == "all" else (args.suite,)
    suites = [get_suite(n) for n in names]
    check_flags(suites, args)
    sets = _parse_sets(args.sets)
    plans = [_plan_suite(s, args, sets) for s in suites]  # all input checked before any work
    check_set_targets(sets, [(s, p[4]) for s, p in zip(suites, plans)])
    plans = [p[:4] for p in plans]
    from qbench.executors import make_executor
    from qbench.xla_cache import enable_xla_cache

    enable_xla_cache(args.cache_dir)  # before the first compilation; spawned workers inherit it

    name, workers = default_executor(args, [p[1] for p in plans])
    executor = make_executor(name, workers=workers,
                             scheduler=getattr(args, "scheduler", None), threads=getattr(args, "threads", None),
                             watch=getattr(args, "step_budget", False) is not None)
    for p in plans:
        executor.check(p[1])
    runs = []
    with executor:  # starts or joins the workers (a Dask cluster) once for every suite
        for suite, units, ctx, out in plans:
            start = time.perf_counter()
            report = _execute(suite, units, ctx, out, args, executor=executor)
            if after is not None:
                after(suite, units, out, report, time.perf_counter() - start)
            runs.append((suite, report, out))
    return runs


def default_executor(args: argparse.Namespace, plans: list) -> tuple[str, int | None]:
    """``--executor`` and ``--workers``, or what a run without them uses: serial, except a ``--quick``
    run on a multi-core machine, which runs its groups (task x model shape) on one local worker each,
    up to the core count. The quick tier is a first run, and compile-bound: its QNN groups compile
    each method's step (measured: 7 min 34 s serial, cold, on 2 cores; README, Performance)."""
    name = getattr(args, "executor", None)
    workers = getattr(args, "workers", None)
    if name is not None or not getattr(args, "quick", False):
        return name or "serial", workers
    if workers is not None:
        return "local", workers
    groups = max((len({u.group for u in units}) for units in plans), default=0)
    n = min(os.cpu_count() or 1, groups)
    return ("local", n) if n > 1 else ("serial", None)


def check_flags(suites, args: argparse.Namespace) -> None:
    """A flag that no suite of the run reads (``--steps`` for resilience) is bad input, not ignored."""
    from qbench.scenarios import OPTIONAL_FLAGS
    from qbench.suites import SUITES

    given = {"corruptions": args.corruptions, "methods": args.methods, "steps": args.steps,
             "grid_args": getattr(args, "grids", None), "fractions": getattr(args, "fractions", None),
             "n_models": getattr(args, "n_models", None)}
    for name, flag in OPTIONAL_FLAGS.items():
        if given.get(name) and not any(name in s.flags for s in suites):
            users = [n for n in sorted(SUITES) if name in SUITES[n].flags]
            run = suites[0].name if len(suites) == 1 else "all"
            raise QbenchError(f"{flag} applies to --suite {', '.join(users)} only, not {run!r}")


def check_set_targets(sets: dict[str, dict[str, object]], used: list) -> None:
    """Every ``--set TARGET.PARAM`` must reach something of the run: ``task``, a suite of the run with
    settings, or a method of the run. ``used``: (suite, the methods its run uses) per suite of the run."""
    from qbench.suites import SUITES

    methods = [m for _, ms in used for m in ms]
    for target in sets:
        if target == "task" or any(target == s.name for s, _ in used) or target in methods:
            continue
        param = next(iter(sets[target]))
        if target in SUITES:
            raise QbenchError(f"--set {target}.{param}: suite {target!r} is not in this run")
        runs = [s.name for s, _ in used if s.methods is not None]
        if not runs:
            raise QbenchError(f"--set {target}.{param}: {target!r} is neither a suite of this run nor 'task' "
                              f"(and {', '.join(s.name for s, _ in used)} runs no unlearning methods)")
        raise QbenchError(f"--set {target}.{param}: {target!r} is neither a method of this run "
                          f"({', '.join(dict.fromkeys(methods))}), a suite of it ({', '.join(s.name for s, _ in used)}), "
                          f"nor 'task'")


def _plan_suite(suite, args: argparse.Namespace, sets: dict[str, dict[str, object]] | None = None):
    """(suite, units, context, output directory, the run's methods); ``sets``: the parsed ``--set``s."""
    from qbench.corruption import check_alpha, list_corruptions
    from qbench.experiment import RunContext, load_task, task_options_for
    from qbench.models import check_model_name
    from qbench.scenarios import RunOptions
    from qbench.settings import build_settings
    from qbench.tasks import check_task_name, default_task_options

    for t in args.tasks or ():
        check_task_name(t)
    for m in args.models or ():
        check_model_name(m)
    for c in args.corruptions or ():
        if c not in list_corruptions():
            raise QbenchError(f"unknown corruption {c!r}; known: {', '.join(list_corruptions())}")
    alphas = tuple(args.alphas or ()) + tuple(args.alpha_list or ())
    for a in alphas:
        check_alpha(a)
    from qbench.corruption.identification import check_fractions

    fractions = check_fractions(args.fractions) if getattr(args, "fractions", None) else None
    if args.epochs is not None and args.epochs < 1:
        raise QbenchError(f"--epochs must be >= 1, got {args.epochs}")
    if args.steps is not None and args.steps < 1:
        raise QbenchError(f"--steps must be >= 1, got {args.steps}")
    sets = _parse_sets(args.sets) if sets is None else sets
    task_options = sets.get("task", {})  # task.PARAM=VALUE: a task option (xxz: phase)
    reads = suite.flags  # --suite all: each suite reads the flags it uses (check_flags refused the rest)
    options = RunOptions(
        tasks=tuple(args.tasks) if args.tasks else None,
        models=tuple(args.models) if args.models else None,
        corruptions=tuple(args.corruptions) if args.corruptions and "corruptions" in reads else None,
        alphas=alphas or None, seeds=args.seeds, epochs=args.epochs, quick=args.quick,
        methods=tuple(args.methods) if args.methods and "methods" in reads else None,
        steps=args.steps if "steps" in reads else None,
        fractions=fractions if "fractions" in reads else None,
        n_models=getattr(args, "n_models", None) if "n_models" in reads else None,
        grid_args=tuple(getattr(args, "grids", None) or ()) if "grid_args" in reads else (),
        task_options=task_options,
        settings=build_settings(suite.settings, suite.name, sets.get(suite.name, {})),
    )
    methods = suite.methods(options) if suite.methods is not None else ()
    overrides = {m: hp for m, hp in sets.items() if m in methods}
    options = replace(options, method_overrides=overrides)
    scenarios = suite.scenarios(options)
    if not scenarios:
        raise QbenchError(f"no {suite.name} scenario matches the given --task/--model/--corruption")
    for key in sorted(task_options):
        if not any(key in default_task_options(s.task) for s in scenarios):
            raise QbenchError(f"--set task.{key}: no task of this run takes option {key!r} "
                              f"(tasks: {', '.join(sorted({s.task for s in scenarios}))})")
    units = suite.plan(scenarios, options)  # validates methods and hyperparameters
    budget = getattr(args, "step_budget", False)
    ctx = RunContext(data_dir=args.data_dir, cache_dir=args.cache_dir,
                     step_budget_s=budget if isinstance(budget, float) else None)
    # load every task before writing anything: missing data is bad input, not a failed unit
    for task in sorted(suite.tasks_needed(scenarios)):
        opts = {**default_task_options(task), **task_options_for(task, task_options)}
        load_task(task, 0, ctx.data_dir, ctx.cache_dir, tuple(sorted(opts.items())))
    tier = "-quick" if args.quick else ""
    if args.out:
        out = os.path.join(args.out, suite.name) if args.suite == "all" else args.out
    else:
        out = os.path.join("runs", suite.name + tier)
    check_out_dir(out)
    return suite, units, ctx, out, methods


def check_out_dir(out: str) -> None:
    """QbenchError unless ``out`` (and its ``records`` folder) is, or can be made, a writable directory."""
    for path in (os.path.join(out, "records"), out):
        if os.path.exists(path) and not os.path.isdir(path):
            raise QbenchError(f"--out {out}: {path} exists and is not a directory")
    probe = os.path.abspath(out)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise QbenchError(f"--out {out}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK) or os.statvfs(probe).f_flag & os.ST_RDONLY:
        raise QbenchError(f"--out {out}: {probe} is not writable")


def _execute(suite, units, ctx, out: str, args: argparse.Namespace, executor=None):
    from qbench.records import RecordStore
    from qbench.runner import run_units

    show = not args.no_progress and (getattr(args, "progress", False) or sys.stderr.isatty())
    return run_units(units, RecordStore(out), ctx, force=args.force, progress=show, executor=executor,
                      retry_failed=getattr(args, "retry_failed", False))


def _print_run(suite, units, out: str, report, wall: float) -> None:
    """The leaderboard's tables of a suite's run, where its records are and what to run next."""
    from qbench.records import RecordStore
    from qbench.report.conformance import split_protocol
    from qbench.report.console import run_summary

    store = RecordStore(out)
    keys = {u.key for u in units}
    records = [r for r in store.load() if r["unit_key"] in keys]
    # a quick tier or an override is not the protocol: its tables are unranked, as in the leaderboard
    off = bool(records) and bool(split_protocol((r["unit_key"], r) for r in records)[1])
    print(run_summary(records, ranked=not off))
    print(f"\n{len(report.done)} run, {len(report.skipped)} already present, {len(report.failed)} failed "
          f"in {wall:.1f} s")
    print(f"records: {store.records_dir} (JSON Lines, one file per unit)")
    prog, where = _program(), shlex.quote(out)
    opt_in = " --allow-nonprotocol" if off else ""
    table_what = "Markdown tables" + (" (not the protocol's settings: shown unranked)" if off else "")
    steps = [(f"{prog} leaderboard --results {where}{opt_in}", f"{table_what}, into {os.path.join(out, 'leaderboard.md')}"),
             (f"{prog} plot --results {where}", f"PNG figures, into {os.path.join(out, 'figures')}")]
    width = max(len(cmd) for cmd, _ in steps)
    print("next:")
    for cmd, what in steps:
        print(f"  {cmd:<{width}}  # {what}")
    for key in report.failed:
        print(f"failed: {key}", file=sys.stderr)


def _program() -> str:
    """How the user started qbench (e.g. .venv/bin/qbench), so that the printed commands work as written."""
    argv0 = sys.argv[0] if sys.argv else ""
    return shlex.quote(argv0) if os.path.basename(argv0) == "qbench" else "qbench"


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Rewrite only the marker block of the output; exit 1 under --check when it is stale.

    The committed leaderboard/README.md is written only from the committed records or when named
    with --output: a table of one's own run lands in that run's directory (or on standard output)."""
    from qbench.report.leaderboard import (default_ablations, default_leaderboard, default_output, default_results,
                                           regenerate)
    from qbench.records.ledger import default_ledger

    if args.check and args.allow_nonprotocol:
        raise QbenchError("--check is strict (protocol records only): it does not take --allow-nonprotocol")
    results = args.results or [default_results()]
    output = (None if args.output == "-" else args.output) if args.output else default_output(results)
    if args.check and output is None:
        raise QbenchError("--check compares a file: give it with --output")
    # the committed tree's ablations go with the committed results only
    committed = [os.path.realpath(p) for p in results] == [os.path.realpath(default_results())]
    changed, text = regenerate(results, output, check=args.check, missing_ok=not args.results,
                               allow_nonprotocol=args.allow_nonprotocol,
                               ablations=[default_ablations()] if committed else [],
                               ledger=str(default_ledger(default_results())) if committed else None)
    if output is None:
        sys.stdout.write(text)
        return 0
    if args.check:
        if changed:
            print(f"{output} is out of date with the records in {', '.join(results)}: "
                  f"run `qbench leaderboard` and commit the result", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    print(f"{output}: {'updated' if changed else 'unchanged'}")
    if not args.output and output != default_leaderboard():
        print(f"(the leaderboard of these records; {default_leaderboard()} is made from {default_results()} only)")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    tsne_opts = ("tsne_tasks", "tsne_alpha", "tsne_seed", "tsne_perplexity", "tsne_data_dir", "tsne_cache_dir", "tsne_phase")
    if getattr(args, "what", None) == "tsne":
        args.out = args.out or os.path.join("leaderboard", "figures")
        return _cmd_plot_tsne(args)
    given = [o for o in tsne_opts if getattr(args, o, None) is not None]
    if given:
        raise QbenchError(f"--{given[0][5:].replace('_', '-')} is an option of `qbench plot tsne`")
    from qbench.report.figures import make_figures
    from qbench.report.leaderboard import default_results, load_results

    results = args.results or [default_results()]
    paths = results if args.results else [p for p in results if os.path.exists(p)]
    records = load_results(paths) if paths else []
    out = args.out or default_figures(results)
    written = make_figures(records, out)
    print(f"{len(written)} figure(s) in {out}")
    return 0


def default_figures(results: Sequence[str]) -> str:
    """leaderboard/figures only for the committed records: figures of one's own run land beside its records."""
    from qbench.report.leaderboard import default_results

    committed = os.path.realpath(default_results())
    if all(os.path.realpath(r) == committed for r in results):
        return os.path.join("leaderboard", "figures")
    first = results[0]
    return os.path.join(first if os.path.isdir(first) else os.path.dirname(first) or ".", "figures")


def _cmd_plot_tsne(args: argparse.Namespace) -> int:
    """t-SNE data views (PROTOCOL 4.6); every task is loaded before any file is written."""
    from qbench.views.tsne import PERPLEXITY, tsne_figures

    if args.results:
        raise QbenchError("--results is not an option of `qbench plot tsne` (it draws data, not records)")
    written = tsne_figures(args.tsne_tasks or ["mnist-1v9", "xxz-12"], args.out,
                           alpha=0.2 if args.tsne_alpha is None else args.tsne_alpha,
                           seed=0 if args.tsne_seed is None else args.tsne_seed,
                           perplexity=PERPLEXITY if args.tsne_perplexity is None else args.tsne_perplexity,
                           data_dir=args.tsne_data_dir, cache_dir=args.tsne_cache_dir, phase=args.tsne_phase)
    for p in written:
        print(f"tsne: wrote {p}")
    print(f"{len(written)} figure(s) in {args.out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """0: every compared metric agrees; 1: a disagreement (table on stdout); 2: bad input."""
    from qbench.verify import DEFAULT_ATOL, DEFAULT_RTOL, verify

    from qbench.xla_cache import enable_xla_cache

    rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
    atol = DEFAULT_ATOL if args.atol is None else args.atol
    all_only = [o for o, v in (("--ledger", args.ledger), ("--model", args.models), ("--suite", args.suites),
                               ("--one-seed-per-scenario", args.one_seed_per_scenario)) if v]
    if args.all_dir is not None:
        if args.records or args.sample is not None:
            raise QbenchError("--all DIR takes no RECORDS and no --sample")
        return _cmd_verify_all(args, rtol, atol)
    if all_only:
        raise QbenchError(f"{all_only[0]} is an option of `qbench verify --all DIR`")
    if not args.records:
        raise QbenchError("qbench verify: give RECORDS (files or directories) or --all DIR")
    enable_xla_cache(args.cache_dir)
    report = verify(args.records, sample=args.sample, seed=args.seed, rtol=rtol, atol=atol,
                    data_dir=args.data_dir, cache_dir=args.cache_dir, threads=args.threads)
    n = len(report.units_checked)
    if report.ok:
        print(f"all {n} re-run unit(s) agree with their records (atol {atol:g}, rtol {rtol:g}; timings not compared)")
        return 0
    print(report.table())
    print(f"\n{len(report.disagreements)} disagreement(s) in {len({d.unit for d in report.disagreements})} "
          f"of {n} re-run unit(s) (atol {atol:g}, rtol {rtol:g}; timings not compared)")
    return 1


def _cmd_verify_all(args: argparse.Namespace, rtol: float, atol: float) -> int:
    """0: every selected unit agrees (checked now or in the ledger); 1: a disagreement; 2: bad input."""
    from qbench.verify import verify_all
    from qbench.suites import list_suites

    from qbench.xla_cache import enable_xla_cache

    for name in args.suites or ():
        if name not in list_suites():
            raise QbenchError(f"unknown suite {name!r}; known: {', '.join(list_suites())}")
    enable_xla_cache(args.cache_dir)
    report = verify_all(args.all_dir, ledger=args.ledger, models=args.models, suites=args.suites,
                        one_seed=args.one_seed_per_scenario, rtol=rtol, atol=atol, data_dir=args.data_dir,
                        cache_dir=args.cache_dir, threads=args.threads)
    print(f"{len(report.checked)} unit(s) re-run now, {len(report.already)} already in the ledger, "
          f"of {len(report.selected)} selected; {len(report.disagree)} disagree "
          f"(revision {report.revision[:12]}, ledger {report.ledger})")
    for key in report.disagree:
        print(f"disagrees: {key}", file=sys.stderr)
    return 1 if report.disagree else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The program. Unless ``--verbose``, TensorFlow's log lines are hidden: by its log levels always, and,
    when ``argv`` is None (the ``qbench`` program itself, not a call from Python), by filtering the
    native lines it writes to stderr (see :mod:`qbench.quiet`)."""
    try:
        args = build_parser().parse_args(argv)
        if not args.verbose:
            from qbench.quiet import filter_native_stderr, quiet_python_logs

            quiet_python_logs()
            if argv is None:
                filter_native_stderr()
        return {"check": cmd_check, "list": cmd_list, "run": cmd_run, "leaderboard": cmd_leaderboard, "plot": cmd_plot,
                "verify": cmd_verify}[args.command](args)
    except QbenchError as exc:
        print("qbench: error: " + " ".join(str(exc).splitlines()), file=sys.stderr)  # one line, always
        return 2
    except KeyboardInterrupt:
        print("qbench: interrupted; completed units are kept, re-run the command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``qbench run``: the parsed arguments as a :class:`qbench.plan.RunRequest`, planned and run as
``qbench.run`` does, then each suite's table and where its records are."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from qbench.plan import Plan, RunRequest, parse_sets


def cmd_run(args: argparse.Namespace) -> int:
    """``--suite all`` runs every protocol suite in turn, each into its own output directory; exit 1
    if a unit failed."""
    from qbench.plan import plan_run
    from qbench.runner import run_plans

    request = request_from_args(args)
    runs = run_plans(plan_run(request), request, after=print_run)
    failed = sum(len(report.failed) for _, report in runs)
    if failed:
        print(f"qbench: {failed} unit(s) failed (their records say why; --retry-failed runs them again)",
              file=sys.stderr)
    return 1 if failed else 0


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """What ``qbench run ARGS`` asks for."""
    def tup(v):
        return tuple(v) if v else None

    alphas = tuple(args.alphas or ()) + tuple(args.alpha_list or ())
    show = not args.no_progress and (args.progress or sys.stderr.isatty())
    return RunRequest(
        suite=args.suite, tasks=tup(args.tasks), models=tup(args.models), corruptions=tup(args.corruptions),
        alphas=alphas or None, seeds=args.seeds, epochs=args.epochs, steps=args.steps, quick=args.quick,
        methods=tup(args.methods), fractions=tup(args.fractions), n_models=args.n_models, grids=tuple(args.grids or ()),
        sets=parse_sets(args.sets), out=args.out, data_dir=args.data_dir, cache_dir=args.cache_dir,
        step_budget=args.step_budget, force=args.force, retry_failed=args.retry_failed, progress=show,
        executor=args.executor, workers=args.workers, scheduler=args.scheduler, threads=args.threads)


def print_run(plan: Plan, report, wall: float) -> None:
    """The leaderboard's tables of a suite's run, where its records are and what to run next."""
    from qbench.records import RecordStore
    from qbench.report.conformance import split_protocol
    from qbench.report.console import run_summary

    out = plan.out
    store = RecordStore(out)
    keys = {u.key for u in plan.units}
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

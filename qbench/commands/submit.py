"""``qbench submit module:Class``: a method from one file to committed, checked leaderboard rows.

Steps, each printed as it starts; the first that fails stops the submission (status 2, or 1 for a
failed unit or a re-run that disagrees):

1. copy the module's file to ``leaderboard/submissions/`` (where verify imports it from; the records
   name the method ``module:Class``) and import it from there;
2. ``qbench check method``;
3. the unlearning protocol for the method into ``leaderboard/results/unlearning`` (both tasks, both
   models, seeds 0-4, 50 steps), starting from the committed protocol models where present;
4. ``qbench verify`` of a seeded sample of the new units (bit for bit: same machine);
5. the leaderboard and the figures, regenerated;

then what to ``git add``. ``--task/--model/--epochs/--steps/--seeds`` make a *trial*: not the
protocol, into ``--out`` (never ``leaderboard/results``), its tables unranked, nothing to commit.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import time

from qbench.errors import QbenchError

TRIAL_OPTIONS = ("tasks", "models", "epochs", "steps", "seeds")
VERIFY_SAMPLE = 2


def add_parser(sub) -> None:
    sp = sub.add_parser("submit", help="submit an unlearning method (module:Class in one file): check it, run the "
                                       "unlearning protocol, verify, regenerate the leaderboard, say what to commit")
    sp.add_argument("method", metavar="MODULE:CLASS", help="the method, e.g. my_method:MyMethod (my_method.py on "
                                                         "PYTHONPATH or in the working directory)")
    sp.add_argument("--out", help="results directory (default: leaderboard/results/unlearning; a trial: required)")
    sp.add_argument("--task", action="append", dest="tasks", help="a trial: only this task (repeatable)")
    sp.add_argument("--model", action="append", dest="models", help="a trial: only this model (repeatable)")
    sp.add_argument("--epochs", type=int, help="a trial: train the starting models this many epochs")
    sp.add_argument("--steps", type=int, help="a trial: unlearning steps")
    sp.add_argument("--seeds", help="a trial: seeds, '0,1' or '0-4'")
    sp.add_argument("--data-dir", help="directory with the MNIST IDX files (or set QBENCH_DATA_DIR)")
    sp.add_argument("--cache-dir", help="cache directory for XXZ ground states (or set QBENCH_CACHE_DIR)")
    sp.add_argument("--executor", choices=["serial", "local"], default=None,
                    help="serial (default) or local: a pool of --workers processes")
    sp.add_argument("--workers", type=int, help="worker processes of --executor local")


def stage_module(name: str, copy: bool = True) -> tuple[str, str]:
    """Copy the file of ``name``'s module into the committed submissions and import it from there first
    (``copy`` False, a trial: import it from where it is); (source file, the file it is imported from)."""
    from qbench.plugins import is_path
    from qbench.submissions import add_to_path, submissions_dir
    from qbench.verify import module_file

    if not is_path(name):
        raise QbenchError(f"qbench submit takes MODULE:CLASS (a method in one file), got {name!r}; a method of an "
                          f"installed package is submitted with `qbench run --suite unlearning --method NAME`")
    module = name.partition(":")[0]
    if "." in module:
        raise QbenchError(f"qbench submit takes a module of one file (no package): {module!r} has a dot")
    src = module_file(module)
    if src is None:
        raise QbenchError(f"cannot find module {module!r}: run from its folder or put it on PYTHONPATH")
    if os.path.basename(src) == "__init__.py" or not src.endswith(".py"):
        raise QbenchError(f"module {module!r} is not one .py file ({src}): put the method in one file")
    if not copy:
        return src, src
    dst = os.path.join(submissions_dir(), f"{module}.py")
    if os.path.exists(dst) and os.path.realpath(dst) != os.path.realpath(src) and not filecmp.cmp(src, dst, False):
        raise QbenchError(f"{os.path.relpath(dst)} exists and differs from {src}: another submission has that module "
                          f"name; rename yours, or replace the file if it is your own earlier version")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.realpath(dst) != os.path.realpath(src):
        shutil.copyfile(src, dst)
    add_to_path(first=True)
    return src, dst


def cmd_submit(args: argparse.Namespace) -> int:
    from qbench.report.leaderboard import default_results

    trial = [o for o in TRIAL_OPTIONS if getattr(args, o)]
    protocol_out = os.path.join(default_results(), "unlearning")
    out = args.out or (None if trial else protocol_out)
    if trial and (out is None or os.path.realpath(out).startswith(os.path.realpath(default_results()))):
        raise QbenchError(f"--{trial[0].rstrip('s')} makes a trial, not the protocol: give --out DIR outside "
                          f"{default_results()}")
    start = time.perf_counter()
    src, dst = stage_module(args.method, copy=not trial)
    print(f"1/5 staged {src} as {os.path.relpath(dst)} (verify imports the method from there)" if not trial else
          f"1/5 a trial: the method is imported from {src} (a submission copies it to leaderboard/submissions/)")

    from qbench.methods.conformance import check_method

    print(f"2/5 qbench check method {args.method}")
    conformance = check_method(args.method)
    for line in conformance.lines:
        print(f"  {line.render()}")
    if not conformance.passed:
        raise QbenchError(conformance.reason())

    from qbench.commands.run import print_run
    from qbench.plan import RunRequest, parse_seeds, plan_run
    from qbench.runner import run_plans

    def tup(v):
        return tuple(v) if v else None

    request = RunRequest(suite="unlearning", methods=(args.method,), out=out, tasks=tup(args.tasks),
                         models=tup(args.models), epochs=args.epochs, steps=args.steps,
                         seeds=parse_seeds(args.seeds) if args.seeds else None, data_dir=args.data_dir,
                         cache_dir=args.cache_dir, executor=args.executor, workers=args.workers)
    given = "".join(f" --{o[:-1]} {v}" for o in ("tasks", "models") for v in getattr(args, o) or ())
    given += "".join(f" --{o} {getattr(args, o)}" for o in ("epochs", "steps", "seeds") if getattr(args, o) is not None)
    print(f"3/5 {'a trial run (not the protocol)' if trial else 'the unlearning protocol'}: qbench run --suite "
          f"unlearning --method {args.method} --out {out}{given}")
    plans = plan_run(request)
    _say_models(plans)
    runs = run_plans(plans, request, after=print_run)
    if any(report.failed for _, report in runs):
        print("qbench submit: a unit failed (its record says why); fix the method, or submit the failure as it is "
              "with `qbench run ... --force`", file=sys.stderr)
        return 1

    from qbench.verify import verify

    mine = _method_records(out, args.method)
    print(f"4/5 qbench verify --sample {VERIFY_SAMPLE}: re-running {VERIFY_SAMPLE} of the method's "
          f"{len(mine)} unit(s) bit for bit")
    report = verify(mine, sample=VERIFY_SAMPLE, data_dir=args.data_dir, cache_dir=args.cache_dir,
                    trust_code=True, log=lambda s: print(f"  {s}"))  # the submitter's own code, run just now
    if not report.ok:
        print(report.table())
        return 1

    print("5/5 the leaderboard and the figures")
    committed = _regenerate(out, trial)
    wall = time.perf_counter() - start
    print(f"done in {wall / 60:.1f} min")
    if trial:
        print(f"a trial: its records ({out}) are not the protocol's and are not committed; run "
              f"`qbench submit {args.method}` without --task/--model/--epochs/--steps/--seeds to submit")
        return 0
    print("commit exactly these:")
    safe = args.method.replace(":", "_")
    print(f"  git add {os.path.relpath(dst)} {os.path.join(out, 'records')}/unlearning-*-{safe}-*.jsonl "
          f"{' '.join(committed)}")
    print(f"  git commit -m 'submit {args.method}: unlearning protocol records ({len(mine)} units)'")
    return 0


def _method_records(out: str, method: str) -> list[str]:
    """The record files of ``method``'s units under ``out`` (read, not guessed from file names)."""
    from qbench.records.store import iter_records

    return sorted({str(where).rsplit(":", 1)[0] for where, rec in iter_records([os.path.join(out, "records")],
                                                                                recursive=True)
                   if rec.get("method") == method})


def _say_models(plans) -> None:
    """Which shared starting models the run finds committed, and which it trains here (said plainly)."""
    from qbench.commands.models import plan_coverage

    found, total = plan_coverage(plans)
    if total == 0:
        return
    if found == total:
        print(f"  all {total} shared starting model(s) (poisoned models, oracles) are committed: none is trained here")
    else:
        print(f"  {found} of {total} shared starting model(s) (poisoned models, oracles) are committed; the other "
              f"{total - found} are TRAINED HERE (most of the run's time; numbers from this CPU's numerics)")


def _regenerate(out: str, trial: bool) -> list[str]:
    """Rewrite the leaderboard and draw the figures; the paths to commit."""
    from qbench.records.ledger import default_ledger
    from qbench.report.figures import make_figures
    from qbench.report.leaderboard import (
        default_ablations,
        default_leaderboard,
        default_results,
        load_results,
        regenerate,
    )

    if trial:
        regenerate([out], os.path.join(out, "leaderboard.md"), allow_nonprotocol=True)
        written = make_figures(load_results([out]), os.path.join(out, "figures"))
        print(f"  {os.path.join(out, 'leaderboard.md')}, {len(written)} figure(s) in {os.path.join(out, 'figures')}")
        return []
    results = default_results()
    regenerate([results], default_leaderboard(), ablations=[default_ablations()],
               ledger=str(default_ledger(results)))
    figures = os.path.join("leaderboard", "figures")
    written = make_figures(load_results([results]), figures)
    print(f"  {default_leaderboard()} rewritten, {len(written)} figure(s) in {figures}")
    return [default_leaderboard(), figures]

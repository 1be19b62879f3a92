"""The ``qbench`` command line. Bad input: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from qbench.errors import QbenchError
from qbench.plan import parse_floats, parse_seeds, parse_step_budget


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we promise one line
        raise QbenchError(f"{self.prog}: {message}")

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
    run.add_argument("--alphas", type=parse_floats, help="comma-separated corrupted fractions in [0, 1]")
    run.add_argument("--alpha", type=float, action="append", dest="alpha_list", help="one alpha, repeatable")
    run.add_argument("--fraction", type=float, action="append", dest="fractions",
                     help="corrective: a known fraction of the poison in (0, 1], repeatable (default: 4.8's five)")
    run.add_argument("--seeds", type=parse_seeds, help="'0,1,2' or '0-4' (default: the protocol's 0-4)")
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
    run.add_argument("--step-budget", type=parse_step_budget, default=None, metavar="SECONDS",
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
    mode = vf.add_mutually_exclusive_group()
    mode.add_argument("--statistical", action="store_true",
                      help="re-run every seed of each (sampled) suite x scenario x method x alpha and test each "
                           "metric's values over seeds against the records' (PROTOCOL 8; the default for records "
                           "made on another CPU model)")
    mode.add_argument("--bitwise", action="store_true",
                      help="compare every unit bit for bit (within --atol/--rtol) even for records made on another "
                           "CPU model (the default for records made on this machine's)")
    vf.add_argument("--sample", type=int, metavar="N",
                    help="re-run a random sample of N units (--statistical: N cells, every seed) (default: all)")
    vf.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    vf.add_argument("--budget", type=float, metavar="SECONDS",
                    help="--statistical: sample only cells whose re-run, estimated from the records' timings, "
                         "takes at most SECONDS (the others are counted and named as not checked)")
    vf.add_argument("--rtol", type=float, default=None,
                    help="relative tolerance for non-accuracy metrics (default 1e-5)")
    vf.add_argument("--atol", type=float, default=None,
                    help="absolute tolerance for every compared metric (default 1e-6)")
    vf.add_argument("--data-dir", help="directory with the MNIST IDX files (or set QBENCH_DATA_DIR)")
    vf.add_argument("--cache-dir", help="cache directory for XXZ ground states (or set QBENCH_CACHE_DIR)")
    vf.add_argument("--threads", type=int, metavar="N",
                    help="TensorFlow threads for records without provenance.tf_threads (older records; "
                         "default: TensorFlow's default here); a record's own count is capped at the cores; "
                         "--statistical: the count of every re-run")
    vf.add_argument("--trust-code", action="store_true",
                    help="import the module:attribute methods, tasks and models the records name that are neither "
                         "built in nor installed (verify names them first, with their files; without this flag "
                         "it refuses them)")
    from qbench.commands import models, submit

    submit.add_parser(sub)
    models.add_parser(sub)
    for command in sub.choices.values():  # also after the command: `qbench run ... --verbose`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return p

def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Rewrite only the marker block of the output; exit 1 under --check when it is stale.

    The committed leaderboard/README.md is written only from the committed records or when named
    with --output: a table of one's own run lands in that run's directory (or on standard output)."""
    from qbench.records.ledger import default_ledger
    from qbench.report.leaderboard import (
        default_ablations,
        default_leaderboard,
        default_output,
        default_results,
        regenerate,
    )

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

#: command -> (module, function) of the commands whose module is imported only when they run
_COMMANDS = {"check": ("info", "cmd_check"), "list": ("info", "cmd_list"), "run": ("run", "cmd_run"),
             "submit": ("submit", "cmd_submit"), "models": ("models", "cmd_models"), "verify": ("verify", "cmd_verify")}


def _handler(command: str):
    """The function that runs ``command``."""
    if command in _COMMANDS:
        import importlib

        module, function = _COMMANDS[command]
        return getattr(importlib.import_module(f"qbench.commands.{module}"), function)
    return {"leaderboard": cmd_leaderboard, "plot": cmd_plot}[command]


def main(argv: Sequence[str] | None = None) -> int:
    """The program. Unless ``--verbose``, TensorFlow's log lines are hidden: by its log levels always, and,
    when ``argv`` is None (the ``qbench`` program itself, not a call from Python), by filtering the
    native lines it writes to stderr (see :mod:`qbench.quiet`)."""
    from qbench.executors.worker import ignore_file_size_signal

    ignore_file_size_signal()  # past `ulimit -f` a write fails (one line naming the file), not the process
    try:
        args = build_parser().parse_args(argv)
        if not args.verbose:
            from qbench.quiet import filter_native_stderr, quiet_python_logs

            quiet_python_logs()
            if argv is None:
                filter_native_stderr()
        return _handler(args.command)(args)
    except QbenchError as exc:
        print("qbench: error: " + " ".join(str(exc).splitlines()), file=sys.stderr)  # one line, always
        return 2
    except KeyboardInterrupt:
        print("qbench: interrupted; completed units are kept, re-run the command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``qbench verify``: re-run stored records' units and compare (see :mod:`qbench.verify`)."""

from __future__ import annotations

import argparse
import sys

from qbench.errors import QbenchError


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
                    data_dir=args.data_dir, cache_dir=args.cache_dir, threads=args.threads,
                    trust_code=args.trust_code)
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
                        cache_dir=args.cache_dir, threads=args.threads, trust_code=args.trust_code)
    print(f"{len(report.checked)} unit(s) re-run now, {len(report.already)} already in the ledger, "
          f"of {len(report.selected)} selected; {len(report.disagree)} disagree "
          f"(revision {report.revision[:12]}, ledger {report.ledger})")
    for key in report.disagree:
        print(f"disagrees: {key}", file=sys.stderr)
    return 1 if report.disagree else 0

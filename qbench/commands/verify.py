"""``qbench verify``: re-run stored records' units and compare (see :mod:`qbench.verify`)."""

from __future__ import annotations

import argparse
import sys

from qbench.errors import QbenchError


def cmd_verify(args: argparse.Namespace) -> int:
    """0: every compared metric agrees; 1: a disagreement (table on stdout); 2: bad input."""
    from qbench.verify import DEFAULT_ATOL, DEFAULT_RTOL
    from qbench.xla_cache import enable_xla_cache

    rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
    atol = DEFAULT_ATOL if args.atol is None else args.atol
    all_only = [o for o, v in (("--ledger", args.ledger), ("--model", args.models), ("--suite", args.suites),
                               ("--one-seed-per-scenario", args.one_seed_per_scenario)) if v]
    if args.all_dir is not None:
        if args.records or args.sample is not None or args.statistical or args.budget is not None:
            raise QbenchError("--all DIR takes no RECORDS, no --sample, no --budget and no --statistical")
        return _cmd_verify_all(args, rtol, atol)
    if all_only:
        raise QbenchError(f"{all_only[0]} is an option of `qbench verify --all DIR`")
    if not args.records:
        raise QbenchError("qbench verify: give RECORDS (files or directories) or --all DIR")
    enable_xla_cache(args.cache_dir)
    if args.statistical:
        return _cmd_statistical(args, None)
    other = None if args.bitwise else _made_elsewhere(args.records)
    if not other:
        return _cmd_bitwise(args, rtol, atol, None)
    from qbench.verify import other_cpu

    print(f"{len(other)} unit(s) made on another CPU model ({', '.join(sorted(set(other.values())))}): checked "
          f"statistically (PROTOCOL 8; --bitwise to compare them bit for bit)")
    if len(other) == len(_units(args.records)):
        return _cmd_statistical(args, None)
    bitwise = _cmd_bitwise(args, rtol, atol, lambda recs: other_cpu(recs) is None)
    return max(bitwise, _cmd_statistical(args, lambda recs: other_cpu(recs) is not None))


def _units(paths) -> dict[str, list[dict]]:
    from qbench.verify import read_selected

    return read_selected(paths)[0]


def _made_elsewhere(paths) -> dict[str, str]:
    """{unit key: CPU model} of the units whose records name another CPU fingerprint than this machine's."""
    from qbench.verify import other_cpu

    return {k: cpu for k, recs in _units(paths).items() if (cpu := other_cpu(recs))}


def _cmd_bitwise(args: argparse.Namespace, rtol: float, atol: float, only) -> int:
    from qbench.verify import verify

    report = verify(args.records, sample=args.sample, seed=args.seed, rtol=rtol, atol=atol,
                    data_dir=args.data_dir, cache_dir=args.cache_dir, threads=args.threads,
                    trust_code=args.trust_code, only=only)
    n = len(report.units_checked)
    if report.ok:
        print(f"all {n} re-run unit(s) agree with their records (atol {atol:g}, rtol {rtol:g}; timings not compared)")
        return 0
    print(report.table())
    print(f"\n{len(report.disagreements)} disagreement(s) in {len({d.unit for d in report.disagreements})} "
          f"of {n} re-run unit(s) (atol {atol:g}, rtol {rtol:g}; timings not compared)")
    return 1


def _cmd_statistical(args: argparse.Namespace, only) -> int:
    """0: no cell fails (pass or inconclusive); 1: a cell fails."""
    from qbench.verify_stats import print_report, verify_statistical

    if args.statistical and (args.rtol is not None or args.atol is not None):
        raise QbenchError("--rtol and --atol are tolerances of the bit-for-bit check, not of --statistical")
    report = verify_statistical(args.records, sample=args.sample, seed=args.seed, data_dir=args.data_dir,
                                cache_dir=args.cache_dir, threads=args.threads, trust_code=args.trust_code,
                                only=only, budget_s=args.budget)
    print_report(report)
    return 0 if report.ok else 1


def _cmd_verify_all(args: argparse.Namespace, rtol: float, atol: float) -> int:
    """0: every selected unit agrees (checked now or in the ledger); 1: a disagreement; 2: bad input."""
    from qbench.suites import list_suites
    from qbench.verify import verify_all
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

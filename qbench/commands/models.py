"""``qbench models``: the committed protocol models (:mod:`qbench.models_store`).

``qbench models export RUN_DIR...`` adds a run's trained shared models to ``leaderboard/models``;
``qbench models count`` says how many files and bytes the protocol's shared models take, from the plan.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Iterable

from qbench.errors import QbenchError
from qbench.models_store import read_index, spec_key, store_dir


def add_parser(sub) -> None:
    mp = sub.add_parser("models", help="committed protocol models: `models export RUN_DIR...` adds a run's shared "
                                       "poisoned models and oracles to leaderboard/models; `models count` sizes them")
    mp.add_argument("what", choices=["export", "count"])
    mp.add_argument("runs", nargs="*", metavar="RUN_DIR", help="export: run output directories (with models/)")
    mp.add_argument("--to", help="export: the store directory (default: leaderboard/models)")
    mp.add_argument("--max-params", type=int, metavar="N",
                    help="export: leave out models of more than N parameters (they are trained where needed)")


def cmd_models(args: argparse.Namespace) -> int:
    import os

    from qbench.models_store import export

    if args.what == "count":
        if args.runs or args.to or args.max_params is not None:
            raise QbenchError("qbench models count takes no RUN_DIR, --to or --max-params")
        for line in count_lines():
            print(line)
        return 0
    if not args.runs:
        raise QbenchError("qbench models export: give RUN_DIR (a run's output directory)")
    if args.max_params is not None and args.max_params < 0:
        raise QbenchError(f"--max-params must be >= 0, got {args.max_params}")
    dest = args.to or os.path.join("leaderboard", "models")
    added, present, size, left_out = export(args.runs, dest, args.max_params)
    more = f", {left_out} left out (more than {args.max_params:,} parameters)" if args.max_params is not None else ""
    print(f"{added} model(s) added to {dest} ({size:,} bytes), {present} already there{more}")
    return 0


#: the suites whose units share trained starting models
SHARING_SUITES = ("unlearning", "corrective", "forgetting")


def unit_models(suite: str, config: dict) -> dict[str, tuple[str, str, str]]:
    """{store key: (kind, task, model)} of the shared models a unit of ``suite`` uses (poisoned, oracle)."""
    from qbench.experiment import TrainSpec
    from qbench.suites.unlearning import ORACLE, oracle_key

    if suite not in SHARING_SUITES or not isinstance(config.get("poisoned"), dict):
        return {}
    spec = TrainSpec.from_dict(config["poisoned"])
    f = config.get("known_fraction")
    oracle = oracle_key(spec) if f in (None, 1.0) else {**oracle_key(spec), "known_fraction": f}
    out = {}
    if config.get("method") != ORACLE:
        out[spec_key(spec.as_dict())] = ("poisoned", spec.task, spec.model)
    if config.get("method") == ORACLE or suite != "forgetting":  # a method's gap_to_oracle needs the oracle
        out[spec_key(oracle)] = ("oracle", spec.task, spec.model)
    return out


def planned_models(options=None, suites: Iterable[str] = SHARING_SUITES) -> dict[str, tuple[str, str, str]]:
    """{store key: (kind, task, model)} of every shared model the suites plan (default: at protocol defaults)."""
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite

    options = options or RunOptions()
    out: dict[str, tuple[str, str, str]] = {}
    for name in suites:
        suite = get_suite(name)
        for unit in suite.plan(suite.scenarios(options), options):
            out.update(unit_models(name, unit.config))
    return out


def plan_coverage(plans) -> tuple[int, int]:
    """(committed, planned) shared models of a run's plans (:func:`qbench.plan.plan_run`)."""
    keys = {k for plan in plans for u in plan.units for k in unit_models(plan.suite.name, u.config)}
    d = store_dir()
    return len(keys & set(read_index(d))) if d is not None else 0, len(keys)


def count_lines() -> list[str]:
    """Files and bytes of the protocol's shared models, per suite and in all, counted from the plan."""
    from qbench.models import model_info
    from qbench.protocol import model_size
    from qbench.tasks import task_families

    shapes = {t: v for f in task_families() for t, v in f.input_shapes.items()}

    def size(t: str, m: str) -> int:
        n_amplitudes, complex_input = shapes[t]
        return model_info(m).count(model_size(t, m), n_amplitudes, complex_input)

    out = []
    for suites in [(s,) for s in SHARING_SUITES] + [SHARING_SUITES]:
        planned = planned_models(suites=suites)
        kinds = Counter(planned.values())
        n = sum(size(t, m) * k for (_, t, m), k in kinds.items())
        detail = ", ".join(f"{k} {kind} {t}/{m}" for (kind, t, m), k in sorted(kinds.items()))
        out.append(f"{' + '.join(suites)}: {len(planned)} model(s), {n:,} parameters, {4 * n:,} bytes as float32 "
                   f"({detail})")
    d = store_dir()
    out.append(f"committed: {len(read_index(d)) if d else 0} model(s) in {d or 'no store (leaderboard/models absent)'}")
    return out

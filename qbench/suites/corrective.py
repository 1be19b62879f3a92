"""``corrective`` (PROTOCOL 4.8): unlearning when only part of the poison is identified.

As ``unlearning`` (label flipping at alpha 0.3, the same poisoned models, 50 full-batch steps, every
method at its defaults), but a data owner has found only a fraction ``f`` of the flipped samples
(:func:`qbench.corruption.identification.identified`, nested across ``f``): the forget set is the
identified part; the retain set is everything else, the unidentified flipped samples included with
their flipped labels. One unit per (task, model, seed, f, method), and one oracle unit per (task,
model, seed, f): a model trained from scratch on that f's retain set. A method unit records step 0 and
the final step: the unlearning metrics, ``residual_poison_acc`` (agreement with the flipped labels on
the unidentified flipped samples: how much poison the model still believes) and, against the oracle
of its f, ``mia_efficacy`` and ``gap_to_oracle``.

Trained models are kept under ``OUT/models``; the poisoned models and the f = 1 oracles are those of
the unlearning suite (same keys), read from an unlearning run beside this one (``OUT/../unlearning``,
as ``--suite all`` and ``leaderboard/results`` lay them out) when it has them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qbench.corruption.identification import FRACTIONS, check_fraction, identified
from qbench.experiment import Prepared, RunContext, TrainSpec
from qbench.methods import get_method
from qbench.records import schema as F
from qbench.records.build import new_record, unit_key
from qbench.scenarios import RunOptions, Scenario, Suite, Unit, model_unit, register_suite
from qbench.seeding import int_seed
from qbench.suites.unlearning import (
    FAMILIES,
    METHOD_FIELDS,
    ORACLE,
    PRIVACY_METRICS,
    PROTOCOL_METHODS,
    UnlearningSettings,
    oracle_key,
    oracle_model,
    plan_configs,
    poisoned_model,
    privacy_metrics,
    register_poisoned_scenarios,
    run_method,
    select_poisoned_scenarios,
)

if TYPE_CHECKING:  # the unlearning loop imports TensorFlow: only when a unit runs
    from qbench.training.unlearn import UnlearnSets

METRICS = ("val_acc", "forget_acc", "forget_clean_acc", "retain_acc", "residual_poison_acc", "wall_s", "loss")


@dataclass(frozen=True)
class CorrectiveConfig:
    fractions: tuple[float, ...] = FRACTIONS
    # the quick tier: one seed, two fractions and three of the paper's methods (each method compiles its own
    # QNN step, 10-20 s; the paper's five took the tier to 5 min 45 s cold on 2 cores)
    quick_seeds: tuple[int, ...] = (0,)
    quick_fractions: tuple[float, ...] = (0.25, 1.0)
    quick_methods: tuple[str, ...] = ("finetune", "gradient_ascent", "scrub")


CONFIG = CorrectiveConfig()

register_poisoned_scenarios("corrective", METRICS + PRIVACY_METRICS, "corrective unlearning, part of the poison known")


def _scenarios(options: RunOptions) -> list[Scenario]:
    return select_poisoned_scenarios("corrective", options, CONFIG.quick_seeds)


def run_methods(options: RunOptions) -> tuple[str, ...]:
    """The methods of a run: ``--method``, or every protocol method (the quick tier: the paper's)."""
    return tuple(options.methods or (CONFIG.quick_methods if options.quick else PROTOCOL_METHODS))


def fractions(options: RunOptions) -> tuple[float, ...]:
    given = options.fractions or (CONFIG.quick_fractions if options.quick else CONFIG.fractions)
    return tuple(sorted({check_fraction(f) for f in given}))


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    """The unlearning suite's units (oracle and methods per seed), once per known fraction, fraction first:
    the forget set's size, and so the compiled QNN step's shapes, change with the fraction, and a worker
    given a contiguous share of the plan then compiles each method's step for its fractions only (measured
    on 2 workers: 22-85 s per compilation of a mnist-1v9 QNN step, one per fraction x method)."""
    configs = plan_configs(scenarios, options, run_methods(options))
    return [unit_from_config({**c, "known_fraction": f}) for f in fractions(options) for c in configs]


def unit_from_config(config: dict) -> Unit:
    spec = TrainSpec.from_dict(config["poisoned"])
    name, f = config["method"], check_fraction(config["known_fraction"])
    where = f"{spec.task}-{spec.model}-a{spec.alpha:g}-s{spec.seed}-f{f:g}"
    if name == ORACLE:
        key = unit_key(f"corrective.oracle-{where}", config)
    else:
        get_method(name, **dict(config.get("method_hyperparameters") or {}))
        key = unit_key(f"corrective-{where}-{name}", config)
    return model_unit(key, "corrective", config, spec.task, spec.model, config["poisoned"]["model_options"])


@dataclass(frozen=True)
class KnownPoison:
    """The split of a poisoned training set when a fraction of its flipped samples is known."""

    sets: UnlearnSets  # forget = the identified flipped samples; retain = all others (flipped labels kept)
    x_residual: np.ndarray  # the unidentified flipped samples, with their flipped labels
    y_residual: np.ndarray


def known_poison(p: Prepared, fraction: float) -> KnownPoison:
    """Forget, retain and residual sets of prepared data ``p`` when ``fraction`` of its flipped samples is known."""
    from qbench.training.unlearn import UnlearnSets

    known = identified(p.corrupted.indices, fraction, p.spec.seed)
    forget = np.zeros(len(p.y_train), bool)
    forget[known] = True
    residual = np.zeros(len(p.y_train), bool)
    residual[np.setdiff1d(p.corrupted.indices, known)] = True
    sets = UnlearnSets(
        x_retain=p.x_train[~forget], y_retain=p.y_train[~forget],
        x_forget=p.x_train[forget], y_forget=p.y_train[forget], y_forget_clean=p.task.y_train[forget],
        x_val=p.x_val, y_val=p.y_val,
    )
    return KnownPoison(sets, p.x_train[residual], p.y_train[residual])


def _beside(out_dir: str) -> tuple[str, ...]:
    """The unlearning run beside this one, whose poisoned models and f = 1 oracles this suite may reuse."""
    other = Path(out_dir).resolve().parent / "unlearning"
    return (str(other),) if other.is_dir() and other != Path(out_dir).resolve() else ()


def _oracle(spec: TrainSpec, ctx: RunContext, out_dir: str, f: float):
    """The oracle of ``spec`` at known fraction ``f``: at f = 1 the unlearning suite's (same key)."""
    key = oracle_key(spec) if f == 1.0 else {**oracle_key(spec), "known_fraction": f}
    return oracle_model(spec, ctx, out_dir, sets_of=lambda p: known_poison(p, f).sets, key=key, also=_beside(out_dir))


def residual_poison_acc(model, theta: np.ndarray, kp: KnownPoison) -> tuple[float | None, str | None]:
    """Agreement with the flipped labels on the unidentified flipped samples (None and why, if there are none)."""
    from qbench.metrics.registry import Missing, compute
    from qbench.training.trainer import predict_logits

    if len(kp.y_residual) == 0:
        return None, "every flipped sample is identified: no residual poison to measure"
    v = compute("residual_poison_acc", {"logits:residual": predict_logits(model, theta, kp.x_residual),
                                        "labels:residual": kp.y_residual})
    return (None, v.reason) if isinstance(v, Missing) else (v, None)


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """One corrective unit: a method's records at step 0 and the final step, or the oracle's one record."""
    start = time.perf_counter()
    unit, spec = unit_from_config(config), TrainSpec.from_dict(config["poisoned"])
    f, name = float(config["known_fraction"]), config["method"]
    prepared, oracle_params, oracle = _oracle(spec, ctx, out_dir, f)
    kp = known_poison(prepared, f)
    common = dict(suite="corrective", scenario=config["scenario"], unit_key=unit.key, config=config, task=spec.task,
                  model=spec.model, model_size=prepared.model.size_label(), corruption=spec.corruption,
                  alpha=spec.alpha, seed=spec.seed, method=name, known_fraction=f)
    if name == ORACLE:
        residual, why = residual_poison_acc(prepared.model, oracle_params, kp)
        notes = dict(oracle["notes"], **({"residual_poison_acc": why} if why else {}))
        metrics = {**oracle["metrics"], "residual_poison_acc": residual, "train_wall_s": oracle["train_wall_s"],
                   "unit_wall_s": time.perf_counter() - start}
        rec = new_record(**common, step=config["steps"], metrics=metrics)
        if notes:
            rec["metric_notes"] = notes
        return [rec]
    hp = dict(config.get("method_hyperparameters") or {})
    also = _beside(out_dir)
    # records at step 0 and the last step only: no metric between them (the last step always gets every one)
    prepared, info, res = run_method(spec, ctx, out_dir, name, hp, config, curves=(), sets=kp.sets,
                                     keep_every=None, also=also)
    theta0 = (prepared.model.init_params(int_seed(spec.seed, "retrain_init")) if get_method(name, **hp).from_scratch
              else poisoned_model(spec, ctx, out_dir, also)[1])
    notes = privacy_metrics(prepared.model, kp.sets, theta0, res, spec.seed, lambda: oracle)
    last = len(res.metrics) - 1
    for step, theta in ((0, theta0), (last, res.params)) if res.status == "ok" else ((0, theta0),):
        value, why = residual_poison_acc(prepared.model, theta, kp)
        res.metrics[step]["residual_poison_acc"] = value
        if why:
            notes.setdefault(step, {})["residual_poison_acc"] = why
    kept = [0, last] if res.status == "ok" and last > 0 else [0]
    records = [new_record(**common, step=i, metrics=res.metrics[i]) for i in kept]
    if res.status != "ok":
        records.append(new_record(**common, step=len(res.metrics), metrics={}, status="failed", error=res.error,
                                  **({"traceback": res.extras["traceback"]} if "traceback" in res.extras else {})))
    for r in records:
        r["metrics"]["first_step_s"] = res.compile_s
        r["metrics"]["setup_s"] = res.setup_s
        r["poisoned_model"] = info
        if r[F.STEP] in notes:
            r["metric_notes"] = notes[r[F.STEP]]
    records[-1]["metrics"]["unit_wall_s"] = time.perf_counter() - start
    return records


register_suite(Suite(
    name="corrective", families=FAMILIES,
    description="unlearning when only a fraction of the poison is identified (PROTOCOL 4.8)",
    scenarios=_scenarios,
    plan=_plan,
    unit_from_config=unit_from_config,
    run=run,
    free_config=METHOD_FIELDS,
    settings=UnlearningSettings,
    flags=frozenset({"methods", "steps", "fractions"}),
    methods=run_methods,
    title="Corrective unlearning (PROTOCOL 4.8)", order=5, in_all=True, run_order=4, optional_heading=True,
))

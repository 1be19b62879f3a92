"""``sensitivity`` (PROTOCOL 4.7): a method's unlearning result over a grid of its hyperparameters.

The unlearning scenario of PROTOCOL 4.2 (label flipping at alpha 0.3, 50 full-batch steps, fresh
Adam) is run at every point of a grid (``qbench.grids``: the protocol's defaults keyed by method
registry name, or ``--grid`` for any method, plugins included).

Units. One unit per (task, model, method, grid point, seed), keyed by its full config (the grid
point is the method's hyperparameters; the rest of the grid is *not* in the config). So a sweep
resumes point by point, an extended or refined grid reruns only its new points, and two sweeps
that share a point share its unit. The poisoned model of a (task, model, seed) is the unlearning
suite's (same spec, same ``poisoned_model``): trained once and kept under ``OUT/models`` (and in
memory), never per grid point; with the same ``--out`` as an unlearning run it is not trained at all.
Units of one (task, model) form one group, so every grid point reuses the one compiled unlearning
step of (model shape, method): the hyperparameters reach it as tensors.

Records. One record per unit, at the final step: ``val_acc``, ``forget_acc``, ``forget_clean_acc``,
``retain_acc``, ``loss``, ``wall_s`` after the last step, and the per-step curves ``val_acc_steps``
and ``forget_acc_steps`` (index = step, 0 = the poisoned model); the loop evaluates only these
two at the steps between the first and the last (the retain set is evaluated at those two only).
The record's ``scenario`` field names the grid point (``sensitivity/<task>/<model>/<method>/<hp>``)
so that records of different points never collide as duplicates; ``grid`` holds the point and the
swept parameters' names for the figures.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from qbench.errors import QbenchError
from qbench.experiment import RunContext, TrainSpec, task_options_for
from qbench.grids import DEFAULT_GRIDS, QUICK_GRIDS, check_grid, grid_points, parse_grid_args
from qbench.methods import get_method, method_class, method_source
from qbench.protocol import unlearning_lr
from qbench.records.build import new_record, unit_key
from qbench.scenarios import RunOptions, Scenario, Suite, Unit, config_head, effective_train, model_unit, register_suite
from qbench.suites.unlearning import (
    ALPHA,
    FAMILIES,
    METHOD_FIELDS,
    STEPS,
    UnlearningSettings,
    register_poisoned_scenarios,
    run_method,
    select_poisoned_scenarios,
)
from qbench.suites.unlearning import CONFIG as UNLEARNING

FINAL_METRICS = ("val_acc", "forget_acc", "forget_clean_acc", "retain_acc", "loss", "wall_s")
CURVES = ("val_acc", "forget_acc")


@dataclass(frozen=True)
class SensitivityConfig:
    alpha: float = ALPHA
    steps: int = STEPS
    quick_steps: int = 10
    # one seed: each QNN group compiles two method steps and its evaluation (minutes on 2 cores); with
    # seeds 0 and 1 the tier took 5 min 57 s on an Intel Xeon, cold, its groups cut in two per seed
    quick_seeds: tuple[int, ...] = (0,)
    # the poisoned model is the unlearning suite's, quick tier included (same spec: shared file)
    quick_epoch_fraction: float = UNLEARNING.quick_epoch_fraction
    step_budget_s: float = UNLEARNING.step_budget_s


CONFIG = SensitivityConfig()

register_poisoned_scenarios("sensitivity", FINAL_METRICS, "unlearning-method hyperparameter grids")


def _scenarios(options: RunOptions) -> list[Scenario]:
    return select_poisoned_scenarios("sensitivity", options, CONFIG.quick_seeds)


def method_grids(options: RunOptions) -> list[tuple[str, dict[str, Any], dict[str, tuple]]]:
    """(method, fixed hyperparameters, checked grid) per method of the run; bad input -> QbenchError."""
    given = parse_grid_args(options.grid_args)
    methods = run_methods(options)
    if None in given and len(methods) != 1:
        raise QbenchError("--grid PARAM=... needs exactly one --method; with several, write --grid METHOD.PARAM=...")
    for m in given:
        if m is not None and m not in methods:
            raise QbenchError(f"--grid {m}.*: method {m!r} is not among the run's methods ({', '.join(methods)})")
    overrides = options.method_overrides
    defaults = QUICK_GRIDS if options.quick else DEFAULT_GRIDS
    out = []
    for name in methods:
        cls = method_class(name)  # unknown name or unimportable plugin: QbenchError
        grid = given.get(name) or (given.get(None) if len(methods) == 1 else None) or defaults.get(name)
        if grid is None:
            raise QbenchError(f"no default grid for method {name!r} (defaults: {', '.join(sorted(defaults))}); "
                              f"give one with --grid PARAM=start:stop:step")
        grid = check_grid(name, cls, grid)
        fixed = dict(overrides.get(name, {}))
        clash = sorted(set(fixed) & set(grid))
        if clash:
            raise QbenchError(f"{name}: {', '.join(clash)} given both by --set and --grid")
        out.append((name, fixed, grid))
    return out


def run_methods(options: RunOptions) -> tuple[str, ...]:
    """The methods of a sweep: ``--method``, else those named in ``--grid METHOD.PARAM``, else the default grids'."""
    if options.methods:
        return tuple(options.methods)
    named = [m for m in parse_grid_args(options.grid_args) if m is not None]
    return tuple(named) if named else tuple(DEFAULT_GRIDS)


def _defaults(cls) -> dict[str, Any] | None:
    try:
        return dataclasses.asdict(cls.Hyperparameters())
    except TypeError:  # a field without a default
        return None


def point_label(hp: dict[str, Any]) -> str:
    """'kl=bernoulli,lambda_ce=1,lambda_fo=0.2,lambda_kl=0.1': every hyperparameter, sorted by name."""
    return ",".join(f"{k}={v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k}={v}"
                    for k, v in sorted(hp.items()))


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    sweeps = method_grids(options)
    steps = options.steps or (CONFIG.quick_steps if options.quick else CONFIG.steps)
    units = []
    for s in scenarios:
        cfg = effective_train(s.train, options, CONFIG.quick_epoch_fraction)
        lr = options.settings_as(UnlearningSettings).lr or unlearning_lr(s.task)
        for alpha in s.alphas:
            for seed in s.seeds:
                spec = TrainSpec(s.task, s.model, s.options, s.corruption, float(alpha), int(seed), cfg, s.data_seed,
                                 task_options=task_options_for(s.task, options.task_options))
                for name, fixed, grid in sweeps:
                    cls = method_class(name)
                    for point in grid_points(grid):
                        method = get_method(name, **fixed, **point)  # validates values up front
                        config = {
                            **config_head(s, options),
                            "poisoned": spec.as_dict(), "method": name,
                            "method_hyperparameters": method.hyperparameters(), "method_defaults": _defaults(cls),
                            "method_source": method_source(name), "steps": steps, "lr": lr,
                            "optimizer": "adam (fresh)", "step_budget_s": CONFIG.step_budget_s,
                            "task": s.task, "model": s.model, "corruption": s.corruption, "alpha": float(alpha),
                            "seed": int(seed),
                        }
                        units.append(unit_from_config(config))
    return units


def unit_from_config(config: dict) -> Unit:
    """The unit of a sensitivity config (a plan's, a worker's or a stored record's)."""
    spec = TrainSpec.from_dict(config["poisoned"])
    hp = dict(config.get("method_hyperparameters") or {})
    get_method(config["method"], **hp)
    # the key depends on the config alone: every numeric value, by name
    short = "-".join(f"{k}{v:g}" for k, v in sorted(hp.items())
                     if isinstance(v, (int, float)) and not isinstance(v, bool)) or "default"
    key = unit_key(f"sensitivity-{spec.task}-{spec.model}-s{spec.seed}-{config['method']}-{short}", config)
    return model_unit(key, "sensitivity", config, spec.task, spec.model, config["poisoned"]["model_options"])


def swept_params(config: dict) -> tuple[str, ...]:
    """The hyperparameters a grid point moves away from the method's defaults, by name."""
    hp, defaults = config.get("method_hyperparameters") or {}, config.get("method_defaults") or {}
    return tuple(k for k in sorted(hp) if k in defaults and hp[k] != defaults[k])


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """Unlearn with the grid point of ``config``; one record at the final step, with the per-step curves."""
    start = time.perf_counter()
    unit, spec = unit_from_config(config), TrainSpec.from_dict(config["poisoned"])
    name, hp, swept = config["method"], dict(config["method_hyperparameters"]), swept_params(config)
    prepared, info, res = run_method(spec, ctx, out_dir, name, hp, config, curves=CURVES, keep_every=None)
    last = res.metrics[-1]
    metrics: dict[str, Any] = {k: last.get(k) for k in FINAL_METRICS}
    for c in CURVES:
        metrics[f"{c}_steps"] = [m[c] for m in res.metrics]
    metrics["val_acc_0"] = res.metrics[0]["val_acc"]
    metrics["first_step_s"] = res.compile_s
    metrics["unit_wall_s"] = time.perf_counter() - start
    record = new_record(
        suite="sensitivity", scenario=f"{config['scenario']}/{name}/{point_label(hp)}", unit_key=unit.key,
        config=config, task=spec.task, model=spec.model, model_size=prepared.model.size_label(),
        corruption=spec.corruption, alpha=spec.alpha, seed=spec.seed, method=name, step=len(res.metrics) - 1,
        metrics=metrics, status=res.status, error=res.error,
        grid={"params": list(swept), "point": {k: hp[k] for k in swept}},
        poisoned_model=info,
    )
    return [record]


register_suite(Suite(
    name="sensitivity", families=FAMILIES,
    title="Method sensitivity (PROTOCOL 4.7)", order=4, optional_heading=True,
    description="final val/forget accuracy over a grid of a method's hyperparameters (PROTOCOL 4.7)",
    scenarios=_scenarios,
    plan=_plan,
    unit_from_config=unit_from_config,
    run=run,
    free_config=METHOD_FIELDS + ("method_defaults",),  # the grid point is the method's hyperparameters
    settings=UnlearningSettings,
    flags=frozenset({"methods", "steps", "grid_args"}),
    methods=run_methods,
))

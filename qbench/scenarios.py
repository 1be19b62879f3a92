"""Registered benchmarks: named scenarios (fixed seeds, grids and metrics) grouped into suites.

This module holds the types and the registries; it imports no suite. Look suites up through
:mod:`qbench.suites` (``get_suite``, ``list_suites``, ``list_scenarios``), which registers the
built-in ones.

A scenario is one task x model x corruption with its alpha grid, seeds, training settings and
metrics; a suite knows how to turn scenarios into units of work (one trained model per alpha and
seed for ``resilience``) and how to run each unit from its config. Later suites join the same registries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from qbench.errors import QbenchError
from qbench.plugins import is_path
from qbench.protocol import ALPHAS, QUICK, SEEDS, TrainConfig, scenario_version
from qbench.registry import Registry


@dataclass(frozen=True)
class Scenario:
    name: str
    suite: str
    task: str
    model: str
    model_options: tuple[tuple[str, Any], ...]
    corruption: str
    alphas: tuple[float, ...] = ALPHAS
    seeds: tuple[int, ...] = SEEDS
    train: TrainConfig | None = None
    metrics: tuple[str, ...] = ()
    data_seed: int = 0
    description: str = ""

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_options)

    def with_overrides(self, **changes: Any) -> "Scenario":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class Unit:
    """One independent piece of work, as plain data: its suite runs it from ``config`` alone
    (``Suite.run``), in this process, in a worker or in ``qbench verify``; ``key`` is derived from
    ``config`` (``Suite.unit_from_config``)."""

    key: str
    suite: str
    scenario: str
    config: dict
    group: tuple = ()  # units sharing a group reuse compiled functions: run them together
    #: rough relative cost (the model's ``ModelInfo.relative_cost``): the executors' scheduling order
    cost: float = 1.0


@dataclass(frozen=True)
class RunOptions:
    """What the command line can change about a suite's registered scenarios."""

    tasks: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    corruptions: tuple[str, ...] | None = None
    alphas: tuple[float, ...] | None = None
    seeds: tuple[int, ...] | None = None
    epochs: int | None = None
    quick: bool = False
    #: ``--method``: the unlearning methods of the run (None: the suite's protocol methods)
    methods: tuple[str, ...] | None = None
    #: ``--steps``: unlearning steps (None: the suite's, or its quick tier's)
    steps: int | None = None
    #: ``--fraction``: known fractions of the poison (corrective; None: the suite's, or its quick tier's)
    fractions: tuple[float, ...] | None = None
    #: ``--models K``: models per kind (forgetting; None: the suite's, or its quick tier's)
    n_models: int | None = None
    #: ``--set METHOD.PARAM=VALUE``: hyperparameters by method name
    method_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``--set task.PARAM=VALUE``: task options (xxz: ``phase``), applied to each task that takes them
    task_options: Mapping[str, Any] = field(default_factory=dict)
    #: ``--grid [METHOD.]PARAM=SPEC`` as given (the sensitivity suite parses them)
    grid_args: tuple[str, ...] = ()
    #: ``--set SUITE.PARAM=VALUE``: an instance of the suite's ``settings`` type (None: its defaults)
    settings: Any = None

    def settings_as(self, cls: type) -> Any:
        """The run's suite settings, of type ``cls``: the given ones, or ``cls()`` (the protocol's)."""
        if self.settings is None:
            return cls()
        if not isinstance(self.settings, cls):
            raise QbenchError(f"settings {type(self.settings).__name__} given where {cls.__name__} is expected")
        return self.settings


@dataclass(frozen=True)
class NoSettings:
    """The settings of a suite that has none."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    scenarios: Callable[[RunOptions], list[Scenario]]
    plan: Callable[[list[Scenario], RunOptions], list[Unit]]
    #: the built-in task families whose protocol tasks (``TaskFamily.tasks``) the suite registers scenarios for
    #: (a plugin suite may name none: its scenarios choose their tasks)
    families: tuple[str, ...] = ()
    tasks_needed: Callable[[list[Scenario]], set[str]] = lambda scs: {s.task for s in scs}
    #: the unit a ``config`` describes (its key, scenario and group), checked: what every plan, worker and
    #: ``qbench verify`` builds units with
    unit_from_config: Callable[[dict], Unit] = None  # type: ignore[assignment]
    #: run the unit of ``config``: ``run(config, context, out_dir) -> records`` (one function for the serial,
    #: local and Dask executors and for ``qbench verify``)
    run: Callable[..., list[dict]] = None  # type: ignore[assignment]
    # top-level config fields a submission chooses freely (a method and its own hyperparameters);
    # every other field must equal what the registered scenario plans at protocol defaults
    free_config: tuple[str, ...] = ()
    #: the frozen dataclass of the suite's own settings (``--set SUITE.PARAM=VALUE``); defaults = the protocol
    settings: type = NoSettings
    #: which of the optional run flags the suite reads (a name of :data:`OPTIONAL_FLAGS`); any other is refused
    flags: frozenset[str] = frozenset()
    #: the unlearning methods a run of the suite uses (for ``--set METHOD.PARAM``); None: it runs no methods
    methods: Callable[[RunOptions], tuple[str, ...]] | None = None
    #: the leaderboard's heading of the suite
    title: str = ""
    #: place of the suite's section in the leaderboard (smaller first)
    order: int = 99
    #: whether ``qbench run --suite all`` runs it, and when (smaller ``run_order`` first)
    in_all: bool = False
    run_order: int = 99
    #: the leaderboard shows the suite's heading only when it has records (else "No records yet.")
    optional_heading: bool = False


#: run flags that only some suites read: RunOptions field -> the command line's spelling
OPTIONAL_FLAGS = {"corruptions": "--corruption", "methods": "--method", "steps": "--steps", "grid_args": "--grid",
                  "fractions": "--fraction", "n_models": "--models"}


def config_head(s: Scenario, options: RunOptions) -> dict[str, Any]:
    """The fields every unit config of scenario ``s`` starts with: its suite and name, the protocol version
    that last changed it (``protocol.scenario_version``) and whether the run is the quick tier."""
    return {"suite": s.suite, "scenario": s.name, "protocol_version": scenario_version(s.suite, s.task, s.model),
            "quick": options.quick}


def effective_train(train: TrainConfig, options: RunOptions, quick_fraction: float | None = None) -> TrainConfig:
    """The training recipe a run uses: the protocol's ``train``, scaled to the quick tier's share of
    its epochs (``quick_fraction``, default the tier's) with ``--quick``, then to ``--epochs``."""
    if options.quick:
        train = train.scaled(QUICK.epoch_fraction if quick_fraction is None else quick_fraction)
    if options.epochs is not None:
        train = train.scaled(options.epochs / train.epochs)
    return train


def frozen_options(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Model options as a hashable, sorted tuple (lists become tuples), as a Scenario stores them."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def model_unit(key: str, suite: str, config: dict, task: str, model: str, options: dict[str, Any]) -> Unit:
    """A unit of ``model`` on ``task``: grouped by model shape (a worker compiles each shape once) and
    weighted by the model's registered cost."""
    from qbench.models import model_info

    return Unit(key, suite, config["scenario"], config, group=(task, model, frozen_options(options)),
                cost=model_info(model).relative_cost)


def _check_suite(obj: object, name: str, where: str) -> Suite:
    if not isinstance(obj, Suite) or obj.run is None or obj.unit_from_config is None:
        raise QbenchError(f"{where} is not a qbench.scenarios.Suite with run and unit_from_config")
    if not is_path(name) and obj.name != name:
        raise QbenchError(f"{where}: its name {obj.name!r} is not its entry point's ({name!r}); records, workers and "
                          "reports find a suite by its name")
    if obj.name in SUITE_REGISTRY.builtins():
        raise QbenchError(f"{where}: its name {obj.name!r} clashes with the built-in suite {obj.name!r}; rename it")
    return obj


SCENARIOS: dict[str, Scenario] = {}
#: suites: the built-in ones (:mod:`qbench.suites` registers them), installed plugins (entry points of
#: ``qbench.suites``, named as the suite is) and ``module:attribute`` names
SUITE_REGISTRY: Registry[Suite] = Registry("suites", "suite", check=_check_suite, own_name=lambda s: s.name)
#: the built-in suites by name
SUITES: dict[str, Suite] = SUITE_REGISTRY.builtins()


def register_scenario(scenario: Scenario) -> Scenario:
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} registered twice")
    from qbench.metrics.registry import check_metrics

    check_metrics(scenario.metrics, f"scenario {scenario.name!r}")
    SCENARIOS[scenario.name] = scenario
    return scenario


def register_suite(suite: Suite) -> Suite:
    """Register a built-in suite under its name."""
    return SUITE_REGISTRY.add(suite.name, suite)


def registered_scenarios(suite: str | None = None) -> list[Scenario]:
    """The scenarios registered so far (of ``suite``); :func:`qbench.suites.list_scenarios` loads the
    built-in suites first."""
    return [s for s in SCENARIOS.values() if suite is None or s.suite == suite]


def select(scenarios: Iterable[Scenario], options: RunOptions) -> list[Scenario]:
    """Scenarios matching the options' task/model/corruption filters, with alpha/seed overrides."""
    out = []
    for s in scenarios:
        if options.models and s.model not in options.models:
            continue
        if options.corruptions and s.corruption not in options.corruptions:
            continue
        out.append(s.with_overrides(alphas=options.alphas, seeds=options.seeds))
    return out


def covering(scenarios: Sequence[Scenario], options: RunOptions,
             make: Callable[[str, str], list[Scenario]] | None = None) -> list[Scenario]:
    """The scenarios on the run's tasks and models (``--task``, ``--model``; by default the registered ones but
    the control models'):
    per task and model, the registered scenarios of the task's family and that model, retargeted to the task
    (e.g. xxz-6 for xxz-12 in tests), or ``make(task, model)``'s where none is registered (a task or model
    from outside the package)."""
    from qbench.protocol import control_models, task_family

    # a control model's scenarios (PROTOCOL 2.4) run only where --model names it
    default = [s for s in scenarios if s.model not in control_models()]
    if not options.tasks and not options.models:
        return default
    tasks = options.tasks or tuple(dict.fromkeys(s.task for s in scenarios))
    known = tuple(dict.fromkeys(s.model for s in default))
    models = [m for m in known if not options.models or m in options.models]
    models += [m for m in options.models or () if m not in known]
    out = []
    for task in tasks:
        found: list[Scenario] = []
        for model in models:
            same = [s for s in scenarios if s.model == model and task_family(s.task) == task_family(task)]
            found += [replace(s, task=task, name=s.name.replace(s.task, task)) for s in same] or (
                make(task, model) if make is not None else [])
        if not found:
            raise QbenchError(f"no {scenarios[0].suite if scenarios else ''} scenario for task {task!r}")
        out += found
    return out

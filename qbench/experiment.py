"""The shared machinery of every suite: load a task, corrupt it, build a model, train it.

Resilience, capacity, unlearning and landscape all start from "a model trained per PROTOCOL 2.3 on
a (possibly) corrupted training set"; this module is the one place that does it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qbench.corruption import Corrupted, check_alpha, corrupt
from qbench.errors import QbenchError
from qbench.protocol import TrainConfig
from qbench.seeding import int_seed, rng
from qbench.tasks import check_task_options, default_task_options, get_task, legacy_task_options
from qbench.tasks.base import TaskData

if TYPE_CHECKING:  # models and training import TensorFlow: only when a model is built
    from qbench.models import BinaryModel
    from qbench.training import TrainResult


@dataclass(frozen=True)
class RunContext:
    """Where data and caches live, and run-time limits; not part of any result's identity."""

    data_dir: str | None = None
    cache_dir: str | None = None
    #: ``--step-budget``: seconds an unlearning step may take; None: the unit config's ``step_budget_s``
    step_budget_s: float | None = None


@functools.lru_cache(maxsize=8)
def load_task(name: str, data_seed: int = 0, data_dir: str | None = None, cache_dir: str | None = None,
              options: tuple[tuple[str, Any], ...] = ()) -> TaskData:
    """Task ``name``; ``options`` (sorted (key, value) pairs) are its protocol options, e.g. (('phase', 'fixed'),)."""
    return get_task(name, data_seed=data_seed, data_dir=data_dir, cache_dir=cache_dir, **dict(options))


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines one trained model, as plain data."""

    task: str
    model: str
    model_options: dict[str, Any]
    corruption: str
    alpha: float
    seed: int
    train: TrainConfig
    data_seed: int = 0
    #: train on a stratified fraction of the training set, split per seed; the rest is held out
    #: (``landscape-study``). None: the whole training set (the protocol).
    train_split: float | None = None
    #: the task's options (xxz: ``phase``); None: the protocol's defaults, given ones override them
    task_options: dict[str, Any] | None = None
    #: the seed of the corrupted subset; None: ``seed`` (PROTOCOL 2.3). The forgetting suite (4.9) fixes it, so
    #: that its models differ in initialization and batch order only
    corruption_seed: int | None = None

    def __post_init__(self) -> None:
        merged = {**default_task_options(self.task), **check_task_options(self.task, self.task_options or {})}
        object.__setattr__(self, "task_options", merged)

    def as_dict(self) -> dict[str, Any]:
        d = {
            "task": self.task, "data_seed": self.data_seed, "model": self.model,
            "model_options": _plain(self.model_options), "corruption": self.corruption,
            "alpha": self.alpha, "seed": self.seed, "train": _plain(self.train.__dict__),
        }
        if self.train_split is not None:  # only when set: the protocol's configs (and hashes) stay as they were
            d["train_split"] = self.train_split
        if self.task_options:  # likewise: tasks without options (mnist) keep their protocol-1 configs
            d["task_options"] = dict(sorted(self.task_options.items()))
        if self.corruption_seed is not None:
            d["corruption_seed"] = self.corruption_seed
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainSpec":
        """The inverse of :meth:`as_dict`. A config without ``task_options`` was written under protocol 1,
        whose xxz states had the fixed (canonical) phase: that is what it is rebuilt with."""
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in d["model_options"].items()}
        split, corruption_seed = d.get("train_split"), d.get("corruption_seed")
        task_options = d["task_options"] if "task_options" in d else legacy_task_options(d["task"])
        return cls(d["task"], d["model"], options, d["corruption"], float(d["alpha"]), int(d["seed"]),
                   TrainConfig(**d["train"]), int(d.get("data_seed", 0)), None if split is None else float(split),
                   dict(task_options), None if corruption_seed is None else int(corruption_seed))

    def load_task(self, ctx: "RunContext") -> TaskData:
        return load_task(self.task, self.data_seed, ctx.data_dir, ctx.cache_dir, tuple(sorted(self.task_options.items())))


def task_options_for(task: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """The options of ``given`` (``--set task.PARAM=VALUE``) that ``task`` takes; a run over several tasks
    applies each option where it exists (phase to xxz, not to mnist)."""
    known = default_task_options(task)
    return check_task_options(task, {k: v for k, v in (given or {}).items() if k in known})


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclass
class Prepared:
    """A task's corrupted training set, encoded for a built (untrained) model."""

    spec: TrainSpec
    task: TaskData
    model: BinaryModel
    corrupted: Corrupted
    x_train: np.ndarray  # model input of the training set as trained (corrupted)
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_heldout: np.ndarray | None = None  # the held-out part of a split training set (clean labels)
    y_heldout: np.ndarray | None = None


@dataclass
class Trained(Prepared):
    """A model trained on a corrupted training set, with the encoded data it saw."""

    params: np.ndarray = None  # type: ignore[assignment]
    result: TrainResult | None = None

    def train_acc(self) -> float:
        from qbench.metrics.accuracy import accuracy

        return accuracy(self.model, self.params, self.x_train, self.y_train)

    def val_acc(self) -> float:
        from qbench.metrics.accuracy import accuracy

        return accuracy(self.model, self.params, self.x_val, self.y_val)


def build_model(task: TaskData, name: str, options: dict[str, Any]) -> BinaryModel:
    from qbench.models import get_model

    model = get_model(name, **options)
    probe = task.encode(task.x_train[:1], model.input_encoding)
    return model.build(probe.shape[1], complex_input=np.iscomplexobj(probe))


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices: ``round(fraction * n_c)`` of each class kept, drawn from ``seed``."""
    if not 0.0 < fraction < 1.0:
        raise QbenchError(f"train_split must lie in (0, 1), got {fraction}")
    g = rng(seed, "split")
    kept = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        kept.append(g.choice(members, int(round(fraction * len(members))), replace=False))
    keep = np.sort(np.concatenate(kept))
    return keep, np.setdiff1d(np.arange(len(y)), keep)


def prepare(spec: TrainSpec, ctx: RunContext) -> Prepared:
    """Load the task, corrupt its training set per ``spec`` and build the model for it."""
    check_alpha(spec.alpha)
    task = spec.load_task(ctx)
    # a model with random outputs (the QNN's device noise) draws them from the unit's noise stream
    model = build_model(task, spec.model, spec.model_options).seed_noise(int_seed(spec.seed, "noise"))
    x_raw, y_raw, x_held, y_held, rows = task.x_train, task.y_train, None, None, None
    if spec.train_split is not None:
        keep, held = stratified_split(task.y_train, spec.train_split, spec.seed)
        x_raw, y_raw, rows = task.x_train[keep], task.y_train[keep], keep
        x_held, y_held = task.encode_train(task.x_train[held], model.input_encoding, held), task.y_train[held]
    corrupted = corrupt(x_raw, y_raw, spec.corruption, spec.alpha,
                        spec.seed if spec.corruption_seed is None else spec.corruption_seed)
    # a replaced (feature-randomized) row keeps its index's phase: a random state times a phase is random
    x_train = task.encode_train(corrupted.x, model.input_encoding, rows)
    x_val = task.encode_val(task.x_val, model.input_encoding)
    return Prepared(spec, task, model, corrupted, x_train, corrupted.y, x_val, task.y_val, x_held, y_held)


def train_prepared(p: Prepared) -> Trained:
    """Train a prepared model from its seed's initialization (PROTOCOL 2.3)."""
    from qbench.training import train

    spec = p.spec
    theta0 = p.model.init_params(int_seed(spec.seed, "init"))
    result = train(p.model, p.x_train, p.y_train, spec.train, rng(spec.seed, "order"), theta0)
    return Trained(**p.__dict__, params=result.params, result=result)


def train_corrupted(spec: TrainSpec, ctx: RunContext) -> Trained:
    """Corrupt, build, and train from the seed's initialization (PROTOCOL 2.3)."""
    return train_prepared(prepare(spec, ctx))

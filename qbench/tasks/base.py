"""The task API: a task is a pure function of (its config, the data seed) returning a TaskData."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from qbench.errors import QbenchError
from qbench.recipe import TrainConfig
from qbench.registry import Registry

ENCODINGS = ("amplitude", "real")


@dataclass(frozen=True)
class TaskData:
    """Training and validation sets of one binary task.

    ``x_*`` hold the canonical representation: unit-norm amplitude vectors of length 2**n_qubits,
    float32 (real tasks such as MNIST) or complex64 (XXZ ground states). Labels are int64 in {0, 1}.
    ``phase_*`` (complex unit numbers, one per sample, or None) are global phases that belong to the
    data but not to the canonical vectors: an observable-only model (the QNN) cannot see them, a model
    of the raw amplitudes (the MLP's [Re, Im]) can. Models ask for their input through :meth:`encode`.
    """

    name: str
    n_qubits: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    info: dict
    phase_train: np.ndarray | None = None
    phase_val: np.ndarray | None = None

    @property
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.x_train)

    def encode(self, x: np.ndarray, encoding: str, phase: np.ndarray | None = None) -> np.ndarray:
        """Model input for amplitude vectors ``x``: 'amplitude' as is, 'real' as [Re, Im] for complex data.

        ``phase`` (one complex unit number per row of ``x``, or None) multiplies the rows in the 'real'
        encoding only. The 'amplitude' encoding drops it on purpose: a global phase cannot change an
        expectation value, so the QNN reads the canonical vectors, and its inputs (hence its numbers)
        are bit-identical whichever phase rule the task uses.
        """
        if encoding == "amplitude":
            return x
        if encoding == "real":
            if phase is not None:
                if len(phase) != len(x):
                    raise QbenchError(f"{len(phase)} phases for {len(x)} samples")
                x = x.astype(np.complex128) * np.asarray(phase, dtype=np.complex128)[:, None]
            if np.iscomplexobj(x):
                return np.concatenate([x.real, x.imag], axis=1).astype(np.float32)
            return x.astype(np.float32)
        raise QbenchError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")

    def encode_train(self, x: np.ndarray, encoding: str, rows: np.ndarray | None = None) -> np.ndarray:
        """:meth:`encode` for (possibly corrupted) training rows ``rows`` (default all), with their phases."""
        phase = self.phase_train if rows is None or self.phase_train is None else self.phase_train[rows]
        return self.encode(x, encoding, phase)

    def encode_val(self, x: np.ndarray, encoding: str) -> np.ndarray:
        """:meth:`encode` for the validation set, with its phases."""
        return self.encode(x, encoding, self.phase_val)


TaskLoader = Callable[..., TaskData]
_TASKS: dict[str, TaskLoader] = {}


def register_task(name: str) -> Callable[[TaskLoader], TaskLoader]:
    """Register a task loader ``f(data_seed=0, **options) -> TaskData`` under ``name``."""

    def deco(f: TaskLoader) -> TaskLoader:
        if name in _TASKS:
            raise ValueError(f"task {name!r} registered twice")
        _TASKS[name] = f
        return f

    return deco


@dataclass(frozen=True)
class TaskFamily:
    """Everything the protocol says about one family of tasks, registered once in the task's own module
    (:func:`register_family`), or named from outside the package (``--task module:attribute``, the
    entry-point group ``qbench.tasks``). A task name ``<family>-...`` (``xxz-6``) belongs to its family.
    Which suites run a family's tasks is the suites' to say (``Suite.families``), not the family's."""

    #: the family: ``xxz`` for xxz-12, xxz-6, ...
    name: str
    #: the task names of the family: the protocol's tasks of a built-in family; a plugin's tasks, each
    #: named so (``--task tfim-8``) when its entry point is the family's (``tfim``) or the task's own name
    tasks: tuple[str, ...]
    #: the training recipe per model name (PROTOCOL 2.3); a model may register its own for the family instead
    train: Mapping[str, TrainConfig] = field(default_factory=dict)
    #: the model's constructor options per model name (its protocol size)
    model_size: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: per protocol task, (amplitudes per sample, whether complex): the input ``qbench list models`` counts
    #: each model's parameters on, without loading the data
    input_shapes: Mapping[str, tuple[int, bool]] = field(default_factory=dict)
    #: the unlearning suites' learning rate (PROTOCOL 4.2)
    unlearning_lr: float = 0.01
    #: ``f(data_seed=0, **options) -> TaskData`` of a task named from outside the package (the built-in
    #: tasks register their loaders with :func:`register_task`)
    loader: TaskLoader | None = None
    description: str = ""


def _check_family(obj: object, name: str, where: str) -> TaskFamily:
    """A plugin's family: a TaskFamily with a loader whose name is not a built-in family's."""
    if not isinstance(obj, TaskFamily) or obj.loader is None:
        raise QbenchError(f"task {name!r} is not a qbench.tasks.TaskFamily with a loader")
    if obj.name in FAMILIES.builtins():
        raise QbenchError(f"task {name!r}: its family {obj.name!r} clashes with the built-in task family "
                          f"{obj.name!r}; rename it")
    return obj


#: task families: the built-in ones by family name, plugins by entry-point name (``qbench.tasks``), or
#: 'module:attribute'; an entry-point name may not be a built-in task's either
FAMILIES: Registry[TaskFamily] = Registry("tasks", "task", check=_check_family, reserved=lambda: _TASKS)


def register_family(family: TaskFamily) -> TaskFamily:
    """Register a built-in task family (its protocol facts) under ``family.name``."""
    return FAMILIES.add(family.name, family)

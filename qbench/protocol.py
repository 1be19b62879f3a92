"""The protocol's numbers in one place (PROTOCOL sections 2 and 2.3); everything else reads them here.

What belongs to one task family or model (training recipe and size per model, unlearning learning rate)
is registered with the task (``qbench.tasks.TaskFamily``) or the model (``qbench.models.ModelInfo``);
which families a suite runs, with the suite (``qbench.scenarios.Suite.families``). The lookups here
read those registrations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qbench.recipe import TrainConfig  # noqa: F401  (the protocol's name for it)

SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
ALPHAS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


def task_family(task: str) -> str:
    """'mnist-1v9' -> 'mnist', 'xxz-12' -> 'xxz' (small test sizes share their family's settings); a task
    named as 'module:attribute' or by an entry point -> the family it registers."""
    from qbench.tasks import family_name

    return family_name(task)


#: The protocol document's version (``docs/protocol.md``).
PROTOCOL_VERSION = "3"
#: Where a protocol version changed a scenario's definition: (suite or "*", task family, model or "*") ->
#: version. Version 2 gave the xxz states a random global phase (1.2): only a model of the raw
#: amplitudes (the MLP's [Re, Im]) sees it; the QNN reads the canonical states, so its scenarios are
#: unchanged and keep their protocol-1 records. Version 2 also added the oracle, membership inference,
#: gap_to_oracle and five reference methods to the unlearning suite (4.2), and the corrective suite (4.8).
CHANGED_IN: dict[tuple[str, str, str], str] = {
    ("*", "xxz", "mlp"): "2",
    ("unlearning", "*", "*"): "2",
    ("corrective", "*", "*"): "2",
    # protocol 3 added the control models (2.4)
    ("*", "*", "qnn-product"): "3",
    ("*", "*", "mlp-matched"): "3",
    ("*", "*", "linear"): "3",
    # protocol 3 added the forgetting suite (4.9)
    ("forgetting", "*", "*"): "3",
    # and the noise suite (4.10)
    ("noise", "*", "*"): "3",
}


def scenario_version(suite: str, task: str, model: str) -> str:
    """The protocol version that last changed the definition of (suite, task, model): what its records carry."""
    return family_version(suite, task_family(task), model)


def family_version(suite: str, family: str | None, model: str) -> str:
    """:func:`scenario_version` for a task of ``family`` (None: a family the protocol does not name)."""
    version = "1"
    for (s, fam, m), v in CHANGED_IN.items():
        if s in ("*", suite) and fam in ("*", family) and m in ("*", model):
            version = max(version, v, key=int)
    return version


def train_config(task: str, model: str) -> TrainConfig:
    """The training recipe of ``model`` on ``task`` (PROTOCOL 2.3): the task's registration, else the model's."""
    return _model_fact(task, model, "train")


def model_size(task: str, model: str) -> dict[str, Any]:
    """The protocol's size of ``model`` on ``task`` (its constructor options): the task's registration, else the model's."""
    return dict(_model_fact(task, model, "model_size"))


def _model_fact(task: str, model: str, fact: str) -> Any:
    from qbench.errors import QbenchError
    from qbench.models import model_info
    from qbench.tasks import task_info

    family, info = task_info(task), model_info(model)
    value = getattr(family, fact).get(model, getattr(info, fact).get(family.name))
    if value is None and fact == "train" and info.recipe_of:
        return _model_fact(task, info.recipe_of, fact)
    if value is None:
        what = {"train": "training recipe", "model_size": "model size"}[fact]
        raise QbenchError(f"no {what} for model {model!r} on task {task!r}: neither task family "
                          f"{family.name!r} nor the model registers one")
    return value


def parameter_count(task: str, model: str) -> int | None:
    """Trainable parameters of ``model`` at the protocol's size (:func:`model_size`) on the protocol task ``task``,
    from the registrations (nothing is built); None where the model declares no count or the task no input shape."""
    from qbench.models import model_info
    from qbench.tasks import task_info

    info, shape = model_info(model), task_info(task).input_shapes.get(task)
    return info.count(model_size(task, model), *shape) if info.count and shape else None


def unlearning_lr(task: str) -> float:
    """The unlearning learning rate of ``task``'s family (PROTOCOL 4.2)."""
    from qbench.tasks import task_info

    return task_info(task).unlearning_lr


def family_tasks(families: tuple[str, ...]) -> tuple[str, ...]:
    """The protocol tasks of the built-in task ``families`` (a suite's ``families``), in registration order."""
    from qbench.tasks import task_families

    unknown = set(families) - {f.name for f in task_families()}
    if unknown:
        raise ValueError(f"no built-in task family {', '.join(sorted(unknown))}")
    return tuple(t for f in task_families() if f.name in families for t in f.tasks)


def protocol_models() -> tuple[str, ...]:
    """The built-in models suites plan by default, in registration order: not the controls (PROTOCOL 2.4),
    which a run names (``--model linear``)."""
    from qbench.models import registered_models

    return registered_models(controls=False)


def control_models() -> tuple[str, ...]:
    """The control models of PROTOCOL 2.4, in registration order: registered scenarios of their own, planned
    only where a run names them."""
    from qbench.models import registered_models

    return tuple(m for m in registered_models() if m not in protocol_models())


@dataclass(frozen=True)
class QuickTier:
    """The ``--quick`` tier: same code path, fewer epochs, seeds and alphas."""

    epoch_fraction: float = 0.1
    seeds: tuple[int, ...] = (0, 1)
    alphas: tuple[float, ...] = (0.0, 0.3, 0.6)


QUICK = QuickTier()

"""The protocol's numbers in one place (PROTOCOL sections 2 and 2.3); everything else reads them here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
ALPHAS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


@dataclass(frozen=True)
class TrainConfig:
    """Adam on mean binary cross-entropy with shuffled fixed-size mini-batches."""

    epochs: int
    batch_size: int
    lr: float
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7  # Keras' Adam default (the study trains with Keras/TF optimizers)

    def scaled(self, epoch_fraction: float) -> "TrainConfig":
        return replace(self, epochs=max(1, int(round(self.epochs * epoch_fraction))))


def task_family(task: str) -> str:
    """'mnist-1v9' -> 'mnist', 'xxz-12' -> 'xxz' (small test sizes share their family's settings)."""
    return task.split("-", 1)[0]


TRAIN: dict[tuple[str, str], TrainConfig] = {
    ("xxz", "mlp"): TrainConfig(epochs=400, batch_size=32, lr=0.01),
    ("xxz", "qnn"): TrainConfig(epochs=200, batch_size=32, lr=0.03),
    ("mnist", "mlp"): TrainConfig(epochs=100, batch_size=128, lr=0.01),
    ("mnist", "qnn"): TrainConfig(epochs=100, batch_size=256, lr=0.005),
}

MODEL_SIZE: dict[tuple[str, str], dict[str, Any]] = {
    ("xxz", "mlp"): {"hidden": (64, 16)},
    ("xxz", "qnn"): {"depth": 4},
    ("mnist", "mlp"): {"hidden": (16, 4)},
    ("mnist", "qnn"): {"depth": 6},
}


#: The protocol document's version (``docs/protocol.md``).
PROTOCOL_VERSION = "2"
#: Where a protocol version changed a scenario's definition: (suite or "*", task family, model or "*") ->
#: version. Version 2 gave the xxz states a random global phase (1.2): only a model of the raw
#: amplitudes (the MLP's [Re, Im]) sees it; the QNN reads the canonical states, so its scenarios are
#: unchanged and keep their protocol-1 records.
CHANGED_IN: dict[tuple[str, str, str], str] = {
    ("*", "xxz", "mlp"): "2",
}


def scenario_version(suite: str, task: str, model: str) -> str:
    """The protocol version that last changed the definition of (suite, task, model): what its records carry."""
    version = "1"
    for (s, fam, m), v in CHANGED_IN.items():
        if s in ("*", suite) and fam == task_family(task) and m in ("*", model):
            version = max(version, v, key=int)
    return version


def train_config(task: str, model: str) -> TrainConfig:
    return TRAIN[(task_family(task), model)]


def model_size(task: str, model: str) -> dict[str, Any]:
    return dict(MODEL_SIZE[(task_family(task), model)])


@dataclass(frozen=True)
class QuickTier:
    """The ``--quick`` tier: same code path, fewer epochs, seeds and alphas."""

    epoch_fraction: float = 0.1
    seeds: tuple[int, ...] = (0, 1)
    alphas: tuple[float, ...] = (0.0, 0.3, 0.6)


QUICK = QuickTier()

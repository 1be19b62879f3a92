"""A training recipe (PROTOCOL 2.3), as plain data: what a task registers per model and every trainer reads.

A leaf module (it imports nothing of qbench) so that tasks and models can declare recipes while
:mod:`qbench.protocol` reads their registrations; ``qbench.protocol.TrainConfig`` is the same class."""

from __future__ import annotations

from dataclasses import dataclass, replace


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

"""Accuracy of a sigmoid output: from its logits (numpy only), or of a model at given parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qbench.models.base import BinaryModel


def agreement(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples where sigmoid(logit) > 0.5 agrees with y (NaN for an empty set)."""
    if len(y) == 0:
        return float("nan")
    return float(np.mean((np.asarray(logits) > 0) == (np.asarray(y) == 1)))


def accuracy(model: "BinaryModel", theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``model`` at parameters ``theta`` on (x, y)."""
    from qbench.training.trainer import predict_logits  # deferred: the leaderboard imports this module without TF

    return agreement(predict_logits(model, theta, x), y)

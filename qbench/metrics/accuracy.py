"""Accuracy of a sigmoid output from its logits (numpy only)."""

from __future__ import annotations

import numpy as np


def agreement(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples where sigmoid(logit) > 0.5 agrees with y (NaN for an empty set)."""
    if len(y) == 0:
        return float("nan")
    return float(np.mean((np.asarray(logits) > 0) == (np.asarray(y) == 1)))

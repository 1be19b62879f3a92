"""Label flipping: y -> 1 - y on the chosen samples."""

import numpy as np

from qbench.corruption import register_corruption


@register_corruption("label_flip")
def label_flip(x: np.ndarray, y: np.ndarray, idx: np.ndarray, generator: np.random.Generator):
    y[idx] = 1 - y[idx]
    return x, y

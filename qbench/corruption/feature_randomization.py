"""Feature randomization: the chosen feature vectors become random unit vectors, labels kept."""

import numpy as np

from qbench.corruption import register_corruption


@register_corruption("feature_randomization")
def feature_randomization(x: np.ndarray, y: np.ndarray, idx: np.ndarray, generator: np.random.Generator):
    shape = (len(idx), x.shape[1])
    if np.iscomplexobj(x):
        noise = generator.standard_normal(shape) + 1j * generator.standard_normal(shape)
    else:
        noise = generator.standard_normal(shape)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x[idx] = noise.astype(x.dtype)
    return x, y

"""``salun``: saliency unlearning (Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based
Weight Saliency in Both Image Classification and Generation", ICLR 2024).

At the start, the saliency of each parameter is |d CE(forget set) / d theta| at the starting
parameters; the mask keeps the ``mask_ratio`` fraction with the largest saliency (the paper's hard
threshold; its experiments use half, the ``0.5`` of ``generate_mask.py``'s threshold list in
github.com/OPTML-Group/Unlearn-Saliency). Then the random-labels objective (:mod:`.random_labels`,
SalUn's RL) updates only the masked parameters; the others stay exactly at their starting value (the
reference multiplies the gradients by the mask and restores the frozen weights after each step).

Adapted to qbench: one sigmoid output (CE = binary cross-entropy on the polluted labels, a mean over
the forget set); the gradient is one full-batch gradient (the reference sums per-batch gradients,
which ranks the parameters the same way up to the batches' weighting); ties in |grad| go to the
lower parameter index; ``round``-down of ``mask_ratio * n_params`` entries, as the reference's
``int(len * ratio)``. The random labels come from this method's own seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qbench.methods import register_method
from qbench.methods.base import MASK_KEY, mean_bce
from qbench.methods.random_labels import RandomLabels


@dataclass(frozen=True)
class SalunHyperparameters:
    mask_ratio: float = 0.5  # fraction of the parameters (largest |grad CE(forget)|) that unlearning updates


def saliency_mask(grad: np.ndarray, ratio: float) -> np.ndarray:
    """0/1 mask of the ``int(ratio * n)`` entries of largest |grad| (ties: lower index first)."""
    g = np.abs(np.asarray(grad, dtype=np.float64))
    k = int(len(g) * float(ratio))
    mask = np.zeros(len(g), np.float32)
    mask[np.argsort(-g, kind="stable")[:k]] = 1.0
    return mask


@register_method("salun", order=7)
class Salun(RandomLabels):
    Hyperparameters = SalunHyperparameters

    def setup(self, logits_fn, theta0, data, hp, context):
        import tensorflow as tf  # here, not at the top: listing methods must not start TensorFlow

        if not 0.0 <= float(hp["mask_ratio"]) <= 1.0:
            raise ValueError(f"salun: mask_ratio must be in [0, 1], got {float(hp['mask_ratio'])}")
        theta = tf.identity(theta0)
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = mean_bce(logits_fn(theta, data["x_forget"]), data["y_forget"])
        grad = tape.gradient(loss, theta).numpy()
        return {**super().setup(logits_fn, theta0, data, hp, context),
                MASK_KEY: saliency_mask(grad, float(hp["mask_ratio"]))}

"""``random_labels``: relabel the forget set at random and train on it with the retain set.

    loss = CE(forget set, random labels) + CE(retain)

The "random labels" baseline of Golatkar et al. (CVPR 2020) as SalUn's "RL" (Fan et al., ICLR 2024;
github.com/OPTML-Group/Unlearn-Saliency, ``Classification/unlearn/RL.py``). The reference, for
CIFAR-10, draws a uniform class for every forget sample (``torch.randint(0, num_classes, ...)``),
takes SGD steps on the forget set with those labels, then on the retain set, every epoch. Adapted to
qbench: one sigmoid output, so a label is 0 or 1 with probability 1/2; one full-batch step holds both
terms, each a mean over its set (PROTOCOL 4.2); the labels are drawn once, in ``setup``, from the
method's seed (the run seed and the method name), so a run is a function of its seed alone. The
method has no hyperparameters of its own (the reference's are its learning rate and epochs, which
here are the suite's).
"""

from __future__ import annotations

import numpy as np

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms

#: the data key of the forget set's random labels (float32 in {0, 1})
RANDOM_LABELS = "random_labels"


def draw_random_labels(seed: int, n: int) -> np.ndarray:
    """``n`` labels in {0, 1}, each with probability 1/2, from ``seed``."""
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.float32)


@register_method("random_labels", order=6)
class RandomLabels(WeightedTerms):
    def setup(self, logits_fn, theta0, data, hp, context):
        return {RANDOM_LABELS: draw_random_labels(context.seed, int(data["x_forget"].shape[0]))}

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights

        return Terms(Weights(ce_retain=1.0, ce_forget=1.0), forget_labels=RANDOM_LABELS)

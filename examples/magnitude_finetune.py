"""A complete third-party unlearning method for qbench that prepares state before the first step.

Magnitude-masked finetuning: at the start, keep the fraction ``keep`` of the parameters with the
largest magnitude |theta0|; then finetune on the retain set while ascending a little on the forget
set, updating only those parameters (the others stay exactly at their poisoned values).

    loss = CE(retain) - forget_weight * CE(polluted forget set),  on the kept parameters only

``setup`` runs once, before the first step, and returns named tensors: the entry ``MASK_KEY``
restricts the update to the parameters marked 1; any other entry would reach ``objective`` in
``data`` under its name.

Run it without installing anything (this file's directory on PYTHONPATH):

    PYTHONPATH=examples qbench run --suite unlearning --method magnitude_finetune:MagnitudeFinetune --quick
    PYTHONPATH=examples qbench check method magnitude_finetune:MagnitudeFinetune

or register it through the entry-point group ``qbench.unlearning_methods`` in your package's
pyproject.toml:

    [project.entry-points."qbench.unlearning_methods"]
    magnitude_finetune = "magnitude_finetune:MagnitudeFinetune"
"""

from dataclasses import dataclass

import numpy as np

from qbench.methods import MASK_KEY, UnlearningMethod, mean_bce


@dataclass(frozen=True)
class MagnitudeFinetuneHyperparameters:
    keep: float = 0.25  # fraction of the parameters (largest |theta0|) that the steps update
    forget_weight: float = 0.1  # weight of the ascent on the forget set


class MagnitudeFinetune(UnlearningMethod):
    name = "magnitude_finetune"
    Hyperparameters = MagnitudeFinetuneHyperparameters

    def setup(self, logits_fn, theta0, data, hp, context):
        # deterministic: no randomness (any would have to come from context.seed); ties go to the lower index
        size = np.abs(theta0.numpy())
        mask = np.zeros(len(size), np.float32)
        mask[np.argsort(-size, kind="stable")[: int(len(size) * float(hp["keep"]))]] = 1.0
        return {MASK_KEY: mask}

    def objective(self, logits_fn, theta, data, hp, step):
        retain = mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])
        forget = mean_bce(logits_fn(theta, data["x_forget"]), data["y_forget"])
        return retain - hp["forget_weight"] * forget

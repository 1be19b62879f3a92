"""A complete third-party unlearning method for qbench: NegGrad+ (Kurmanji et al., 2023).

    loss = beta * CE(retain) - (1 - beta) * CE(polluted forget set)

Run it without installing anything (this file's directory on PYTHONPATH):

    PYTHONPATH=examples qbench run --suite unlearning --method neg_grad_plus:NegGradPlus --quick

or register it through the entry-point group ``qbench.unlearning_methods`` in your package's
pyproject.toml:

    [project.entry-points."qbench.unlearning_methods"]
    neg_grad_plus = "neg_grad_plus:NegGradPlus"
"""

from dataclasses import dataclass

from qbench.methods import UnlearningMethod, mean_bce


@dataclass(frozen=True)
class NegGradPlusHyperparameters:
    beta: float = 0.9  # weight of the retain term; 1 - beta goes to the ascent on the forget set


class NegGradPlus(UnlearningMethod):
    name = "neg_grad_plus"
    Hyperparameters = NegGradPlusHyperparameters

    def objective(self, logits_fn, theta, data, hp, step):
        retain = mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])
        forget = mean_bce(logits_fn(theta, data["x_forget"]), data["y_forget"])
        return hp["beta"] * retain - (1.0 - hp["beta"]) * forget

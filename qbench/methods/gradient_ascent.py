"""``gradient_ascent``: CE(retain) - beta * CE(polluted forget set), PROTOCOL 4.2."""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import UnlearningMethod, mean_bce


@dataclass(frozen=True)
class GradientAscentHyperparameters:
    beta: float = 0.2


@register_method("gradient_ascent", order=2)
class GradientAscent(UnlearningMethod):
    Hyperparameters = GradientAscentHyperparameters

    def objective(self, logits_fn, theta, data, hp, step):
        retain = mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])
        forget = mean_bce(logits_fn(theta, data["x_forget"]), data["y_forget"])
        return retain - hp["beta"] * forget

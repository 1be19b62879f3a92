"""``gradient_ascent``: CE(retain) - beta * CE(polluted forget set), PROTOCOL 4.2."""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms


@dataclass(frozen=True)
class GradientAscentHyperparameters:
    beta: float = 0.2


@register_method("gradient_ascent", order=2)
class GradientAscent(WeightedTerms):
    Hyperparameters = GradientAscentHyperparameters

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights, f32

        return Terms(Weights(ce_retain=1.0, ce_forget=-f32(self.hp.beta)))

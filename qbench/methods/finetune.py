"""``finetune``: the poisoned model trained further on the retain set."""

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms


@register_method("finetune", order=1)
class Finetune(WeightedTerms):
    def terms(self):
        from qbench.training.generic_objective import Terms, Weights

        return Terms(Weights(ce_retain=1.0))

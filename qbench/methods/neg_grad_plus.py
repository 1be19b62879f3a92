"""``neg_grad_plus``: NegGrad+ (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023).

    loss = beta * CE(retain) - (1 - beta) * CE(polluted forget set)

Descent on the retain set and ascent on the forget set in one weighted objective. The reference code
(github.com/meghdadk/SCRUB, ``negative_grad``) computes ``alpha * r_loss - (1 - alpha) * del_loss``
with each CE a mean over its batch, which is PROTOCOL 4.2's mean-loss convention already; its
default weight ``alpha = 0.999`` is ``beta`` here. With one sigmoid output, CE is the binary
cross-entropy; nothing else changes.
"""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms


@dataclass(frozen=True)
class NegGradPlusHyperparameters:
    beta: float = 0.999  # weight of the retain term; 1 - beta weights the ascent on the forget set


@register_method("neg_grad_plus", order=5)
class NegGradPlus(WeightedTerms):
    Hyperparameters = NegGradPlusHyperparameters

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights, f32

        beta = f32(self.hp.beta)
        return Terms(Weights(ce_retain=beta, ce_forget=-(1.0 - beta)))

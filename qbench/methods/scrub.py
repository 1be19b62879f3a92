"""``scrub``: the protocol's single weighted objective per step (PROTOCOL 4.2)

lambda_ce * CE(retain) + lambda_kl * KL(teacher || student on retain) - lambda_fo * KL(teacher || student on forget),
with the frozen poisoned model as teacher. ``kl='bernoulli'`` (qbench default) or ``'study'`` (the
study's code: only the p_t log(p_t/p_s) term).
"""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms


@dataclass(frozen=True)
class ScrubHyperparameters:
    lambda_ce: float = 1.0
    lambda_kl: float = 0.0
    lambda_fo: float = 0.2
    kl: str = "bernoulli"


@register_method("scrub", order=3)
class Scrub(WeightedTerms):
    Hyperparameters = ScrubHyperparameters

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights, f32

        hp = self.hp
        return Terms(Weights(ce_retain=hp.lambda_ce, kl_retain=hp.lambda_kl, kl_forget=-f32(hp.lambda_fo)),
                     kl_form=hp.kl)

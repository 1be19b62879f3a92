"""``scrub``: the protocol's single weighted objective per step (PROTOCOL 4.2)

lambda_ce * CE(retain) + lambda_kl * KL(teacher || student on retain) - lambda_fo * KL(teacher || student on forget),
with the frozen poisoned model as teacher. ``kl='bernoulli'`` (qbench default) or ``'study'`` (the
study's code: only the p_t log(p_t/p_s) term).
"""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import UnlearningMethod, bernoulli_kl, mean_bce


@dataclass(frozen=True)
class ScrubHyperparameters:
    lambda_ce: float = 1.0
    lambda_kl: float = 0.0
    lambda_fo: float = 0.2
    kl: str = "bernoulli"


@register_method("scrub", order=3)
class Scrub(UnlearningMethod):
    Hyperparameters = ScrubHyperparameters

    def objective(self, logits_fn, theta, data, hp, step):
        s_retain = logits_fn(theta, data["x_retain"])
        s_forget = logits_fn(theta, data["x_forget"])
        form = self.hp.kl
        return (
            hp["lambda_ce"] * mean_bce(s_retain, data["y_retain"])
            + hp["lambda_kl"] * bernoulli_kl(data["teacher_retain"], s_retain, form)
            - hp["lambda_fo"] * bernoulli_kl(data["teacher_forget"], s_forget, form)
        )

"""``scrub_alternating``: SCRUB in its original form (Kurmanji et al., NeurIPS 2023).

Max-steps on the forget set (raise KL(teacher || student)) alternate with min-steps on the retain
set (gamma * CE + alpha * KL), for the first ``msteps`` rounds; after that only min-steps. One qbench
step is one optimizer update, so steps 0, 2, ..., 2*msteps - 2 are max-steps and every other step is
a min-step. The KL is between temperature-softened Bernoulli outputs, sigmoid(logit / T), scaled by
T^2 as in the reference code's DistillKL.

While the student is still the teacher (step 0), the max-step's gradient is zero in exact
arithmetic, and Adam's first update, about lr * g / (|g| + eps) per parameter, turns whatever
rounding residue g carries into a step of up to lr. With the precomputed ``teacher_forget`` (logits
from another graph: chunked, padded evaluation) and autodiff through the log-sigmoids, that residue
decided the first step: a change in the last bit of the poisoned model moved val_acc by 0.002 and the
committed mnist-1v9 MLP records did not re-run. So while the parameters equal the teacher's, the
teacher's logits are the student's own, and the KL's gradient is taken in its closed form,
sigmoid(s) - sigmoid(t): g is exactly zero and so is the update.
"""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms


@dataclass(frozen=True)
class ScrubAlternatingHyperparameters:
    gamma: float = 0.99
    alpha: float = 0.001
    temperature: float = 4.0
    msteps: int = 5


@register_method("scrub_alternating", order=4)
class ScrubAlternating(WeightedTerms):
    Hyperparameters = ScrubAlternatingHyperparameters

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights

        hp = self.hp
        # min-steps: gamma * CE + alpha * KL on the retain set; the alternate (max) steps: -KL on the forget set
        return Terms(Weights(ce_retain=hp.gamma, kl_retain=hp.alpha), temperature=hp.temperature,
                     kl_closed_form=True, teacher_is_student_while_unchanged=True,
                     alternate=Weights(kl_forget=-1.0), alternate_rounds=hp.msteps)

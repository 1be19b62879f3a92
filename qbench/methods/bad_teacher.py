"""``bad_teacher``: unlearning with a competent and an incompetent teacher (Chundawat et al., "Can Bad
Teaching Induce Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI 2023).

    loss = KL(competent || student on retain) + KL(incompetent || student on forget)

The competent teacher is the frozen poisoned model; the incompetent one a fresh random initialization
of the same model, drawn in ``setup`` from the method's seed (the run seed and the method name). Both
KLs are between temperature-softened outputs, sigmoid(logit / T), with the Bernoulli KL of
:func:`qbench.methods.base.bernoulli_kl`.

Reference: github.com/vikram2000b/bad-teaching-unlearning, ``unlearn.py``: ``KL_temperature = 1``
(our ``temperature``), KL(teacher || student) of softmax outputs, no T^2 factor, Adam. Adapted to
qbench: one sigmoid output (the two-class softmax is the Bernoulli); the reference mixes forget and
retain samples in its batches, so each term's weight is its set's share of the batch; PROTOCOL 4.2
takes each term as a mean over its own set, so the two terms weigh the same. The reference also uses
a 30% subset of the retain set; qbench uses all of it (the protocol's full batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms

#: the data key of the incompetent teacher's logits on the forget set
INCOMPETENT_FORGET = "incompetent_forget"


@dataclass(frozen=True)
class BadTeacherHyperparameters:
    temperature: float = 1.0  # both KLs compare sigmoid(logit / temperature)


@register_method("bad_teacher", order=9)
class BadTeacher(WeightedTerms):
    Hyperparameters = BadTeacherHyperparameters

    def setup(self, logits_fn, theta0, data, hp, context):
        import tensorflow as tf  # here, not at the top: listing methods must not start TensorFlow

        incompetent = tf.constant(context.init_params(context.seed), tf.float32)
        return {INCOMPETENT_FORGET: logits_fn(incompetent, data["x_forget"])}

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights

        return Terms(Weights(kl_retain=1.0, kl_forget=1.0), temperature=self.hp.temperature,
                     forget_teacher=INCOMPETENT_FORGET)

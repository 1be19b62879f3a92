"""``scrub_alternating``: SCRUB in its original form (Kurmanji et al., NeurIPS 2023).

Max-steps on the forget set (raise KL(teacher || student)) alternate with min-steps on the retain
set (gamma * CE + alpha * KL), for the first ``msteps`` rounds; after that only min-steps. One qbench
step is one optimizer update, so steps 0, 2, ..., 2*msteps - 2 are max-steps and every other step is
a min-step. The KL is between temperature-softened Bernoulli outputs, sigmoid(logit / T), scaled by
T^2 as in the reference code's DistillKL. Defaults follow the reference code (gamma 0.99, alpha
0.001, kd_T 4) with msteps = 5 chosen by qbench for 50 full-batch steps.
"""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import UnlearningMethod, bernoulli_kl, mean_bce


@dataclass(frozen=True)
class ScrubAlternatingHyperparameters:
    gamma: float = 0.99
    alpha: float = 0.001
    temperature: float = 4.0
    msteps: int = 5


def _distill_kl(teacher_logits, student_logits, temperature):
    return bernoulli_kl(teacher_logits / temperature, student_logits / temperature) * temperature**2


@register_method("scrub_alternating")
class ScrubAlternating(UnlearningMethod):
    Hyperparameters = ScrubAlternatingHyperparameters

    def objective(self, logits_fn, theta, data, hp, step):
        import tensorflow as tf  # here, not at the top: listing methods must not start TensorFlow

        t = hp["temperature"]
        is_max = tf.logical_and(tf.cast(step, tf.float32) < 2.0 * hp["msteps"], step % 2 == 0)

        def max_step():
            return -_distill_kl(data["teacher_forget"], logits_fn(theta, data["x_forget"]), t)

        def min_step():
            s_retain = logits_fn(theta, data["x_retain"])
            return hp["gamma"] * mean_bce(s_retain, data["y_retain"]) + hp["alpha"] * _distill_kl(
                data["teacher_retain"], s_retain, t
            )

        return tf.cond(is_max, max_step, min_step)

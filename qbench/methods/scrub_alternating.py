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
from qbench.methods.base import UnlearningMethod, bernoulli_kl, mean_bce


@dataclass(frozen=True)
class ScrubAlternatingHyperparameters:
    gamma: float = 0.99
    alpha: float = 0.001
    temperature: float = 4.0
    msteps: int = 5


def _distill_kl(teacher_logits, student_logits, temperature):
    """T^2 * KL(teacher || student), with its gradient taken as its closed form."""
    import tensorflow as tf  # here, not at the top: listing methods must not start TensorFlow
    t, s = teacher_logits / temperature, student_logits / temperature
    # d KL / d s = sigmoid(s) - sigmoid(t) per sample: exactly zero where s == t, unlike autodiff
    # through the log-sigmoids, whose terms round differently and leave a residue
    slope = tf.stop_gradient(tf.sigmoid(s) - tf.sigmoid(t))
    surrogate = tf.reduce_mean(slope * s)
    return (tf.stop_gradient(bernoulli_kl(t, s)) + (surrogate - tf.stop_gradient(surrogate))) * temperature**2


@register_method("scrub_alternating", order=4)
class ScrubAlternating(UnlearningMethod):
    Hyperparameters = ScrubAlternatingHyperparameters

    def objective(self, logits_fn, theta, data, hp, step):
        import tensorflow as tf  # here, not at the top: listing methods must not start TensorFlow

        t = hp["temperature"]
        is_max = tf.logical_and(tf.cast(step, tf.float32) < 2.0 * hp["msteps"], step % 2 == 0)

        def max_step():
            student = logits_fn(theta, data["x_forget"])
            # the student is still the teacher (step 0): its own logits are the teacher's, bit for bit
            same = tf.reduce_all(tf.equal(theta, data["teacher_theta"]))
            teacher = tf.cond(same, lambda: tf.stop_gradient(student), lambda: data["teacher_forget"])
            return -_distill_kl(teacher, student, t)

        def min_step():
            s_retain = logits_fn(theta, data["x_retain"])
            return hp["gamma"] * mean_bce(s_retain, data["y_retain"]) + hp["alpha"] * _distill_kl(
                data["teacher_retain"], s_retain, t
            )

        return tf.cond(is_max, max_step, min_step)

"""The built-in unlearning objectives as one function of data, so that one compiled step serves them all.

Every built-in method's loss is a weighted sum of the same five terms over two fixed forward passes,
s_r = logits(theta, x_retain) and s_f = logits(theta, x_forget):

    loss = w_ce_r * CE(s_r, y_retain) + w_kl_r * KL_T(teacher_retain || s_r)
         + w_ce_f * CE(s_f, forget_labels) + w_kl_f * KL_T(forget_teacher || s_f)
         + w_l1 * (1 - t / steps) * ||theta||_1

summed in that order (a method's nonzero terms keep the order of its published formula, so the
numbers are those of the method written out by hand). A method declares its :class:`Terms` (weights,
temperature, KL form, which tensors are the forget set's labels and teacher, an alternation of two
sets of weights) and they reach the step as tensors: a run of every built-in method traces and
compiles one step per model and data shape, not one per method. A weight of 0 leaves a term's value
and gradient out exactly (0 * finite is 0; x + 0 is x), at the price of computing it; a weight of 1,
a temperature of 1 and a KL coefficient of 1 are exact too.

TensorFlow is imported inside the functions: methods declare their terms without starting it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

    from qbench.models.base import BinaryModel

#: the KL forms: both Bernoulli terms (qbench's default), or only p_t log(p_t / p_s) (the study's code)
KL_FORMS = {"bernoulli": 1.0, "study": 0.0}


def f32(value: float) -> np.float32:
    """A hyperparameter as float32, so that a weight derived from it (``1 - beta``) is rounded as the
    same arithmetic in a TensorFlow graph would round it."""
    return np.float32(value)


@dataclass(frozen=True)
class Weights:
    """The weight of each term (0: left out)."""

    ce_retain: float = 0.0
    kl_retain: float = 0.0
    ce_forget: float = 0.0
    kl_forget: float = 0.0
    l1: float = 0.0  # at step t of T the L1 weight is l1 * (1 - t / T)


WEIGHT_NAMES = tuple(f.name for f in dataclasses.fields(Weights))


@dataclass(frozen=True)
class Terms:
    """A built-in method's objective as data.

    ``forget_labels`` and ``forget_teacher`` name tensors of the loop's data (``y_forget``,
    ``teacher_forget``) or of the method's ``setup`` (random labels, another teacher's logits).
    ``kl_closed_form``: the KLs are distillation losses, T^2 * KL, whose gradient is taken in its closed
    form sigmoid(s / T) - sigmoid(t / T) (exactly zero where the student is the teacher).
    ``teacher_is_student_while_unchanged``: while the parameters equal the teacher's, the forget KL's
    teacher is the student's own logits (so the KL and, in closed form, its gradient are exactly 0).
    ``alternate``, ``alternate_rounds``: steps 0, 2, ..., 2 * rounds - 2 use the ``alternate`` weights.
    """

    weights: Weights
    temperature: float = 1.0
    kl_form: str = "bernoulli"
    kl_closed_form: bool = False
    teacher_is_student_while_unchanged: bool = False
    forget_labels: str = "y_forget"
    forget_teacher: str = "teacher_forget"
    alternate: Weights | None = None
    alternate_rounds: float = 0.0

    def __post_init__(self) -> None:
        if self.kl_form not in KL_FORMS:
            raise ValueError(f"kl form must be 'bernoulli' or 'study', got {self.kl_form!r}")

    def coefficients(self) -> dict[str, np.float32]:
        """The scalars the compiled step reads (its tensor inputs besides the data)."""
        alt = self.alternate or Weights()
        out = {k: f32(getattr(self.weights, k)) for k in WEIGHT_NAMES}
        out.update({f"alternate_{k}": f32(getattr(alt, k)) for k in WEIGHT_NAMES})
        out.update(alternate_rounds=f32(self.alternate_rounds if self.alternate else 0.0),
                   temperature=f32(self.temperature), kl_second_term=f32(KL_FORMS[self.kl_form]),
                   kl_closed_form=f32(self.kl_closed_form),
                   teacher_is_student_while_unchanged=f32(self.teacher_is_student_while_unchanged))
        return out


def step_inputs(terms: Terms, data: Mapping[str, Any], mask: Any, n_params: int) -> dict[str, Any]:
    """The compiled step's inputs for ``terms``: the same structure for every method (no retrace)."""
    import tensorflow as tf

    for key in (terms.forget_labels, terms.forget_teacher):
        if key not in data:
            raise ValueError(f"the objective's terms name {key!r}, which neither the loop nor setup provides")
    return {
        "x_retain": data["x_retain"], "y_retain": data["y_retain"], "x_forget": data["x_forget"],
        "teacher_retain": data["teacher_retain"], "teacher_theta": data["teacher_theta"],
        "total_steps": data["total_steps"],
        "forget_labels": tf.convert_to_tensor(data[terms.forget_labels], tf.float32),
        "forget_teacher": tf.convert_to_tensor(data[terms.forget_teacher], tf.float32),
        "update_mask": tf.ones([n_params], tf.float32) if mask is None else mask,
        "coef": {k: tf.constant(v, tf.float32) for k, v in terms.coefficients().items()},
    }


def mean_bce(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy of labels y under sigmoid(logits)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, logits.dtype), logits=logits))


def bernoulli_kl(teacher_logits: tf.Tensor, student_logits: tf.Tensor, second_term: Any = 1.0) -> tf.Tensor:
    """Mean over samples of KL(teacher || student) between Bernoulli outputs, from logits (log-sigmoids,
    so saturated outputs stay finite): p_t log(p_t/p_s) + second_term * (1-p_t) log((1-p_t)/(1-p_s))."""
    import tensorflow as tf

    p_t = tf.sigmoid(teacher_logits)
    log_pt, log_1mpt = tf.math.log_sigmoid(teacher_logits), tf.math.log_sigmoid(-teacher_logits)
    log_ps, log_1mps = tf.math.log_sigmoid(student_logits), tf.math.log_sigmoid(-student_logits)
    kl = p_t * (log_pt - log_ps)
    kl = kl + (second_term * (1.0 - p_t)) * (log_1mpt - log_1mps)
    return tf.reduce_mean(kl)


def distill_kl(teacher_logits: tf.Tensor, student_logits: tf.Tensor, temperature: Any,
               second_term: Any = 1.0) -> tf.Tensor:
    """T^2 * KL(teacher || student) of temperature-softened outputs, its gradient taken in closed form."""
    import tensorflow as tf

    t, s = teacher_logits / temperature, student_logits / temperature
    # d KL / d s = sigmoid(s) - sigmoid(t) per sample: exactly zero where s == t, unlike autodiff
    # through the log-sigmoids, whose terms round differently and leave a residue
    slope = tf.stop_gradient(tf.sigmoid(s) - tf.sigmoid(t))
    surrogate = tf.reduce_mean(slope * s)
    value = tf.stop_gradient(bernoulli_kl(t, s, second_term))
    return (value + (surrogate - tf.stop_gradient(surrogate))) * temperature**2


def _kl(teacher: tf.Tensor, student: tf.Tensor, c: Mapping[str, tf.Tensor]) -> tf.Tensor:
    import tensorflow as tf

    temperature, second = c["temperature"], c["kl_second_term"]
    closed = distill_kl(teacher, student, temperature, second)
    plain = bernoulli_kl(teacher / temperature, student / temperature, second)
    return tf.where(c["kl_closed_form"] > 0, closed, plain)


def generic_loss(logits_fn: Callable, theta: tf.Tensor, inputs: Mapping[str, Any], step: tf.Tensor) -> tf.Tensor:
    """The weighted sum of the module docstring at unlearning step ``step`` (an int32 tensor)."""
    import tensorflow as tf

    c = inputs["coef"]
    alternate = tf.logical_and(tf.cast(step, tf.float32) < 2.0 * c["alternate_rounds"], step % 2 == 0)
    w = {k: tf.where(alternate, c[f"alternate_{k}"], c[k]) for k in WEIGHT_NAMES}
    s_retain = logits_fn(theta, inputs["x_retain"])
    s_forget = logits_fn(theta, inputs["x_forget"])
    unchanged = tf.logical_and(c["teacher_is_student_while_unchanged"] > 0,
                               tf.reduce_all(tf.equal(theta, inputs["teacher_theta"])))
    forget_teacher = tf.where(unchanged, tf.stop_gradient(s_forget), inputs["forget_teacher"])
    frac = tf.cast(step, tf.float32) / tf.cast(inputs["total_steps"], tf.float32)
    loss = w["ce_retain"] * mean_bce(s_retain, inputs["y_retain"])
    loss = loss + w["kl_retain"] * _kl(inputs["teacher_retain"], s_retain, c)
    loss = loss + w["ce_forget"] * mean_bce(s_forget, inputs["forget_labels"])
    loss = loss + w["kl_forget"] * _kl(forget_teacher, s_forget, c)
    return loss + (w["l1"] * (1.0 - frac)) * tf.reduce_sum(tf.abs(theta))


def _step_factory(model: BinaryModel) -> Callable:
    import tensorflow as tf

    from qbench.training import compiled
    from qbench.training.adam import adam_update

    noisy_fn = model.noisy_logits_fn(training=True) if model.noisy else None

    @tf.function(jit_compile=compiled.use_xla(model), reduce_retracing=False)
    def generic_step(theta, m, v, t, inputs, step, lr, adam, *key):
        # a noisy model (PROTOCOL 2.1) draws its noise from ``key``, a tensor: one trace for every step
        logits_fn = model.logits_fn if noisy_fn is None else compiled.keyed(noisy_fn, key[0])
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = generic_loss(logits_fn, theta, inputs, step)
        grad = tape.gradient(loss, theta)
        # a zero gradient keeps Adam's moments at zero, so a frozen entry moves by exactly 0
        grad = tf.where(inputs["update_mask"] > 0, grad, tf.zeros_like(grad))
        theta, m, v, t = adam_update(theta, grad, m, v, t, lr, adam)
        return theta, m, v, t, loss

    return generic_step


def step_fn(model: BinaryModel) -> Callable:
    """The one compiled step of every built-in method for ``model``'s shape:
    ``(theta, m, v, t, inputs, step, lr, adam[, key]) -> (theta, m, v, t, loss)``, ``inputs`` from
    :func:`step_inputs`; ``key`` (a noisy model's draw, PROTOCOL 2.1) only for a noisy model."""
    from qbench.training import compiled

    return compiled.cached(model, "unlearn:generic", _step_factory, store=True)

"""``retrain``: a fresh random initialization trained on the retain set (the exact-unlearning reference)."""

from qbench.methods import register_method
from qbench.methods.base import UnlearningMethod, mean_bce


@register_method("retrain")
class Retrain(UnlearningMethod):
    from_scratch = True

    def objective(self, logits_fn, theta, data, hp, step):
        return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])

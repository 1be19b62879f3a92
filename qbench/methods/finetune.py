"""``finetune``: the poisoned model trained further on the retain set."""

from qbench.methods import register_method
from qbench.methods.base import UnlearningMethod, mean_bce


@register_method("finetune", order=1)
class Finetune(UnlearningMethod):
    def objective(self, logits_fn, theta, data, hp, step):
        return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])

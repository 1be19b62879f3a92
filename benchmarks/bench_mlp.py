"""MLP training step and forward pass at the protocol's shapes."""

from .common import MLP_SHAPES, TrainStep, labels, unit_vectors


class MLPStep:
    params = ["mnist", "xxz"]
    param_names = ["shape"]
    timeout = 300

    def setup(self, shape):
        from qbench.models import get_model

        d, hidden, batch = MLP_SHAPES[shape]
        model = get_model("mlp", hidden=hidden).build(d)
        self.step = TrainStep(model, unit_vectors(batch, d, False), labels(batch))
        self.step()

    def time_train_step(self, shape):
        self.step()

    def peakmem_train_step(self, shape):
        self.step()

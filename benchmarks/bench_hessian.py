"""Exact Hessian trace of the mean BCE on the protocol's 100 samples (MNIST shapes)."""

from .common import labels, unit_vectors


class HessianTrace:
    params = ["mlp", "qnn"]
    param_names = ["model"]
    timeout = 1200
    number = 1
    repeat = (1, 3, 120.0)

    def setup(self, model):
        from qbench.metrics.hessian import hessian_trace_exact
        from qbench.models import get_model

        self.model = (get_model("mlp", hidden=(16, 4)) if model == "mlp" else get_model("qnn", depth=6)).build(1024)
        self.theta = self.model.init_params(0)
        self.x, self.y = unit_vectors(100, 1024, False), labels(100)
        self.trace = hessian_trace_exact
        self.trace(self.model, self.theta, self.x, self.y)  # compile outside the timing

    def time_exact_trace(self, model):
        self.trace(self.model, self.theta, self.x, self.y)

"""One unlearning step of each of the paper's methods (compiled, full batch) at the protocol's shapes: all of them
run on the one step built-in methods share, so the methods differ only by their weights."""

from .common import labels, unit_vectors

METHODS = ["retrain", "finetune", "gradient_ascent", "scrub", "scrub_alternating"]
# (model, options, input dim, complex input, retain size, forget size) at alpha 0.3
CASES = {
    "mnist-mlp": ("mlp", {"hidden": (16, 4)}, 1024, False, 350, 150),
    "mnist-qnn": ("qnn", {"depth": 6}, 1024, False, 350, 150),
    "xxz-qnn": ("qnn", {"depth": 4}, 4096, True, 139, 58),
}


class UnlearningStep:
    params = [list(CASES), METHODS]
    param_names = ["case", "method"]
    timeout = 900

    def setup(self, case, method):
        import tensorflow as tf

        from qbench.methods import get_method
        from qbench.models import get_model
        from qbench.training import generic_objective

        name, opts, d, c, n_r, n_f = CASES[case]
        self.model = get_model(name, **opts).build(d, complex_input=c)
        self.method = get_method(method)
        # every built-in method runs on the one shared step (its weights are inputs)
        self.fn = generic_objective.step_fn(self.model)
        theta = tf.constant(self.model.init_params(0))
        cast = tf.complex64 if c else tf.float32
        data = {
            "x_retain": tf.constant(unit_vectors(n_r, d, c), cast), "y_retain": tf.constant(labels(n_r), tf.float32),
            "x_forget": tf.constant(unit_vectors(n_f, d, c, 2), cast), "y_forget": tf.constant(labels(n_f, 3), tf.float32),
            "teacher_retain": tf.zeros(n_r), "teacher_forget": tf.zeros(n_f), "teacher_theta": theta,
            "total_steps": tf.constant(50)}
        inputs = generic_objective.step_inputs(self.method.terms(), data, None, self.model.n_params)
        self.args = [theta, tf.zeros_like(theta), tf.zeros_like(theta), tf.constant(0.0), inputs,
                     tf.constant(1), tf.constant(0.001), tf.constant([0.9, 0.999, 1e-7])]
        self.fn(*self.args)[0].numpy()

    def time_step(self, case, method):
        self.fn(*self.args)[0].numpy()

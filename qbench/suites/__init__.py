"""Built-in suites; importing this package registers them."""

from qbench.suites import capacity, landscape, resilience, sensitivity, unlearning  # noqa: F401

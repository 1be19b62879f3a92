"""Built-in suites; importing this package registers them."""

from qbench.suites import resilience, unlearning  # noqa: F401

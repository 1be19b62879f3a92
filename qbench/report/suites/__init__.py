"""Each suite's report in one module, its leaderboard tables and its figures side by side: importing this
package registers them (:mod:`qbench.report.registry`), in the order ``qbench plot`` draws them."""

from qbench.report.suites import (  # noqa: F401  (registers them)
    capacity,
    controls,  # after the suites: it reads the resilience and unlearning records
    corrective,
    forgetting,
    landscape,
    noise,
    resilience,
    sensitivity,
    unlearning,
)

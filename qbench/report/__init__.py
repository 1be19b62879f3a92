"""Reporting from records only: the leaderboard (markdown tables) and figures. Reading records never runs
code: nothing a record names is imported.

Each suite's tables and figures are one module of :mod:`qbench.report.suites`; what they share is
:mod:`qbench.report.common` (grouping, order, Markdown) and :mod:`qbench.report.plotting`.
``verify``, which re-runs units, is :mod:`qbench.verify`; data views (t-SNE) are :mod:`qbench.views`."""

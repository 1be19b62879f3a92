"""Reporting from records only: the leaderboard (markdown tables) and figures.

``verify``, which re-runs units, is :mod:`qbench.verify`; data views (t-SNE) are :mod:`qbench.views`."""

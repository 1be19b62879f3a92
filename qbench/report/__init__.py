"""Reporting from records only: the leaderboard (markdown tables), figures, and ``verify`` (re-runs)."""

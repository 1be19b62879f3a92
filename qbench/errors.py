"""User-facing errors: the CLI prints their message as one line and exits with status 2."""


class QbenchError(Exception):
    """Bad input from the user (unknown name, bad value, missing data, malformed file)."""


class DataError(QbenchError):
    """Task data missing, unreadable or not what it claims to be."""

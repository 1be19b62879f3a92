"""Temporary files for atomic writes (write whole, then rename into place)."""

from __future__ import annotations

import os
import secrets

_ATTEMPTS = 100


def new_temp_file(directory: str | os.PathLike, prefix: str = "", suffix: str = "") -> tuple[int, str]:
    """Create and open a new, uniquely named file in ``directory``: ``(fd, path)``, open for writing.

    Unlike ``tempfile.mkstemp``, which creates 0600 files, the file gets mode 0666 less the umask,
    like any file the user creates: renamed into place, records, leaderboards and caches keep the
    user's default permissions (readable by a group sharing a results tree, for one)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        path = os.path.join(os.fspath(directory), f"{prefix}{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(path, flags, 0o666), path  # the kernel applies the umask
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary file name in {directory} after {_ATTEMPTS} attempts")

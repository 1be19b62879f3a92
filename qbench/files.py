"""Atomic writes: a file is replaced whole or not at all (:func:`atomic_write`, the one place qbench
writes a file that readers may see), and the temporary files they write first."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable

from qbench.errors import QbenchError

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


class WriteError(QbenchError):
    """A file could not be written (a full disk, a file-size limit, a read-only or unwritable
    directory): one line naming the path; nothing was left half-written."""


def write_error(path: str | os.PathLike, exc: OSError) -> WriteError:
    return WriteError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], *, prefix: str | None = None,
                 exclusive: bool = False) -> bool:
    """Write ``path`` whole or not at all: ``write(fh)`` fills a new temporary file in the same directory
    (created if missing), which is flushed, fsynced and renamed over ``path``. ``exclusive``: publish
    only if ``path`` does not exist (a hard link, so that concurrent writers cannot both win); False
    if it did. The temporary file never outlives the call, whatever happens; an ``OSError`` becomes a
    :class:`WriteError` naming ``path``. ``prefix``: the temporary file's (default ``.<name>.``)."""
    final = Path(path)
    tmp = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = new_temp_file(final.parent, prefix=f".{final.name}." if prefix is None else prefix, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            if not _publish_new(tmp, final):
                return False
        else:
            os.replace(tmp, final)
        _fsync_dir(final.parent)
        return True
    except OSError as exc:
        raise write_error(final, exc) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _publish_new(tmp: str, final: Path) -> bool:
    """Give ``tmp``'s content the name ``final`` only if no file has that name: True if done."""
    try:
        os.link(tmp, final)  # atomic; fails if final exists, so concurrent writers cannot both win
        return True
    except FileExistsError:
        return False
    except OSError as exc:  # a filesystem without hard links: check, then rename (a tiny race)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if final.exists():
            return False
        os.replace(tmp, final)
        return True


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (a crash of the machine, not only of the process)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

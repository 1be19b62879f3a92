"""Keeping TensorFlow's start-up chatter off the terminal, so that qbench's own output (and its
one-line errors) stand alone; ``qbench --verbose`` shows everything.

TensorFlow 2.21 writes its native log lines (oneDNN and CUDA notes, an error-level ``cuInit`` line on
machines without a GPU, XLA service lines) from C++ straight to file descriptor 2, and the lines logged
before absl's initialization ignore ``TF_CPP_MIN_LOG_LEVEL``. So, besides that variable, the
command-line program points descriptor 2 at a pipe whose reader drops lines in TensorFlow's and absl's
log formats and passes every other line on; Python's ``sys.stderr`` writes to the real stderr directly,
so it stays a terminal for the progress bar and its lines keep their order. Worker processes inherit
the pipe, so their native lines are filtered too and their Python errors still show.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

#: a native log line: absl's "I0000 00:00:1796212762.232166    3949 port.cc:153] ...", absl's banner, the
#: second line of the CPU-feature note, and Python-logged TensorFlow/absl lines of worker processes
NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
    rb"|(?:DEBUG|INFO|WARNING):(?:tensorflow|absl):)"
)

_INSTALLED = False


def quiet_python_logs() -> None:
    """TensorFlow's native log level (read when TensorFlow starts) and its Python loggers' to errors."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def filter_native_stderr() -> None:
    """Route file descriptor 2 through a filter that drops native log lines (idempotent).

    For the program only: it replaces ``sys.stderr`` and descriptor 2 of the whole process.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    _start_resource_tracker()
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(real, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                      errors="backslashreplace", closefd=False)
    reader = threading.Thread(target=_forward, args=(read_end, real), name="qbench-stderr-filter", daemon=True)
    reader.start()

    def close() -> None:
        # descriptor 2 to /dev/null, not back to the terminal: chatter at interpreter shutdown stays hidden;
        # closing our end of the pipe lets the reader drain what is left and stop
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        reader.join(timeout=2.0)

    atexit.register(close)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker while descriptor 2 is still the real stderr.

    Started later (by the first process pool), it would inherit the pipe's write end and keep it open
    until this process ends, so the reader would never see the end of the pipe and every command that
    used a pool would wait out the reader's join timeout (2 s) at exit.
    """
    if os.name != "posix":
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def _forward(read_end: int, real: int) -> None:
    pending = b""
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line))
        if kept:
            _write_all(real, kept)
    if pending and not NATIVE_LOG_LINE.match(pending):
        _write_all(real, pending)
    os.close(read_end)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]

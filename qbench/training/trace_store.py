"""Traced compiled functions kept on disk, so that a later process runs the stored graph instead of
tracing it again, under a name that keeps XLA's persistent cache key stable.

Why. With XLA's persistent cache warm, a fresh process's first QNN training step was mostly tracing:
Python building the graph of the step and its gradient (1-2 s at the protocol's shapes on a 2-core
machine). And TensorFlow names a traced function ``__inference_<name>_<n>``, ``n`` a process-wide
counter, and the persistent cache's key includes that name: the same step traced after a different
number of other functions in the process missed the cache and compiled again (measured at the XXZ
shape: 8.5 s instead of 3.4 s).

How. Each traced input signature's graph (its ``FunctionDef``, the one TensorFlow would run) is
registered in the eager context under a name made from its content (the graph and its captured values)
and called by that name, and is written with the values of the tensors it captures to
``<XLA cache dir>/traced/<key>.npz``. A later process with the same key loads that file instead of
tracing. The key covers everything the graph is made from: the function's name, the model's shape key,
the input signature, the source of the whole ``qbench`` package and the versions of the packages it
traces through; an edit of qbench traces again, but where the graph came out the same, its name, and so
its executable in XLA's cache, are the same. The stored graph is the traced one node for node (less the
ids of custom gradients, which only differentiating it again would read), so XLA compiles the same
computation and the numbers are the same (tested).

Only qbench's own functions of qbench's own models are stored (a plugin's code is not in the key);
anything the store cannot handle (a Python value among the arguments, a call inside another trace, a
captured variable, nested functions) runs the ``tf.function`` as before. The files are local cache:
never committed, rebuilt when missing or unreadable.
"""

from __future__ import annotations

import hashlib
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import function_pb2
from tensorflow.python.eager import context
from tensorflow.python.framework import op_def_registry

#: bump when the file layout changes
FORMAT = 2
_PACKAGES = ("tensorflow", "keras", "numpy", "tensorcircuit-ng")
_LOCK = threading.Lock()
_SOURCE: list[str] = []
#: a registered graph: (its name, its captured tensors, its number of outputs, one output not in a tuple)
Entry = tuple[bytes, list[tf.Tensor], int, bool]
_REGISTERED: dict[bytes, Entry] = {}


def source_digest() -> str:
    """Hash of the qbench package's Python source and the versions of the packages a trace goes through."""
    if not _SOURCE:
        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256(str(FORMAT).encode())
        for name in _PACKAGES:
            try:
                h.update(f"{name}={metadata.version(name)};".encode())
            except metadata.PackageNotFoundError:
                h.update(f"{name}=none;".encode())
        for p in sorted(root.rglob("*.py")):
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
        _SOURCE.append(h.hexdigest())
    return _SOURCE[0]


class StoredFunction:
    """Called like the ``tf.function`` it wraps; each input signature runs as a registered, stored graph."""

    def __init__(self, fn: Any, key: tuple, folder: Path):
        self._fn = fn
        self._key = key
        self._folder = Path(folder)
        self._ready: dict[tuple, Entry | None] = {}  # signature -> its graph, None: run ``fn``

    def experimental_get_tracing_count(self) -> int:
        """Traces in this process (a signature loaded from the store is not traced)."""
        return self._fn.experimental_get_tracing_count()

    def get_concrete_function(self, *args, **kwargs):
        return self._fn.get_concrete_function(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        flat = tf.nest.flatten(args)
        if kwargs or not tf.executing_eagerly() or not all(isinstance(a, (tf.Tensor, np.ndarray)) for a in flat):
            return self._fn(*args, **kwargs)
        tensors = [a if isinstance(a, tf.Tensor) else tf.convert_to_tensor(a) for a in flat]
        signature = (repr(tf.nest.map_structure(lambda _: 0, args)),
                     tuple((t.dtype.name, tuple(t.shape)) for t in tensors))
        if signature not in self._ready:
            with _LOCK:
                self._ready[signature] = self._prepare(args, tensors, signature)
        entry = self._ready[signature]
        if entry is None:
            return self._fn(*args)
        name, captures, n_out, single = entry
        out = context.context().call_function(name, tensors + captures, n_out)
        return out[0] if single else tuple(out)

    def _prepare(self, args: tuple, tensors: list[tf.Tensor], signature: tuple) -> Entry | None:
        digest = hashlib.sha256(repr((source_digest(), self._key, signature)).encode()).hexdigest()[:32]
        if digest in _REGISTERED:
            return _REGISTERED[digest]
        path = self._folder / f"{digest}.npz"
        loaded = _load(path, tensors)
        if loaded is None:
            loaded = _from_trace(self._fn.get_concrete_function(*args), len(tensors),
                                 getattr(self._fn, "__name__", "fn"))
            if loaded is None:
                return None
            _save(path, *loaded)
        fdef, captures, n_out, single = loaded
        ctx = context.context()
        try:
            if not ctx.has_function(fdef.signature.name):  # the same name: the same graph
                ctx.add_function_def(fdef)
        except tf.errors.InvalidArgumentError:  # not a graph TensorFlow takes: trace as before
            return None
        entry = _REGISTERED[digest] = (fdef.signature.name.encode(), [tf.constant(c) for c in captures], n_out, single)
        return entry


def forget() -> None:
    """Forget the graphs registered in this process (as a new process would); tests."""
    _REGISTERED.clear()


def _content_name(prefix: str, fdef: function_pb2.FunctionDef, captures: list[np.ndarray]) -> str:
    """A name that only the graph and its captured values decide: an edit of qbench that leaves the graph as
    it was traces again but finds its executable in XLA's cache."""
    unnamed = function_pb2.FunctionDef()
    unnamed.CopyFrom(fdef)
    unnamed.signature.name = ""
    h = hashlib.sha256(unnamed.SerializeToString(deterministic=True))
    for c in captures:
        h.update(f"{c.dtype.str}{c.shape}".encode() + np.ascontiguousarray(c).tobytes())
    return f"__qbench_{prefix}_{h.hexdigest()[:32]}"


Loaded = tuple[function_pb2.FunctionDef, list[np.ndarray], int, bool]


def _from_trace(cf: Any, n_args: int, prefix: str) -> Loaded | None:
    """The traced graph under its content name, its captured values and its output form; None where the
    store cannot run it."""
    fdef = function_pb2.FunctionDef()
    fdef.CopyFrom(cf.function_def)  # a copy: the traced function keeps its own name
    for node in fdef.node_def:
        # a custom gradient's id: a per-process counter, read only to differentiate the graph again (never
        # done to a stored step); without it the graph, and so its name, is the same in every process
        if "_gradient_op_type" in node.attr:
            del node.attr["_gradient_op_type"]
    captured = cf.captured_inputs
    if any(op_def_registry.get(node.op) is None for node in fdef.node_def):  # a call of another function
        return None
    if any(c.dtype in (tf.resource, tf.variant) or not hasattr(c, "numpy") for c in captured):
        return None
    out = cf.structured_outputs
    single = isinstance(out, tf.Tensor)
    if not single and not (isinstance(out, tuple) and all(isinstance(o, tf.Tensor) for o in out)):
        return None
    n_out = 1 if single else len(out)
    if len(fdef.signature.input_arg) != n_args + len(captured) or len(fdef.signature.output_arg) != n_out:
        return None
    captures = [c.numpy() for c in captured]
    fdef.signature.name = _content_name(prefix, fdef, captures)
    return fdef, captures, n_out, single


def _load(path: Path, tensors: list[tf.Tensor]) -> Loaded | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            fdef = function_pb2.FunctionDef.FromString(z["fdef"].tobytes())
            n_out, single, n_cap = (int(v) for v in z["form"])
            captures = [z[f"capture_{i}"] for i in range(n_cap)]
    except Exception:  # noqa: BLE001  (missing or unreadable: trace again, and write it anew)
        return None
    types = [a.type for a in fdef.signature.input_arg]
    expected = [t.dtype.as_datatype_enum for t in tensors] + [tf.as_dtype(c.dtype).as_datatype_enum for c in captures]
    if types != expected or len(fdef.signature.output_arg) != n_out or not fdef.signature.name.startswith("__qbench_"):
        return None
    return fdef, captures, n_out, bool(single)


def _save(path: Path, fdef: function_pb2.FunctionDef, captures: list[np.ndarray], n_out: int, single: bool) -> None:
    """Written whole or not at all (a temporary file renamed into place); an unwritable cache only costs time."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, fdef=np.frombuffer(fdef.SerializeToString(), np.uint8),
                     form=np.array([n_out, int(single), len(captures)]),
                     **{f"capture_{i}": c for i, c in enumerate(captures)})
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def stored(fn: Callable, key: tuple, folder: Path | None) -> Callable:
    """``fn`` (a ``tf.function``) run through the store in ``folder``; ``fn`` itself when ``folder`` is None."""
    return fn if folder is None else StoredFunction(fn, key, folder)

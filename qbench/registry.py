"""One registry for everything qbench finds by name: methods, models, tasks, suites and metrics.

A :class:`Registry` holds a kind's built-ins (registered in the package, by call or decorator), sees the
installed plugins (entry points of the group ``qbench.<kind>``, plus any older group name it keeps
working) and loads a ``module:attribute`` name on demand. Installed plugins are checked for clashes
from their entry-point names alone, so listing names or reading records imports no plugin; a plugin is
imported only when it is used (:meth:`Registry.get`). ``QBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` hides
installed plugins."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Callable, Generic, Iterable, TypeVar

from qbench.errors import QbenchError
from qbench.plugins import entry_points, is_path, load_entry_point, load_path

T = TypeVar("T")


def _accept(obj: object, name: str, where: str) -> object:
    return obj


class Registry(Generic[T]):
    """Built-ins, installed plugins and ``module:attribute`` names of one kind.

    ``what``: the kind's name in messages ('method'); ``groups``: the entry-point groups read, the first
    the kind's own (default ``qbench.<kind>``); ``check(obj, name, where)``: the object plugin ``name``
    gives, checked (a QbenchError naming ``where`` if it is not one of the kind), possibly adjusted; ``load_builtins``:
    imports the modules that register the built-ins (for a kind whose built-ins register lazily);
    ``reserved()``: names no plugin may take besides the built-ins'; ``own_name(obj)``: for a kind whose
    objects carry the name records use (a suite, a metric), that name, under which a plugin loaded as
    'module:attribute' is known for the rest of the process."""

    def __init__(self, kind: str, what: str, *, groups: Iterable[str] = (), unknown: str = "",
                 check: Callable[[object, str, str], T] = _accept, load_builtins: Callable[[], None] | None = None,
                 reserved: Callable[[], Iterable[str]] | None = None,
                 own_name: Callable[[T], str] | None = None) -> None:
        self.kind, self.what = kind, what
        self.groups = tuple(groups) or (f"qbench.{kind}",)
        self._unknown = unknown or what
        self._check = check
        self._load_builtins = load_builtins
        self._reserved = reserved
        self._own_name = own_name
        self._builtins: dict[str, T] = {}
        self._entry_points: dict[str, importlib.metadata.EntryPoint] | None = None
        self._plugins: dict[str, T] = {}
        self._sources: dict[str, str] = {}

    @property
    def group(self) -> str:
        """The kind's own entry-point group (``qbench.<kind>``)."""
        return self.groups[0]

    # -- built-ins -------------------------------------------------------------------------------
    def add(self, name: str, obj: T) -> T:
        """Register built-in ``obj`` under ``name``; a name registered twice is an error."""
        if name in self._builtins:
            raise ValueError(f"{self.what} {name!r} registered twice")
        self._builtins[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda obj: self.add(name, obj)

    def builtins(self) -> dict[str, T]:
        """The built-ins by name, in registration order."""
        if self._load_builtins is not None:
            self._load_builtins()
        return self._builtins

    def builtin(self, name: str) -> T | None:
        return self.builtins().get(name) if isinstance(name, str) else None

    # -- installed plugins, known from their entry points --------------------------------------------
    def entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        """The installed plugins' entry points by name (none is loaded), checked once for clashes with a
        built-in (or a reserved name) and between plugins, so that whatever a run names, a clash stops it."""
        if self._entry_points is None:
            taken = set(self.builtins()) | set(self._reserved() if self._reserved else ())
            self._entry_points = entry_points(self.groups, taken, self.what)
        return self._entry_points

    def installed(self, name: str) -> bool:
        """Whether ``name`` is an installed plugin's entry-point name (nothing is imported)."""
        return isinstance(name, str) and not is_path(name) and name in self.entry_points()

    def names(self) -> list[str]:
        """Built-in names, then the installed plugins' (their entry-point names; none is imported)."""
        return sorted(self.builtins()) + sorted(self.entry_points())

    # -- lookups ---------------------------------------------------------------------------------
    def find(self, name: str) -> T | None:
        """What ``name`` names: a built-in, a 'module:attribute' (imported), an installed plugin (loaded),
        or None for anything else."""
        if not isinstance(name, str):
            return None
        plugins = self.entry_points()  # first: a clash stops every lookup, a built-in's too
        found = self.builtin(name)
        if found is not None:
            return found
        if name in self._plugins:
            return self._plugins[name]
        if is_path(name):
            obj = self._check(load_path(name, self.what), name, f"{self.what} {name!r}")
            module = importlib.import_module(name.partition(":")[0])
            self._sources[name] = f"{name} ({_where(getattr(module, '__file__', None))})"
            if self._own_name is not None:
                self._plugins.setdefault(self._own_name(obj), obj)
        elif name in plugins:
            ep = plugins[name]
            obj = self._check(load_entry_point(ep, self.what), name, f"plugin {ep.name!r} ({ep.value})")
            dist = getattr(ep, "dist", None)
            self._sources[name] = f"{dist.name}=={dist.version}" if dist else ep.value
        else:
            return None
        self._plugins[name] = obj
        return obj

    def get(self, name: str) -> T:
        """:meth:`find`, or a QbenchError listing the known names."""
        found = self.find(name)
        if found is None:
            raise QbenchError(f"unknown {self._unknown} {name!r}; known: {', '.join(self.names())} (or module:attribute)")
        return found

    def loaded(self, name: str) -> T | None:
        """A built-in, or a plugin this process has already loaded; never imports anything."""
        return self.builtin(name) or self._plugins.get(name)

    def source(self, name: str) -> str:
        """'builtin', or where a loaded plugin came from (distribution==version, or 'module:attr (file)')."""
        return "builtin" if self.builtin(name) is not None else self._sources.get(name, "unknown")

    def forget_plugins(self) -> None:
        """Forget the entry points seen and the plugins loaded (tests that install plugins)."""
        self._entry_points, self._plugins, self._sources = None, {}, {}


def _where(file: str | None) -> str:
    """A module's file, relative to the qbench checkout when it lies inside it (a submission under
    leaderboard/submissions/: its records must not depend on where the repository was cloned)."""
    import os

    if not file:
        return "?"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.abspath(file)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path

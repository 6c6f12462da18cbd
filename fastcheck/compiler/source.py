"""Collect a user's cost and everything it depends on, without touching their modules.

The cost's code object is reused as is, in a new function whose globals dict
holds only what the code reads: Python helper functions replaced by compiled
copies (collected the same way, recursively), modules, and the values of
hyperparameters. The user's module is never modified, and because the copy
keeps the user's code object, Numba's errors point at the user's own file and
line (``diagnose`` relies on that).

Every function and value collected adds to a fingerprint: the bytes that the
cache key hashes. Numba freezes global and closure values at compile time, so
they belong in the key as much as the bytecode does
(``test_compiler_cache.py::test_changed_global_recompiles``).
"""

import builtins
import dis
import hashlib
import importlib
import os
import secrets
import sys
import sysconfig
import types

import numpy as np
from numba import njit
from numba.core.dispatcher import Dispatcher
from numba.core.registry import cpu_target

from ..errors import CompileError
from . import shims

_LOAD_GLOBAL = {"LOAD_GLOBAL", "LOAD_NAME"}
_LOAD_ATTR = {"LOAD_ATTR", "LOAD_METHOD"}
_LOAD_DEREF = {"LOAD_DEREF", "LOAD_CLASSDEREF"}
_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic)
#: NumPy functions whose compiled stand-ins live in ``shims``, by identity.
_SHIMMED = {id(getattr(np.linalg if module == "numpy.linalg" else np, name)): stub
            for (module, name), stub in shims.SHIMS.items()}
#: Where the standard library lives; its site-packages are not the standard library.
_STDLIB_DIRS = tuple(os.path.realpath(p) for p in {
    sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")})
_PACKAGE_DIRS = {"site-packages", "dist-packages"}
#: Libraries whose functions are Numba's business, not helpers to copy: Numba
#: compiles what it supports of them and refuses the rest with its own reason.
_NOT_HELPERS = {"numpy", "scipy", "numba", "llvmlite"}


def python_function(func):
    """The plain Python function behind ``func`` (a dispatcher, a ``JitCost``, ...).

    Raises ``CompileError`` for anything else: a bound method carries ``self``,
    an object Numba cannot type.
    """
    inner = getattr(func, "py_func", func)
    if isinstance(inner, types.FunctionType):
        return inner
    kind = type(func).__name__
    raise CompileError(f"{getattr(func, '__qualname__', repr(func))}: the cost is a {kind}, "
                       "not a plain Python function; fastcheck compiles functions "
                       "cost(params, *args) (wrap a method in a function of its own)")


class Collection:
    """The compiled copy of a cost, its helpers, and the fingerprint of them all.

    ``function`` is the Numba dispatcher of the copy (lazy: nothing compiles
    until it is first called). ``lines`` holds ``(real path, line)`` of every
    line of code copied: where a compile error is the user's. ``fingerprint`` is a SHA-256 digest of the
    bytecode of every function reached and of every value they read.

    ``unchanged()`` says cheaply whether all of that still holds: every global,
    cell, default and module attribute read is still the same object (and a
    mutable one, such as an array, still has the same contents), so a cost
    checked again need not be collected again (``build``'s fast path).
    """

    def __init__(self, func):
        self._copies = {}
        self._watches = []
        self._token = secrets.token_hex(6)
        self._hasher = hashlib.sha256()
        self.lines = set()
        self.appends = []  # (path, line) of list.append calls: the usual slow compile
        typing = cpu_target.typing_context
        typing.refresh()
        self._typing = typing
        self.function = self._copy(python_function(func))
        self.fingerprint = self._hasher.hexdigest()

    def place(self, module_name):
        """Give every compiled copy ``module_name`` as its module: the generated
        module that calls them (``generated.Unit``), which ``store`` registers
        under that name in any process that compiles or loads it.

        Numba pickles a function's environment into its disk cache by the name
        of the function's module, and imports that name when it loads the entry.
        The user's module may not be importable there (a cost loaded from a file
        path, exec'd code): Numba then names it ``<dynamic>``, and another
        process (the compile budget's child, the next run) writes an entry this
        one cannot load. The copies read only their own resolved globals, so the
        module's namespace is never used for anything else.
        """
        for dispatcher in self._copies.values():
            dispatcher.py_func.__module__ = module_name

    def unchanged(self):
        """True if every function and value collected is still what was collected."""
        for place, expected, fingerprint in self._watches:
            value = _look(place)
            if value is not expected:
                return False
            if fingerprint is not None and _value_fingerprint(value) != fingerprint:
                return False
        return True

    def _watch(self, place, value):
        """Remember where ``value`` was read (``("attr", obj, name)``, ``("item", dict,
        name)`` or ``("cell", cell)``); the contents too when it can change in place."""
        mutable = isinstance(value, (np.ndarray, list, dict, set, tuple))
        self._watches.append((place, value, _value_fingerprint(value) if mutable else None))

    def _feed(self, *parts):
        for part in parts:
            self._hasher.update(repr(part).encode())
            self._hasher.update(b"\0")

    def _copy(self, func):
        """A compiled copy of ``func`` with its globals and cells resolved (memoised)."""
        code = func.__code__
        # Keyed by the function, not its code: two closures of one factory share
        # code but not cells.
        if func in self._copies:
            self._feed("seen", code.co_name)
            return self._copies[func]
        scope = {"__builtins__": builtins}
        # New cells, filled below: the user's closure cells stay theirs.
        cells = tuple(types.CellType() for _ in func.__closure__ or ())
        copy = types.FunctionType(code, scope, func.__name__, func.__defaults__, cells or None)
        copy.__kwdefaults__ = func.__kwdefaults__
        # Numba names the machine code of a function by its qualified name and a
        # per-process counter, and keeps the first of two equal names it links:
        # two closures compiled in forked children (``budget``) or in two
        # processes sharing a disk cache would share one. The token keeps them apart.
        copy.__qualname__ = f"{func.__qualname__}__{self._token}"
        copy.__module__ = func.__module__  # until ``place`` names the generated module
        # Registered before its dependencies are resolved, so recursion terminates;
        # Numba reads globals and cells only when it compiles.
        dispatcher = njit(fastmath=False)(copy)
        self._copies[func] = dispatcher
        path = os.path.realpath(code.co_filename)
        self.lines.update((path, line) for inner in _code_objects(code)
                          for _, line in dis.findlinestarts(inner) if line)
        self.appends += [(path, ins.positions.lineno) for inner in _code_objects(code)
                         for ins in dis.get_instructions(inner)
                         if ins.opname in _LOAD_ATTR and ins.argval == "append"
                         and ins.positions and ins.positions.lineno]
        self._watch(("attr", func, "__code__"), code)
        self._watch(("attr", func, "__defaults__"), func.__defaults__)
        self._watch(("attr", func, "__kwdefaults__"), func.__kwdefaults__)
        self._feed("function", func.__qualname__)
        _feed_code(self._feed, code)
        self._feed("defaults", _value_fingerprint(func.__defaults__),
                   _value_fingerprint(sorted((func.__kwdefaults__ or {}).items())))
        cell_chains = _global_reads(code, _LOAD_DEREF)
        for name, cell, original in zip(code.co_freevars, cells, func.__closure__ or ()):
            self._feed("cell")
            self._watch(("cell", original), original.cell_contents)
            # A module in a cell (imported inside a function) has its attributes
            # resolved like a global module's: helpers.dense is a helper.
            cell.cell_contents = self._resolve(original.cell_contents,
                                               cell_chains.get(name, set()))
        for name, chains in _global_reads(code).items():
            self._feed("global", name)
            self._watch(("item", func.__globals__, name), func.__globals__.get(name, _MISSING))
            if name in func.__globals__:
                scope[name] = self._resolve(func.__globals__[name], chains)
            elif name in shims.BUILTINS and _only_called(code, name):
                self._feed("shim", name, shims.DIGEST)
                scope[name] = shims.BUILTINS[name]
            elif hasattr(builtins, name):
                self._feed("builtin")
            else:
                self._feed("undefined")  # Numba reports the name; nothing to bake
        return dispatcher

    def _resolve(self, value, chains):
        """What a copied function sees for ``value``: a compiled copy, a shim, a module, the value."""
        if id(value) in _SHIMMED and callable(value):
            self._feed("shim", value.__qualname__, shims.DIGEST)
            return _SHIMMED[id(value)]
        if _is_helper(value, self._typing):
            return self._copy(getattr(value, "py_func", value))
        if isinstance(value, types.ModuleType):
            return self._module(value, chains)
        self._feed(_value_fingerprint(value))
        return value

    def _module(self, module, chains):
        """``module``, or a stand-in of it when an attribute read needs a compiled copy."""
        self._feed("module", module.__name__)
        attributes = {}
        for chain in sorted(chains):
            if chain and hasattr(module, chain[0]):
                self._feed("attribute", chain[0])
                self._watch(("attr", module, chain[0]), getattr(module, chain[0]))
                attributes[chain[0]] = self._resolve(getattr(module, chain[0]), {chain[1:]})
        replaced = {name: value for name, value in attributes.items()
                    if value is not getattr(module, name)}
        if not replaced:
            return module
        return standin_module(module.__name__, replaced, module)


class StandIn(types.ModuleType):
    """A module whose attributes ``replaced`` are compiled copies. Pickled (for the
    compile budget's child) as its name and those copies: a module of that name
    would otherwise be pickled by reference, as the user's module itself."""

    def __reduce__(self):
        return standin_module, (self.__name__, self._fastcheck_replaced)


def standin_module(name, replaced, module=None):
    """A ``StandIn`` of ``module`` (imported by ``name`` if not given) with the
    attributes ``replaced``."""
    module = importlib.import_module(name) if module is None else module
    standin = StandIn(name)
    standin.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    standin.__dict__.update(replaced)
    standin._fastcheck_replaced = dict(replaced)
    return standin


_MISSING = object()


def _look(place):
    """The value now at a place ``Collection._watch`` remembered."""
    kind, where = place[0], place[1]
    if kind == "attr":
        return getattr(where, place[2], _MISSING)
    if kind == "item":
        return where.get(place[2], _MISSING)
    try:
        return where.cell_contents
    except ValueError:  # an emptied cell
        return _MISSING


def _is_helper(value, typing):
    """True for a user's Python function that Numba does not already know."""
    if isinstance(value, Dispatcher):
        value = value.py_func
    if not isinstance(value, types.FunctionType):
        return False
    if _in_library(value):
        return False
    try:
        typing.resolve_value_type(value)
    except Exception:  # Numba's "cannot determine Numba type" comes as several types
        return True
    return False


def _in_library(func):
    """True for the standard library and NumPy, SciPy, Numba; a package installed
    in site-packages (a course's utilities, fastcheck's own exercises) is user code."""
    if (func.__module__ or "").partition(".")[0] in _NOT_HELPERS:
        return True
    path = os.path.realpath(func.__code__.co_filename)
    if _PACKAGE_DIRS.intersection(path.split(os.sep)):
        return False
    return any(path.startswith(root + os.sep) for root in _STDLIB_DIRS)


def _global_reads(code, opnames=_LOAD_GLOBAL):
    """Names a code object (and its nested ones) reads as globals (or, with
    ``opnames=_LOAD_DEREF``, from closure cells).

    Maps each name to the set of attribute chains read from it, e.g.
    ``{"np": {("dot",), ("linalg", "norm")}}``: the chains say which module
    attributes matter for the key and for stand-ins.
    """
    reads = {}
    for inner in _code_objects(code):
        instructions = list(dis.get_instructions(inner))
        for i, ins in enumerate(instructions):
            if ins.opname not in opnames:
                continue
            chain = []
            for nxt in instructions[i + 1:]:
                if nxt.opname not in _LOAD_ATTR:
                    break
                chain.append(nxt.argval)
            reads.setdefault(ins.argval, set()).add(tuple(chain))
    return reads


def _only_called(code, name):
    """True if every global read of ``name`` pushes it as a callee (``float(x)``,
    not ``dtype=float``): since 3.11 such a LOAD_GLOBAL sets its low bit."""
    if sys.version_info < (3, 11):
        return False
    return all(ins.arg & 1 for inner in _code_objects(code)
               for ins in dis.get_instructions(inner)
               if ins.opname in _LOAD_GLOBAL and ins.argval == name)


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _feed_code(feed, code):
    """Feed what the compiled code depends on; not file names or line numbers."""
    feed(code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
         code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(feed, const)
        else:
            feed(type(const).__name__, const)


def _value_fingerprint(value):
    """A stable text for a global or closure value that Numba freezes."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        digest = hashlib.sha256(data.view(np.uint8).tobytes() if data.size else b"").hexdigest()
        return ("ndarray", value.dtype.str, value.shape, digest)
    if isinstance(value, _SCALARS):
        return (type(value).__qualname__, repr(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__qualname__,) + tuple(_value_fingerprint(v) for v in value)
    if isinstance(value, type):
        return ("class", value.__module__, value.__qualname__)
    if callable(value) and hasattr(value, "__qualname__"):
        # Library functions (np.sum, math.exp): their name, not their address.
        return ("callable", getattr(value, "__module__", None), value.__qualname__)
    text = repr(value)
    if text == object.__repr__(value):
        # An object with the default repr (a model of layer classes): its address
        # would make every process's key new. Numba cannot freeze such an object,
        # so the compile is refused whatever it holds, and the key may stay the
        # same from run to run (the refusal is remembered on disk: ``generated``).
        return ("object", type(value).__module__, type(value).__qualname__)
    return (type(value).__module__, type(value).__qualname__, text)

"""What a complex-step check may leave in the user's objects, found and taken back.

A cost evaluated on complex parameters computes complex intermediates, and a
model that keeps them (``self.running_mean = m * self.running_mean + (1 - m) *
mean``, ``self.cache = x``) is left holding complex arrays: a running average
keeps its imaginary part through any number of real evaluations afterwards,
and the next real computation (a copy into a float array, a trace) breaks on
it. ``ComplexSlots`` remembers, before the check, which places reachable from
the cost held complex arrays (the user's own complex data stays as it is);
afterwards every other place holding a complex array gets its real part back,
in the dtype the place held before (float64 for a new one). The real part is
what a real evaluation would have left there, to rounding.

Reachable from the cost: the cost itself (a bound method's object, closure
cells, defaults, the module globals its code names, recursively through the
helpers it calls), its data arguments, and from each object found its
attributes, list and tuple items and dict values, ``MAX_DEPTH`` deep.
"""

import functools
import types

import numpy as np

#: How many links from the cost a place may be.
MAX_DEPTH = 6
#: At most this many objects are walked (a cost that reaches a whole framework).
MAX_OBJECTS = 20_000
_SKIP = (types.ModuleType, type, types.BuiltinFunctionType, str, bytes, int, float, complex,
         bool, type(None), np.generic, np.dtype)


def _code_names(code):
    """The global names ``code`` (and the code nested in it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _children(obj):
    """(container, key, value) of the places directly inside ``obj``; a container
    of None means an object not to write through (a function's globals and cells)."""
    if isinstance(obj, types.MethodType):
        yield None, None, obj.__self__
        yield None, None, obj.__func__
    elif isinstance(obj, types.FunctionType):
        for cell in obj.__closure__ or ():
            try:
                yield None, None, cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for value in (obj.__defaults__ or ()):
            yield None, None, value
        glob = obj.__globals__
        for name in _code_names(obj.__code__):
            if name in glob:
                yield glob, name, glob[name]
    elif isinstance(obj, dict):
        for key, value in list(obj.items()):
            yield obj, key, value
    elif isinstance(obj, list):
        for k, value in enumerate(obj):
            yield obj, k, value
    elif isinstance(obj, tuple):
        for value in obj:
            yield None, None, value
    elif isinstance(obj, functools.partial):
        yield None, None, obj.func
        for value in obj.args:
            yield None, None, value
    else:
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict):
            for key, value in list(state.items()):
                yield state, key, value


def _places(roots):
    """(container, key, array) of every ndarray slot reachable from ``roots``."""
    seen, found = set(), []
    frontier = [(root, 0) for root in roots]
    while frontier and len(seen) < MAX_OBJECTS:
        obj, depth = frontier.pop()
        if id(obj) in seen or isinstance(obj, _SKIP) or isinstance(obj, np.ndarray):
            continue
        seen.add(id(obj))
        for container, key, value in _children(obj):
            if isinstance(value, np.ndarray):
                if container is not None:
                    found.append((container, key, value))
            elif depth < MAX_DEPTH:
                frontier.append((value, depth + 1))
    return found


class ComplexSlots:
    """The complex arrays reachable from ``roots`` now; ``restore`` gives the other
    places their real part back after a complex-step check."""

    def __init__(self, roots):
        self.roots = tuple(roots)
        places = _places(self.roots)
        self.complex = {(id(c), key) for c, key, a in places if a.dtype.kind == "c"}
        self.dtypes = {(id(c), key): a.dtype for c, key, a in places if a.dtype.kind == "f"}
        self._keep = [c for c, _, _ in places]  # the ids above stay valid meanwhile

    def restore(self):
        """Set every place that holds a complex array it did not hold before to its
        real part; returns how many."""
        count = 0
        for container, key, array in _places(self.roots):
            where = (id(container), key)
            if array.dtype.kind != "c" or where in self.complex:
                continue
            container[key] = array.real.astype(self.dtypes.get(where, np.float64))
            count += 1
        return count


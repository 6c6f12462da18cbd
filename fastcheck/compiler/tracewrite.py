"""Stores of recorded values into arrays the cost did not allocate: the model's own.

Many layer classes keep their weights in arrays of their own, and the cost
copies the parameters in: ``param[...] = p[name]``, ``np.copyto(layer.W,
p["W"])``, ``layer.W[:] = p["W"]``, ``np.maximum(self.out, 0, out=self.out)``.
NumPy performs such a store itself (``ndarray.__setitem__`` converts the value
with ``__array__``), so the tracer sees only the conversion; here it finds the
array stored into and the index, from the user's own statement, and from then
on the record *owns* that array: a private ``Traced`` root whose buffer is a
copy of it (the compiled record writes its copy, never the user's array), its
writes mirrored into the user's array so that the Python objects hold what the
Python cost would have left there.

While the trace runs, the dicts and lists that hold the user's array (an
object's attributes, a ``params`` dict or list, module globals) hold its
``Traced`` instead, and so do closure cells (``_swap``), so that ``np.sum(layer.W ** 2)`` records as
any other operation; they get the array back when the trace ends
(``release``). Every operation that meets the plain array itself (a local
variable that held it before the store) reads the owned root too (``adopt``).
An operation NumPy performs on the plain array with no recorded operand is
invisible to the tracer: if it wrote into the array, the next read sees the
user's array differ from the record's copy and refuses (an escape naming that
line), and if it only read it, the trust test's perturbed points see the
frozen value.
"""

import ast
import builtins
import collections
import dis
import gc
import linecache
import operator
import os
import sys
import types

import numpy as np

from . import trace as _trace

_STORE_OPS = {"STORE_SUBSCR"}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_POSITIONS = {}  # a code object -> the source position of each of its code units


def _user_frame():
    """The innermost frame outside the tracer and NumPy (the user's statement)."""
    frame = sys._getframe(2)
    while frame is not None:
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith((_trace._TRACER, _trace._NUMPY + os.sep)):
            return frame
        frame = frame.f_back
    return None


def store_target(rec):
    """``(array, key)`` of the subscript store ``array[key] = value`` that the user's
    current statement performs into a plain NumPy array, re-read from its source
    (names, attributes, constant and name subscripts only, so re-reading it has no
    effect); None when the conversion is not such a store or the target cannot be
    re-read safely."""
    frame = _user_frame()
    if frame is None:
        return None
    code = frame.f_code
    units = code.co_code
    if frame.f_lasti < 0 or frame.f_lasti >= len(units) or \
            dis.opname[units[frame.f_lasti]] not in _STORE_OPS:
        return None
    positions = _POSITIONS.get(code)
    if positions is None:
        positions = _POSITIONS[code] = list(code.co_positions())
    line, end, col, end_col = positions[frame.f_lasti // 2]
    if line is None or col is None or end != line:
        return None
    text = linecache.getline(code.co_filename, line)[col:end_col]
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Subscript):
        return None
    names = dict(frame.f_globals)
    names.update(frame.f_locals)
    try:
        array = _evaluate(node.value, names)
        key = _evaluate(node.slice, names)
    except _Unsafe:
        return None
    if not isinstance(array, np.ndarray) or isinstance(array, _trace.Traced):
        return None
    return array, key


class _Unsafe(Exception):
    """The target expression holds something re-reading could run code for."""


def _evaluate(node, names):
    """The value of a side-effect-free expression ``node`` (see ``store_target``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if hasattr(builtins, node.id):
            return getattr(builtins, node.id)
        raise _Unsafe(node.id)
    if isinstance(node, ast.Attribute):
        owner = _evaluate(node.value, names)
        if isinstance(getattr(type(owner), node.attr, None), property):
            raise _Unsafe(node.attr)  # a property runs code
        return getattr(owner, node.attr)
    if isinstance(node, ast.Subscript):
        owner = _evaluate(node.value, names)
        if not isinstance(owner, (dict, list, tuple, np.ndarray)):
            raise _Unsafe("subscript")
        return owner[_evaluate(node.slice, names)]
    if isinstance(node, ast.Slice):
        return slice(*(None if part is None else _evaluate(part, names)
                       for part in (node.lower, node.upper, node.step)))
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(e, names) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, names)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if not all(isinstance(v, (int, np.integer)) for v in (left, right)):
            raise _Unsafe("arithmetic")
        return _BINOPS[type(node.op)](left, right)
    raise _Unsafe(type(node).__name__)


def _base(array):
    """The array that owns ``array``'s memory (itself, or the end of its ``.base`` chain)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def own(rec, array):
    """The ``Traced`` the record reads and writes for the user's plain ``array``
    (the root of its base, or a view of that root), the base owned from now on."""
    base = _base(array)
    entry = rec.owned.get(id(base))
    if entry is None:
        if base.dtype.kind not in "biuf" or not base.flags.c_contiguous:
            _trace.escape(rec, f"a store into a NumPy array of dtype {base.dtype} that is "
                          "not C-contiguous (or whose memory is another array's) is not "
                          "recorded; allocate the array inside the cost")
        root = _trace.Traced(rec, None, base.copy())
        root._mirror = base
        entry = rec.owned[id(base)] = (base, root)
        rec.owned_at = rec.owned_at or _trace.user_line()
        _swap(rec, base, root)
    traced = _view(rec, entry[1], base, array)
    if array is not base and id(array) not in rec.swapped_ids:
        _swap(rec, array, traced)
    return traced


#: How deep the user's objects are searched for the arrays a store made the record's
#: (the module's globals -> the model -> its list of layers -> a layer -> its params
#: dict -> the array), and how many objects at most.
_DEPTH = 7
_MAX_VISITS = 100000
_LEAVES = (str, bytes, int, float, complex, bool, type(None), np.ndarray, np.generic,
           types.ModuleType, types.BuiltinFunctionType, types.CodeType, types.FrameType)


def _holders(array):
    """The dicts, lists, classes and closure cells holding ``array``: found from the
    user's frames inside the traced cost (CPython does not track a dict that holds
    only arrays and strings, so ``gc.get_referrers`` alone misses a layer's
    ``params``), and closure cells also from ``gc.get_referrers``.

    The search goes where the cost's Python can reach the array from: an object's
    attributes and its class's (``class Model: params = [...]``), a bound method's
    object and function, a function's closure and defaults (the layers a model's
    ``forward`` closes over). An array it misses would be read by NumPy as the user's
    frozen copy (``W[idx]`` with no recorded operand): the trust test's perturbed
    points then refuse the record."""
    found, seen = [], set()

    def note(holder, key):
        if (id(holder), key) not in seen:
            seen.add((id(holder), key))
            found.append((holder, key))

    for holder in gc.get_referrers(array):
        if isinstance(holder, types.CellType):
            note(holder, None)
    # breadth first: an object is visited at its least depth (depth first, one reached
    # first down a long path was cut off there, and the layers below it never seen)
    stack, visited = collections.deque((v, 0, None) for v in _user_roots()), set()
    while stack and len(visited) < _MAX_VISITS:
        obj, depth, place = stack.popleft()
        if isinstance(obj, (_LEAVES, _trace.Traced)) or id(obj) in visited or depth > _DEPTH:
            continue
        visited.add(id(obj))
        for holder, key, value in _reachable(obj, place):
            if value is array:
                if holder is not None:
                    note(holder, key)
            else:  # an object's __dict__, its class, a method's object: no step deeper
                step = 0 if key is _SAME_LEVEL else 1
                stack.append((value, depth + step, None if holder is None else (holder, key)))
    return found


_SAME_LEVEL = object()  # the key of what ``_reachable`` finds at its object's own depth


class _Attributes:
    """An object's attributes as a holder: a class's (``class Model: params = [...]``)
    or a ``__slots__`` object's."""

    def __init__(self, obj):
        self.obj = obj

    def __getitem__(self, name):
        return getattr(self.obj, name)

    def __setitem__(self, name, value):
        setattr(self.obj, name, value)


class _TupleItems:
    """A tuple's items as a holder (``self.params = (W, b)``): a write replaces the
    tuple, in the holder that holds it, by one with the new item."""

    def __init__(self, place):
        self.holder, self.key = place

    def __getitem__(self, i):
        return self.holder[self.key][i]

    def __setitem__(self, i, value):
        items = self.holder[self.key]
        self.holder[self.key] = items[:i] + (value,) + items[i + 1:]


def _reachable(obj, place):
    """``(holder, key, value)`` for what the user's code reaches from ``obj`` in one
    step; ``holder`` None where it cannot be written back. ``place``: the
    ``(holder, key)`` that holds ``obj`` (a tuple is replaced there), or None."""
    if isinstance(obj, dict):
        return [(obj, k, v) for k, v in list(obj.items())]
    if isinstance(obj, list):
        return [(obj, k, v) for k, v in enumerate(list(obj))]
    if isinstance(obj, tuple):
        holder = _TupleItems(place) if place is not None and type(obj) is tuple else None
        return [(holder, i, v) for i, v in enumerate(obj)]
    if isinstance(obj, types.MethodType):
        return [(None, _SAME_LEVEL, obj.__self__), (None, _SAME_LEVEL, obj.__func__)]
    if isinstance(obj, types.FunctionType):
        found = [(cell, None, _cell_contents(cell)) for cell in obj.__closure__ or ()]
        found += [(None, None, v) for v in (obj.__defaults__, obj.__kwdefaults__) if v]
        return found
    if isinstance(obj, type):
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str) or module.startswith(("builtins", "numpy", "fastcheck")):
            return []
        return [(_Attributes(obj), k, v) for k, v in list(vars(obj).items())
                if not k.startswith("__")]
    found = []
    try:
        found.append((None, _SAME_LEVEL, object.__getattribute__(obj, "__dict__")))
    except AttributeError:
        pass
    for cls in type(obj).__mro__[:-1]:
        for name in getattr(cls, "__slots__", ()):
            value = getattr(obj, name, None) if isinstance(name, str) and \
                not name.startswith("__") else None
            if value is not None:
                found.append((_Attributes(obj), name, value))
    return found + [(None, _SAME_LEVEL, type(obj))]


def _cell_contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _user_roots():
    """The values of the locals, and the globals, of the user's frames inside the cost."""
    roots, frame = [], sys._getframe(1)
    while frame is not None and frame.f_code is not _trace.trace.__code__:
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith((_trace._FASTCHECK + os.sep, _trace._NUMPY + os.sep)):
            roots.extend(frame.f_locals.values())
            roots.append(frame.f_globals)  # the module's globals: a holder themselves
        frame = frame.f_back
    return roots


def _swap(rec, array, traced):
    """Every dict value, list item and closure cell that is ``array`` becomes
    ``traced`` until the trace ends (``release``)."""
    rec.swapped_ids.add(id(array))
    for holder, key in _holders(array):
        _put(holder, key, traced)
        rec.swapped.append((holder, key, array, traced))


def _put(holder, key, value):
    if isinstance(holder, types.CellType):
        holder.cell_contents = value
    else:
        holder[key] = value


def _get(holder, key):
    if isinstance(holder, types.CellType):
        return _cell_contents(holder)
    return holder[key]


def release(rec):
    """Give the user's dicts and lists their arrays back (see ``_swap``)."""
    for holder, key, array, traced in reversed(rec.swapped):
        try:
            if _get(holder, key) is traced:
                _put(holder, key, array)
        except (KeyError, IndexError, AttributeError, TypeError):  # removed meanwhile
            pass
    rec.swapped.clear()


def _view(rec, root, base, array):
    if array is base:
        return root
    item = base.itemsize
    offset = array.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if array.dtype != base.dtype or offset % item or any(s % item for s in array.strides):
        _trace.escape(rec, f"a view of dtype {array.dtype} into an array of dtype "
                      f"{base.dtype} is not recorded")
    value = _trace._strided(root._val.reshape(-1), offset // item, array.shape, array.strides)
    view = _trace.Traced(rec, None, value)
    view._root, view._off, view._strides = root, offset // item, array.strides
    view._ver = root._ver - 1  # read anew from the root (a gather of its node)
    return view


def adopt(rec, obj):
    """``obj`` with every plain array the record owns (and views of one) replaced by
    its ``Traced``; lists, tuples and dicts are looked into. Refuses an owned array
    that NumPy changed outside the record."""
    if not rec.owned or rec.closed:
        return obj
    if isinstance(obj, np.ndarray) and not isinstance(obj, _trace.Traced):
        entry = rec.owned.get(id(_base(obj)))
        if entry is None:
            return obj
        base, root = entry
        check_fresh(rec, root)
        return _view(rec, root, base, obj)
    if isinstance(obj, (list, tuple)):
        adopted = [adopt(rec, v) for v in obj]
        return adopted if isinstance(obj, list) else type(obj)(adopted) \
            if type(obj) is tuple else obj
    if isinstance(obj, dict):
        return {k: adopt(rec, v) for k, v in obj.items()}
    return obj


def check_fresh(rec, root):
    """Refuse (naming the user's line) if NumPy changed the user's array behind the
    owned ``root`` since the record last wrote it: the record's copy is stale."""
    if root._mirror is not None and not rec.closed and \
            root._val.tobytes() != root._mirror.tobytes():
        _trace.escape(rec, "an array the cost stored parameters into was changed by a "
                      "NumPy operation with no parameter-dependent operand (through a "
                      "name that held it before the store: the tracer cannot follow it); "
                      "write the result into it with a store (array[...] = value)")


def check_all_fresh(rec):
    """``check_fresh`` of every array the record owns, when the trace ends (no line of
    the user's is running then: the message names the first store instead)."""
    for _, root in rec.owned.values():
        if root._val.tobytes() != root._mirror.tobytes():
            text = (f"{rec.owned_at}: an array the cost stored parameters into was changed "
                    "afterwards by a NumPy operation with no parameter-dependent operand "
                    "(through a name that held it before the store: the tracer cannot "
                    "follow it); write the result into it with a store (array[...] = value)")
            rec.escape = rec.escape or text
            raise _trace.TraceEscape(text)


def store(rec, array, key, value):
    """``array[key] = value`` into the user's plain ``array``, recorded (see module)."""
    _trace.setitem(own(rec, array), key, value)

"""Record the NumPy operations a cost performs on its parameters: the tracer.

The cost runs once in Python with each parameter wrapped in a ``Traced``
array. Whatever Python does around the arrays (method calls, loops over lists
of layers, dict and attribute look-ups, module globals) runs as usual; every
NumPy operation whose operands include a ``Traced`` value is computed eagerly
on the real values *and* appended to a ``Record``: straight-line, single
assignment, with the data and constants it reads. ``tracegen`` turns the
record into code Numba compiles.

A record is the cost only where Python's control flow does not depend on the
parameters' values, so every way a recorded value can reach Python is an
*escape* that refuses the record, naming the user's file and line: ``bool``
(an ``if``), ``float``/``int``/``.item()``, iteration, conversion to a plain
NumPy array, a parameter-dependent index, and any NumPy function not
recorded here. A record longer than ``MAX_OPS`` (loop-heavy code) is refused
too: the source compiler handles loops far better.
"""

import linecache
import os
import sys

import numpy as np

from ..errors import CompileError

#: Operations recorded before a trace is given up (a four-loop convolution
#: records millions; the networks traced here, a few hundred).
MAX_OPS = 20000

#: Ufuncs recorded, each emitted as ``np.<name>`` (all compile with Numba).
UFUNCS = frozenset("""add subtract multiply divide true_divide power negative absolute fabs
sign sqrt square exp exp2 expm1 log log2 log10 log1p tanh sinh cosh sin cos tan arctan
arcsin arccos arctanh arcsinh maximum minimum fmax fmin greater greater_equal less
less_equal equal not_equal logical_and logical_or logical_not logical_xor hypot
arctan2 isfinite isnan isinf""".split())
#: Bitwise operators on booleans (``mask1 & mask2``) are their logical twins.
_LOGICAL = {"bitwise_and": "logical_and", "bitwise_or": "logical_or",
            "bitwise_xor": "logical_xor", "invert": "logical_not"}
_REDUCERS = {"add": "sum", "maximum": "max", "minimum": "min", "multiply": "prod"}
_HERE = os.path.realpath(__file__)
_NUMPY = os.path.dirname(os.path.realpath(np.__file__))


class TraceEscape(CompileError):
    """The cost's Python control flow reads a recorded value: the record is not the cost."""


class Lit:
    """A scalar constant of a recorded operation (a Python or NumPy number)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Lit) and repr(self.value) == repr(other.value)

    def __hash__(self):
        return hash(repr(self.value))


class Op:
    """One recorded operation: ``kind``, operands ``args`` (node numbers, or
    ``Lit``), static ``attrs``, and the ``shape`` and dtype ``kind`` ("f", "b",
    "i") of its value."""

    __slots__ = ("kind", "args", "attrs", "shape", "dtype")

    def __init__(self, kind, args, attrs, shape, dtype):
        self.kind, self.args, self.attrs, self.shape, self.dtype = kind, args, attrs, shape, dtype


class Record:
    """The operations of one run of a cost, in order.

    ``ops[k]`` is node ``k``; ``consts[j]`` is the array read by a ``const``
    node with ``attrs == (j,)``. ``lowp`` is True when the Python cost
    computes in less than float64 somewhere (the record computes in float64).
    ``functions`` maps the NumPy functions recorded to their recording twins
    (``tracefuncs.FUNCTIONS``); any other is an escape.
    """

    def __init__(self, functions):
        self.functions = functions
        self.ops, self.consts, self.lowp, self.closed = [], [], False, False
        self._const_nodes = {}  # id(array) -> (array, node)
        self.escape = None

    def add(self, kind, inputs, attrs, value):
        """Append an operation of ``inputs`` (``Traced``, arrays, numbers) whose eager
        result is ``value``; return it ``Traced``. An operation none of whose inputs
        depends on the parameters is not recorded: its result is data."""
        if self.closed:  # a Traced kept by the user's objects after the trace: plain NumPy
            return value
        if kind not in ("param", "const") and not any(map(self.depends, inputs)):
            return self.wrap(value)
        args = [self.operand(x) for x in inputs]
        if len(self.ops) >= MAX_OPS:
            escape(self, f"the record passed {MAX_OPS} operations (loop-heavy code, such as "
                   "a convolution written as loops): tracing is for code built from objects "
                   "around array operations")
        value = np.asarray(value)
        self._note_dtype(value.dtype)
        dtype = "b" if value.dtype.kind == "b" else "i" if value.dtype.kind in "iu" else "f"
        self.ops.append(Op(kind, tuple(args), tuple(attrs), value.shape, dtype))
        return Traced(self, len(self.ops) - 1, value)

    def _note_dtype(self, dtype):
        if dtype.kind == "c":
            escape(self, "a complex value was computed; tracing records real costs only")
        if dtype.kind == "f" and dtype.itemsize < 8:
            self.lowp = True

    def depends(self, x):
        """True if ``x`` is a value of this record that depends on the parameters."""
        if isinstance(x, Traced) and x._id is not None:
            if x._rec is not self:
                escape(self, "a value recorded by another trace was used")
            return True
        return False

    def wrap(self, value):
        """Data (a value that does not depend on the parameters) as the cost sees it:
        arrays stay ``Traced`` without a node, so that ``X.dot(W)`` still records."""
        value = np.asarray(value) if not isinstance(value, np.ndarray) else value
        return Traced(self, None, value) if value.ndim else value[()]

    def operand(self, x):
        """A node number or ``Lit`` for an operand ``x`` of a recorded operation."""
        if self.depends(x):
            return x._id
        x = value_of(x)
        if isinstance(x, (bool, int, float, np.generic)) or (
                isinstance(x, np.ndarray) and x.ndim == 0):
            value = np.asarray(x)
            if value.dtype.kind not in "biuf":
                escape(self, f"a constant of type {value.dtype} cannot be recorded")
            self._note_dtype(value.dtype)
            return Lit(value.item())
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except TraceEscape:
                raise
            except Exception:
                escape(self, f"an operand of type {type(x).__name__} cannot be recorded")
        if x.dtype.kind not in "biuf":
            escape(self, f"an operand of dtype {x.dtype} cannot be recorded (a list that "
                   "holds recorded values: use np.stack or np.concatenate on them)")
        # A copy: the cost may change a plain array in place after an operation read it
        # (min-char-rnn's one-hot xs[t]); the same unchanged array is one constant.
        seen = self._const_nodes.get(id(x))
        if seen is not None and np.array_equal(self.consts[self.ops[seen[1]].attrs[0]], x):
            return seen[1]
        self.consts.append(x.copy())
        node = self.add("const", (), (len(self.consts) - 1,), x)._id
        self._const_nodes[id(x)] = (x, node)  # x kept alive: its id is not reused
        return node


def escape(rec, message):
    """Refuse the record: raise ``TraceEscape`` naming the user's line."""
    where = user_line()
    text = f"{where}: {message}" if where else message
    if rec is not None and rec.escape is None:
        rec.escape = text  # even if the cost catches the exception, the record stays refused
    raise TraceEscape(text)


def user_line():
    """``file.py:12: "source"`` of the innermost frame outside the tracer and NumPy."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.realpath(frame.f_code.co_filename)
        if path != _HERE and not path.startswith(_NUMPY + os.sep):
            line = frame.f_lineno
            text = linecache.getline(frame.f_code.co_filename, line).strip()
            return f'{os.path.basename(path)}:{line}: "{text}"' if text else \
                f"{os.path.basename(path)}:{line}"
        frame = frame.f_back
    return ""


def value_of(x):
    """The eager NumPy value of ``x`` (itself unless ``Traced``)."""
    return x._value if isinstance(x, Traced) else x


def plain(obj):
    """``obj`` with every ``Traced`` in it (in lists, tuples, dicts) replaced by its value."""
    if isinstance(obj, Traced):
        return obj._value
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    return obj


def _any_dependent(obj):
    if isinstance(obj, Traced):
        return obj._id is not None
    if isinstance(obj, (list, tuple)):
        return any(_any_dependent(v) for v in obj)
    if isinstance(obj, dict):
        return any(_any_dependent(v) for v in obj.values())
    return False


def record_of(values):
    """The ``Record`` of the first ``Traced`` among ``values`` (nested in lists/tuples)."""
    for v in values:
        if isinstance(v, Traced):
            return v._rec
        if isinstance(v, (list, tuple)):
            rec = record_of(v)
            if rec is not None:
                return rec
    return None


def _ufunc_method(name):
    ufunc = getattr(np, name)
    return lambda self, *other: ufunc(self, *other)


def _reflected(name):
    ufunc = getattr(np, name)
    return lambda self, other: ufunc(other, self)


def _inplace(name):
    ufunc = getattr(np, name)

    def method(self, other):
        self._rebind(ufunc(self, other))
        return self
    return method


class Traced:
    """An array whose NumPy operations are recorded (see the module docstring).

    ``shape``, ``ndim``, ``size``, ``dtype`` and ``len`` are those of the real
    value and free to read; the values themselves are not (an escape).
    """

    __slots__ = ("_rec", "_id", "_value")
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, rec, node, value):
        self._rec, self._id, self._value = rec, node, value

    def _rebind(self, other):
        """In-place update: this object now stands for ``other``'s node (aliases see it)."""
        if self._rec.closed:
            self._value = np.asarray(value_of(other), dtype=self._value.dtype)
            return
        other = other if isinstance(other, Traced) else Traced(self._rec, None,
                                                                np.asarray(other))
        if other.shape != self.shape:
            escape(self._rec, f"an in-place update changes shape {self.shape} to {other.shape}")
        self._id, self._value = other._id, other._value.astype(self._value.dtype, copy=False)

    shape = property(lambda self: self._value.shape)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    dtype = property(lambda self: self._value.dtype)
    T = property(lambda self: transpose(self))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return repr(self._value)

    def __str__(self):
        return str(self._value)

    def __format__(self, spec):
        return format(self._value, spec)

    # ---- escapes: a recorded value reaching Python ---------------------------------
    def _escape(self, what, convert, why="the record would freeze the branch or number "
                "taken at these parameters"):
        """``convert(value)`` once the trace is over (the user's objects may keep a
        ``Traced``); during it, an escape."""
        if self._rec.closed or self._id is None:  # data: free to read
            return convert(self._value)
        escape(self._rec, f"{what} of a value that depends on the parameters; {why}")

    def __bool__(self):
        return self._escape("a truth test (if, while, and/or, bool())", bool)

    def __float__(self):
        return self._escape("float()", float)

    def __int__(self):
        return self._escape("int()", int)

    def __index__(self):
        return self._escape("use as an index", lambda v: v.__index__())

    def __complex__(self):
        return self._escape("complex()", complex)

    def __iter__(self):
        return self._escape("iteration", iter)

    def item(self, *args):
        return self._escape(".item()", lambda v: v.item(*args))

    def tolist(self):
        return self._escape(".tolist()", lambda v: v.tolist())

    def __array__(self, dtype=None, copy=None):
        return self._escape("conversion to a plain NumPy array (np.array, np.asarray, "
                            "storing it into a NumPy array)",
                            lambda v: np.asarray(v, dtype=dtype),
                            "the record cannot follow it there (allocate the array with "
                            "np.zeros_like of a recorded value, or np.stack a list)")

    # ---- NumPy protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rec = self._rec
        if rec.closed or not _any_dependent((inputs, kwargs)):
            result = getattr(ufunc, method)(*plain(inputs), **plain(kwargs))
            return result if rec.closed or not isinstance(result, np.ndarray) else \
                rec.wrap(result)
        out = kwargs.pop("out", None)
        name = _LOGICAL.get(ufunc.__name__, ufunc.__name__)
        if method == "reduce" and ufunc.__name__ in _REDUCERS and not out:
            kwargs.setdefault("axis", 0)
            return reduce(inputs[0], _REDUCERS[ufunc.__name__], **kwargs)
        if method != "__call__" or kwargs:
            escape(rec, f"np.{ufunc.__name__}.{method} with {sorted(kwargs)} is not recorded"
                   if method != "__call__" else
                   f"np.{ufunc.__name__} with options {sorted(kwargs)} is not recorded")
        if ufunc is np.matmul:
            result = matmul(*inputs)
        elif name in UFUNCS:
            value = ufunc(*[value_of(x) for x in inputs])
            result = rec.add("ufunc", inputs, (name,), value)
        elif name == "positive":
            result = inputs[0]
        else:
            escape(rec, f"np.{ufunc.__name__} is not recorded by fastcheck's tracer")
        if out:
            target = out[0]
            if not isinstance(target, Traced):
                escape(rec, f"np.{ufunc.__name__}(..., out=) into a plain NumPy array")
            target._rebind(result)
            return target
        return result

    def __array_function__(self, func, types, args, kwargs):
        if self._rec.closed or not _any_dependent((args, kwargs)):
            result = func(*plain(args), **plain(kwargs))
            return self._rec.wrap(result) if isinstance(result, np.ndarray) and \
                not self._rec.closed else result
        impl = self._rec.functions.get(func)
        if impl is None:
            escape(self._rec, f"np.{func.__name__} of a value that depends on the parameters "
                   "is not recorded by fastcheck's tracer")
        return impl(*args, **kwargs)

    # ---- methods -----------------------------------------------------------------------
    def __getitem__(self, index):
        if self._rec.closed:
            return self._value[plain(index)]
        return getitem(self, index)

    def __setitem__(self, index, value):
        if self._rec.closed:
            self._value[plain(index)] = plain(value)
        else:
            setitem(self, index, value)

    def reshape(self, *shape, order="C"):
        if order != "C":
            escape(self._rec, "reshape with order other than 'C' is not recorded")
        return reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def ravel(self):
        return reshape(self, (-1,))

    flatten = ravel

    def copy(self, order="C"):
        return Traced(self._rec, self._id, self._value.copy())

    def astype(self, dtype, copy=True):
        return astype(self, dtype)

    def dot(self, other):
        return matmul(self, other, np.dot)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return reduce(self, "sum", axis, keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return reduce(self, "max", axis, keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return reduce(self, "min", axis, keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return reduce(self, "prod", axis, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return np.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return np.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def clip(self, a_min=None, a_max=None):
        return np.clip(self, a_min, a_max)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def argmax(self, *args, **kwargs):
        return self._escape("argmax", lambda v: v.argmax(*args, **kwargs))

    def argmin(self, *args, **kwargs):
        return self._escape("argmin", lambda v: v.argmin(*args, **kwargs))


_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
           "floordiv": "floor_divide", "mod": "remainder", "pow": "power",
           "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor"}
for _short, _name in _BINARY.items():
    setattr(Traced, f"__{_short}__", _ufunc_method(_name))
    setattr(Traced, f"__r{_short}__", _reflected(_name))
    setattr(Traced, f"__i{_short}__", _inplace(_name))
for _short, _name in {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                      "eq": "equal", "ne": "not_equal"}.items():
    setattr(Traced, f"__{_short}__", _ufunc_method(_name))
for _short, _name in {"neg": "negative", "abs": "absolute", "invert": "invert"}.items():
    setattr(Traced, f"__{_short}__", _ufunc_method(_name))
Traced.__pos__ = lambda self: self


# ---- primitive operations (each records one op) -------------------------------------

def assign(target, value):
    """An in-place write (``out=``) into the ``Traced`` ``target``: it now stands
    for ``value``, and so do its aliases."""
    target._rebind(value)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axis))


def reduce(x, fn, axis=None, keepdims=False, **ignored):
    """``np.<fn>(x, axis, keepdims=...)`` for fn in sum, max, min, prod."""
    rec = x._rec
    if ignored.get("out") is not None or ignored.get("initial", np._NoValue) is not np._NoValue \
            or ignored.get("where", True) is not True:
        escape(rec, f"np.{fn} with out=, initial= or where= is not recorded")
    if x.ndim == 0:
        return x
    axes = _axes(axis, x.ndim)
    value = getattr(np, fn)(x._value, axis=axes, keepdims=bool(keepdims))
    return rec.add("reduce", (x,), (fn, axes, bool(keepdims)), value)


def matmul(a, b, func=np.matmul):
    """``a @ b`` / ``np.dot`` (``func``) for operands of at most two dimensions."""
    rec = record_of((a, b))
    va, vb = value_of(a), value_of(b)
    if not (rec.depends(a) or rec.depends(b)):
        return rec.wrap(func(va, vb))
    if np.ndim(va) == 0 or np.ndim(vb) == 0:
        return np.multiply(a, b)
    if np.ndim(va) > 2 or np.ndim(vb) > 2:
        escape(rec, "a matrix product of arrays of more than two dimensions is not recorded "
               "(reshape them to 2-D)")
    return rec.add("matmul", (a, b), (), np.dot(va, vb))


def reshape(x, shape):
    rec = x._rec
    value = np.reshape(x._value, shape)
    if value.shape == x.shape:
        return Traced(rec, x._id, value)
    return rec.add("reshape", (x,), (value.shape,), value)


def transpose(x, axes=None):
    rec = x._rec
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(a) % x.ndim
                                                                      for a in axes)
    if axes == tuple(range(x.ndim)):
        return Traced(rec, x._id, x._value)
    return rec.add("transpose", (x,), (axes,), np.transpose(x._value, axes))


def astype(x, dtype):
    rec = x._rec
    value = x._value.astype(dtype)
    kind = value.dtype.kind
    if kind == "f":
        return Traced(rec, x._id, value) if x._value.dtype.kind == "f" else \
            rec.add("astype", (x,), ("f",), value)
    if kind in "iub":
        return rec.add("astype", (x,), ("b" if kind == "b" else "i",), value)
    escape(rec, f".astype({dtype}) is not recorded")


def full(rec, shape, fill):
    """A new array of ``shape`` filled with the scalar ``fill`` (np.zeros_like ...):
    data, until a parameter-dependent value is assigned into it."""
    if isinstance(fill, Traced):
        escape(rec, "a fill value that depends on the parameters is not recorded")
    return rec.wrap(np.full(shape, fill, dtype=float))


def where(cond, a, b):
    rec = record_of((cond, a, b))
    value = np.where(value_of(cond), value_of(a), value_of(b))
    return rec.add("where", (cond, a, b), (), value)


def concatenate(arrays, axis=0):
    arrays = list(arrays)
    rec = record_of(arrays)
    value = np.concatenate([value_of(v) for v in arrays], axis=axis)
    axis = int(axis) % value.ndim
    return rec.add("concat", arrays, (axis,), value)


def _index_key(index):
    """The index as NumPy would read it, with ranges and lists made arrays, and data
    (``Traced`` values that do not depend on the parameters) their values."""
    key = index if isinstance(index, tuple) else (index,)
    key = tuple(k if isinstance(k, Traced) and k._id is not None else plain(k) for k in key)
    return tuple(np.asarray(k) if isinstance(k, (range, list)) else k for k in key)


def _is_basic(key, ndim):
    return len(key) <= ndim and all(
        isinstance(k, slice) or (isinstance(k, (int, np.integer)) and not isinstance(k, bool))
        for k in key)


def _flat_positions(rec, shape, key):
    for k in key:
        if isinstance(k, Traced):
            escape(rec, "an index that depends on the parameters (a mask or an argmax "
                   "computed from them) is not recorded; use np.where or a product with "
                   "the mask")
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[key]


def getitem(x, index):
    rec = x._rec
    key = _index_key(index)
    if x._id is None and not any(map(rec.depends, key)):
        return rec.wrap(x._value[key])
    if len(key) == 1 and isinstance(key[0], Traced):
        _flat_positions(rec, x.shape, key)  # a parameter-dependent mask: refused
    if _is_basic(key, x.ndim):
        key = tuple(slice(*(None if v is None else int(v) for v in (k.start, k.stop, k.step)))
                    if isinstance(k, slice) else int(k) for k in key)
        return rec.add("index", (x,), (key,), x._value[key])
    flat = _flat_positions(rec, x.shape, key)
    value = x._value.reshape(-1)[flat]
    return rec.add("gather", (x, np.ascontiguousarray(flat.reshape(-1))),
                   (flat.shape,), value)


def setitem(x, index, v):
    """``x[index] = v`` as a new node that ``x`` (and its aliases) now stands for."""
    rec = x._rec
    key = _index_key(index)
    if len(key) == 1 and isinstance(key[0], Traced):
        mask = key[0]
        if mask.dtype.kind != "b" or mask.shape != x.shape or np.ndim(value_of(v)) > 0 and \
                np.broadcast_shapes(np.shape(value_of(v)), x.shape) != x.shape:
            _flat_positions(rec, x.shape, key)
        x._rebind(where(mask, v, x))
        return
    flat = _flat_positions(rec, x.shape, key)
    value = x._value.copy()
    value[key] = value_of(v)
    if np.broadcast_shapes(np.shape(value_of(v)), flat.shape) != flat.shape:
        escape(rec, f"assigning shape {np.shape(value_of(v))} into {flat.shape} elements "
               "is not recorded")
    x._rebind(rec.add("scatter", (x, np.ascontiguousarray(flat.reshape(-1)), v),
                      (flat.shape,), value))


def trace(func, names, shapes, theta, args, flat, functions):
    """Run ``func(params, *args)`` (``func(theta, *args)`` if ``flat``) once on
    ``Traced`` parameters.

    ``theta`` (P,) float64 holds the tensors of ``names``/``shapes`` in C order;
    ``functions`` are the NumPy functions to record (``tracefuncs.FUNCTIONS``:
    given here, since they are written over this module's operations).
    Returns ``(record, output)``: ``output`` is the node number of the cost's
    value (the first element of a returned tuple). Raises ``TraceEscape``
    naming the user's line, or ``CompileError`` for a cost whose value does not
    depend on the parameters.
    """
    rec = Record(functions)
    params, offset = {}, 0
    for name, shape in zip(names, shapes):
        size = int(np.prod(shape))
        value = theta[offset:offset + size].reshape(shape).copy()
        params[name] = rec.add("param", (), (offset, tuple(shape)), value)
        offset += size
    # Data arrays are wrapped too (without a node), so that the user's ``X.dot(W)``, a
    # method of a plain ndarray that NumPy would not dispatch, still records.
    args = [rec.wrap(a) if isinstance(a, np.ndarray) and a.dtype.kind in "biuf" else a
            for a in args]
    try:
        result = func(params["theta"] if flat else params, *args)
    finally:
        rec.closed = True
    if rec.escape:
        raise TraceEscape(rec.escape)
    while isinstance(result, tuple) and result:
        result = result[0]
    if not isinstance(result, Traced):
        raise CompileError("the traced cost returned a value that does not depend on the "
                           "parameters (computed outside NumPy, e.g. with float() or math)")
    if result.size != 1:
        raise CompileError(f"the cost returned an array of shape {result.shape}; it must "
                           "return a number or an array of one element")
    return rec, result._id

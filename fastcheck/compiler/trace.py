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

Each operation keeps the user's file and line that recorded it
(``Record.places``), so that a record Numba refuses (``tracegen.record_error``)
or the trust test refuses (``tracediff.explain``) is named by the user's line.
"""

import contextlib
import linecache
import os
import sys
import threading

import numpy as np

from ..errors import CompileError, source_place

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
_FASTCHECK = os.path.dirname(os.path.dirname(_HERE))
_TRACER = os.path.join(os.path.dirname(_HERE), "trace")  # trace.py, tracefuncs.py, ...
_OURS = {}  # a code object's file name -> True if fastcheck's or NumPy's
_POSITIONS = {}  # a code object -> its instructions' source positions


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
    computes in less than float64 somewhere; ``single`` holds the nodes whose
    value is float32 (the generated code rounds them as NumPy does).
    ``functions`` maps the NumPy functions recorded to their recording twins
    (``tracefuncs.FUNCTIONS``); any other is an escape.
    """

    def __init__(self, functions):
        self.functions = functions
        self.ops, self.consts, self.lowp, self.closed = [], [], False, False
        self._const_nodes = {}  # id(array) -> (array, node)
        self.escape = None
        self.single = set()  # the nodes whose value NumPy computes in float32
        self.owned = {}  # id(the user's array) -> (it, its Traced root): ``tracewrite``
        self.owned_at = ""  # the user's line of the first store into one
        self.swapped, self.swapped_ids = [], set()  # ``tracewrite._swap``
        self.places = []  # node k -> (file, line) of the user's code that recorded it
        self.values = None  # node k -> its eager value, when kept (``tracediff``)

    def add(self, kind, inputs, attrs, value):
        """Append an operation of ``inputs`` (``Traced``, arrays, numbers) whose eager
        result is ``value``; return it ``Traced``. An operation none of whose inputs
        depends on the parameters is not recorded: its result is data."""
        if self.closed:  # a Traced kept by the user's objects after the trace: plain NumPy
            return value
        if self.owned:
            inputs = [tracewrite.adopt(self, x) for x in inputs]
            for x in inputs:  # an owned array read: NumPy must not have changed it behind us
                if isinstance(x, Traced):
                    tracewrite.check_fresh(self, _root_of(x))
        if kind not in ("param", "const") and not any(map(self.depends, inputs)):
            return self.wrap(value, borrowed=False)
        args = [self.operand(x) for x in inputs]
        if len(self.ops) >= MAX_OPS:
            escape(self, f"the record passed {MAX_OPS} operations (loop-heavy code, such as "
                   "a convolution written as loops): tracing is for code built from objects "
                   "around array operations")
        value = np.asarray(value)
        self._note_dtype(value.dtype)
        dtype = "b" if value.dtype.kind == "b" else "i" if value.dtype.kind in "iu" else "f"
        if value.dtype == np.float32:
            self.single.add(len(self.ops))
        self.ops.append(Op(kind, tuple(args), tuple(attrs), value.shape, dtype))
        self.places.append(user_place())
        if self.values is not None:
            self.values.append(value.copy())
        return Traced(self, len(self.ops) - 1, _contiguous(value))

    def where(self, k):
        """``file.py:12: "source"`` of the user's line that recorded node ``k``, or ""."""
        place = self.places[k] if 0 <= k < len(self.places) else None
        if place is None:
            return ""
        text = linecache.getline(place[0], place[1]).strip()
        return f'{source_place(*place)}: "{text}"' if text else source_place(*place)

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

    def wrap(self, value, borrowed=True):
        """Data (a value that does not depend on the parameters) as the cost sees it:
        arrays stay ``Traced`` without a node, so that ``X.dot(W)`` still records.
        A ``borrowed`` array (the user's) is copied before the cost writes into it."""
        value = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if not value.ndim:
            return value[()]
        traced = Traced(self, None, _contiguous(value))
        traced._borrowed = borrowed
        return traced

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


def _contiguous(value):
    """``value`` in C order (np.ascontiguousarray, but a 0-d array stays 0-d)."""
    return value if value.flags.c_contiguous else value.copy(order="C")


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
        if not path.startswith((_TRACER, _NUMPY + os.sep)):
            line = frame.f_lineno
            text = linecache.getline(frame.f_code.co_filename, line).strip()
            place = source_place(frame.f_code.co_filename, line)
            return f'{place}: "{text}"' if text else place
        frame = frame.f_back
    return ""


_TRACER_FILES = {}  # a code object's file name -> True if the tracer's or NumPy's


def user_place():
    """``(file, line)`` of the innermost frame outside the tracer and NumPy, or None
    (``user_line`` without the source text: taken for every recorded operation)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        ours = _TRACER_FILES.get(name)
        if ours is None:
            ours = _TRACER_FILES[name] = os.path.realpath(name).startswith(
                (_TRACER, _NUMPY + os.sep))
        if not ours:
            return name, frame.f_lineno
        frame = frame.f_back
    return None


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

    A *root* owns its value (C-contiguous) and the node that value is; a *view*
    (basic indexing, reshape, transpose, as NumPy makes them) reads its root's
    elements at fixed positions: ``_root``, element offset ``_off`` and byte
    ``_strides`` into the root's buffer. A write through a view updates the root
    (a ``scatter`` node, and the buffer in place); each view re-reads its root
    when the root's version ``_ver`` moved, so aliasing is NumPy's.
    """

    __slots__ = ("_rec", "_node", "_val", "_root", "_off", "_strides", "_ver", "_borrowed",
                 "_mirror")
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, rec, node, value):
        self._rec, self._node, self._val = rec, node, value
        self._root = self._off = self._strides = None
        self._ver, self._borrowed = 0, False
        self._mirror = None  # the user's array a root owned by ``tracewrite`` writes through to

    # ---- views -------------------------------------------------------------------------
    def _sync(self):
        """A view whose root was written since it was read: its value and node anew."""
        root = self._root
        if root is None or self._ver == root._ver:
            return
        self._ver = root._ver
        self._val = _strided(root._val.reshape(-1), self._off, self._val.shape, self._strides)
        self._node = None
        if root._node is not None and not self._rec.closed:
            flat = self._positions().reshape(-1)
            self._node = self._rec.add("gather", (root, flat), (self._val.shape,),
                                       self._val.copy())._node

    @property
    def _id(self):
        self._sync()
        return self._node

    @property
    def _value(self):
        self._sync()
        return self._val

    def _positions(self):
        """The flat positions in its root's buffer of this array's elements (C order)."""
        root = self if self._root is None else self._root
        flat = np.arange(root._val.size, dtype=np.int64)
        if self._root is None:
            return flat.reshape(self._val.shape)
        return _strided(flat, self._off, self._val.shape,
                        tuple(s // root._val.itemsize * 8 for s in self._strides)).copy()

    def _rebind(self, other):
        """In-place update of every element (``x += y``, ``out=x``): NumPy's semantics,
        a view writing through to its root."""
        if self._rec.closed:
            self._val[...] = np.asarray(value_of(other), dtype=self._val.dtype)
            return
        if np.broadcast_shapes(np.shape(value_of(other)), self.shape) != self.shape:
            escape(self._rec, f"an in-place update changes shape {self.shape} to "
                   f"{np.shape(value_of(other))}")
        setitem(self, Ellipsis, other)

    shape = property(lambda self: self._value.shape)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    dtype = property(lambda self: self._value.dtype)
    itemsize = property(lambda self: self._value.itemsize)
    # the layout NumPy gives the value (a branch on it, as in ``if x.flags['C_CONTIGUOUS']``,
    # takes the path the cost takes: layouts do not change with the parameters' values)
    flags = property(lambda self: self._value.flags)
    nbytes = property(lambda self: self._value.nbytes)
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

    def __getattr__(self, name):
        """An array attribute or method the tracer does not record: refused, naming it
        (after the trace, the plain array's)."""
        if name.startswith("_"):
            raise AttributeError(name)
        if self._rec.closed or self._id is None:
            return getattr(self._value, name)
        if hasattr(np.ndarray, name):
            escape(self._rec, f"the array method .{name}() of a value that depends on the "
                   "parameters is not recorded by fastcheck's tracer")
        raise AttributeError(f"'numpy.ndarray' object has no attribute '{name}'")

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
        if not self._rec.closed and self._id is not None:
            target = tracewrite.store_target(self._rec)
            if target is not None:  # array[key] = self, into the user's own array
                tracewrite.store(self._rec, *target, self)
                return np.asarray(self._value, dtype=dtype)
        return self._escape("conversion to a plain NumPy array (np.array, np.asarray, or "
                            "a store into an array named by an expression the tracer does "
                            "not re-read, such as a call)",
                            lambda v: np.asarray(v, dtype=dtype),
                            "the record cannot follow it there (store into a name or an "
                            "attribute: w = obj.weights(); w[...] = value; or allocate the "
                            "array inside the cost, or np.stack a list)")

    # ---- NumPy protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rec = self._rec
        if rec.owned and not rec.closed:
            inputs = tracewrite.adopt(rec, inputs)
            if kwargs.get("out"):
                kwargs["out"] = tracewrite.adopt(rec, tuple(kwargs["out"]))
        if rec.closed or not _any_dependent((inputs, kwargs)):
            out = kwargs.get("out")
            if out and isinstance(out[0], Traced) and not rec.closed:
                _unborrow(_root_of(out[0]))
            result = getattr(ufunc, method)(*plain(inputs), **plain(kwargs))
            if out and isinstance(out[0], Traced) and not rec.closed:
                out[0]._written()
                return out[0]
            return result if rec.closed or not isinstance(result, np.ndarray) else \
                rec.wrap(result, borrowed=False)
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
            if isinstance(target, np.ndarray) and not isinstance(target, Traced):
                target = tracewrite.own(rec, target)  # out= the model's own array
            if not isinstance(target, Traced):
                escape(rec, f"np.{ufunc.__name__}(..., out=) into a "
                       f"{type(target).__name__} is not recorded")
            target._rebind(result)
            return target
        return result

    def __array_function__(self, func, types, args, kwargs):
        impl = self._rec.functions.get(func)
        if self._rec.owned and not self._rec.closed:
            args, kwargs = tracewrite.adopt(self._rec, (args, kwargs))
        if self._rec.closed or not _any_dependent((args, kwargs)):
            result = func(*plain(args), **plain(kwargs))
            if self._rec.closed or not isinstance(result, np.ndarray):
                return result
            return _data_result(self._rec, result, (args, kwargs))
        if impl is None:
            escape(self._rec, f"np.{func.__name__} of a value that depends on the parameters "
                   "is not recorded by fastcheck's tracer")
        return impl(*args, **kwargs)

    def _written(self):
        """The buffer of this data array was written by NumPy itself (``out=``)."""
        root = self if self._root is None else self._root
        root._ver += 1

    # ---- methods -----------------------------------------------------------------------
    def __getitem__(self, index):
        if self._rec.closed:
            return self._value[plain(index)]
        return getitem(self, index)

    def __setitem__(self, index, value):
        if self._rec.closed:
            self._value[plain(index)] = plain(value)
            if self._root is not None:
                _write_closed(self)
        else:
            setitem(self, index, value)

    def reshape(self, *shape, order="C"):
        if order != "C":
            escape(self._rec, "reshape with order other than 'C' is not recorded")
        return reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def ravel(self, order="C"):
        return reshape(self, (-1,))

    def flatten(self, order="C"):
        return reshape(self, (-1,)).copy()

    def copy(self, order="C"):
        return Traced(self._rec, self._id, _contiguous(self._value).copy())

    def fill(self, value):
        setitem(self, Ellipsis, value)

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

    def clip(self, a_min=None, a_max=None, out=None):
        return np.clip(self, a_min, a_max, out=out)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis)

    def argmax(self, axis=None, out=None, keepdims=False):
        return argreduce(self, "argmax", axis, keepdims, out)

    def argmin(self, axis=None, out=None, keepdims=False):
        return argreduce(self, "argmin", axis, keepdims, out)

    def argsort(self, axis=-1, kind=None, order=None):
        return argsort(self, axis, order)


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


# ---- views and buffers ------------------------------------------------------------------

def _strided(flat, offset, shape, strides):
    """The view of ``shape`` and byte ``strides`` starting at element ``offset`` of the
    1-D buffer ``flat``."""
    return np.lib.stride_tricks.as_strided(flat[offset:], shape, strides)


def _root_of(x):
    return x if x._root is None else x._root


def _as_view(result, source, value):
    """``result`` (a ``Traced`` just made from ``source``, whose NumPy value is
    ``value``) as a view of ``source``'s root when ``value`` shares its memory;
    else as it is (a root of its own)."""
    root = _root_of(source)
    base = root._val
    if not isinstance(value, np.ndarray) or not value.ndim or \
            not np.may_share_memory(value, base):
        return result
    item = base.itemsize
    offset = value.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if value.dtype != base.dtype or offset % item or any(s % item for s in value.strides) \
            or not base.flags.c_contiguous:
        escape(result._rec, f"a view of dtype {value.dtype} into an array of dtype "
               f"{base.dtype} is not recorded")
    result._val, result._root, result._off = value, root, offset // item
    result._strides, result._ver = value.strides, root._ver
    return result


def _data_result(rec, value, sources):
    """A NumPy function's result on data: a view of a data ``Traced`` among ``sources``
    if it shares its memory (a later write through either reaches the other)."""
    wrapped = rec.wrap(value, borrowed=False)
    if not isinstance(wrapped, Traced):
        return wrapped
    stack = [sources]
    while stack:
        s = stack.pop()
        if isinstance(s, Traced):
            if np.may_share_memory(value, _root_of(s)._val):
                return _as_view(wrapped, s, value)
        elif isinstance(s, (list, tuple)):
            stack.extend(s)
        elif isinstance(s, dict):
            stack.extend(s.values())
    return wrapped


def _unborrow(root):
    """The user's array a root wraps, copied before anything writes into it."""
    if root._borrowed:
        root._val, root._borrowed = root._val.copy(), False
        root._ver += 1


def _write_closed(view):
    view._root._ver += 1


def _write(x, flat, v, positions_node=None):
    """Write ``v`` at the flat ``positions`` of ``x``'s root (``flat``: an int array,
    or the values of the recorded ``positions_node``): the root's node becomes a
    scatter (or ``v`` itself when it replaces every element) and its buffer is
    updated in place, so that every view of it reads the new values."""
    rec, root = x._rec, _root_of(x)
    tracewrite.check_fresh(rec, root)
    _unborrow(root)
    new = root._val.copy()
    values = np.broadcast_to(np.asarray(value_of(v)), flat.shape)
    new.reshape(-1)[flat.reshape(-1)] = values.reshape(-1)
    whole = positions_node is None and flat.size == root.size and np.array_equal(
        flat.reshape(-1), np.arange(root.size))
    if whole and isinstance(v, Traced) and v._id is not None and v.shape == root.shape \
            and np.asarray(value_of(v)).dtype == root._val.dtype and x._root is None:
        node = v._id
    elif rec.depends(v) or root._id is not None or positions_node is not None:
        index = positions_node if positions_node is not None else \
            np.ascontiguousarray(flat.reshape(-1))
        node = rec.add("scatter", (root, index, v), (flat.shape,), new)._node
    else:
        node = None
    root._val[...] = new
    if root._mirror is not None:  # the user's own array holds what Python would leave there
        root._mirror[...] = new
    root._node = node
    root._ver += 1


def setitem(x, index, v):
    """``x[index] = v``, written into ``x``'s root (see ``_write``)."""
    rec = x._rec
    v = tracewrite.adopt(rec, v)
    key = _index_key(index)
    if len(key) == 1 and isinstance(key[0], Traced) and key[0].dtype.kind == "b":
        mask = key[0]
        if mask.shape != x.shape or np.ndim(value_of(v)) > 0 and \
                np.broadcast_shapes(np.shape(value_of(v)), x.shape) != x.shape:
            escape(rec, "an assignment through a boolean mask that depends on the "
                   "parameters, of a value not of the array's shape, is not recorded; "
                   "use np.where")
        v = where(mask, v, x)
        key = (Ellipsis,)
    if any(map(rec.depends, key)):
        positions, node = dynamic_positions(x, key)
        _check_fits(rec, v, positions.shape)
        return _write(x, positions, v, node)
    positions = x._positions()[key]
    _check_fits(rec, v, positions.shape)
    _write(x, np.asarray(positions), v)


def _check_fits(rec, v, shape):
    if np.broadcast_shapes(np.shape(value_of(v)), shape) != shape:
        escape(rec, f"assigning shape {np.shape(value_of(v))} into {shape} elements "
               "is not recorded")


# ---- primitive operations (each records one op) -------------------------------------

def assign(target, value):
    """An in-place write (``out=``) into the ``Traced`` ``target``."""
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


def argreduce(x, fn, axis=None, keepdims=False, out=None):
    """``np.argmax``/``np.argmin`` (fn), recomputed at every evaluation of the record."""
    rec = x._rec
    if out is not None:
        escape(rec, f"np.{fn} with out= is not recorded")
    value = getattr(np, fn)(x._value, axis=axis, keepdims=bool(keepdims))
    if x._id is None:
        return rec.wrap(value, borrowed=False)
    axis = None if axis is None else int(axis) % max(x.ndim, 1)
    return rec.add("argreduce", (x,), (fn, axis, bool(keepdims)), value)


def argsort(x, axis=-1, order=None):
    """``np.argsort`` along ``axis`` (None: of the flattened array); ties in the
    stable order (NumPy's default sort orders ties of more than 16 elements its own
    way; the values it sorts are the same)."""
    rec = x._rec
    if order is not None:
        escape(rec, "np.argsort with order= is not recorded")
    if axis is None:
        return argsort(reshape(x, (-1,)), -1)
    value = np.argsort(x._value, axis=axis, kind="stable")
    if x._id is None:
        return rec.wrap(value, borrowed=False)
    return rec.add("argsort", (x,), (int(axis) % x.ndim,), value)


def matmul(a, b, func=np.matmul):
    """``a @ b`` / ``np.dot`` (``func``); ``@`` of 3-D and higher arrays as a product
    of (B, m, k) by (B, k, n) stacks, after broadcasting the leading axes."""
    rec = record_of((a, b))
    a, b = tracewrite.adopt(rec, (a, b))
    va, vb = value_of(a), value_of(b)
    if not (rec.depends(a) or rec.depends(b)):
        return rec.wrap(func(va, vb), borrowed=False)
    if np.ndim(va) == 0 or np.ndim(vb) == 0:
        return np.multiply(a, b)
    if np.ndim(va) <= 2 and np.ndim(vb) <= 2:
        return rec.add("matmul", (a, b), (), np.dot(va, vb))
    if func is np.dot:
        escape(rec, "np.dot of arrays of more than two dimensions is not recorded "
               "(use @ or np.matmul, or np.tensordot)")
    expected = np.matmul(va, vb)
    if np.ndim(vb) == 2 and np.ndim(va) > 2:  # (..., m, k) @ (k, n): one matrix product
        flat = matmul(_reshape_any(a, (-1, np.shape(va)[-1])), b)
        return reshape(flat, expected.shape)
    if np.ndim(va) == 1:
        a = _reshape_any(a, (1,) + np.shape(va))
    if np.ndim(vb) == 1:
        b = _reshape_any(b, np.shape(vb) + (1,))
    sa, sb = np.shape(value_of(a)), np.shape(value_of(b))
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    count = int(np.prod(batch))
    a3 = _reshape_any(broadcast_to(a, batch + sa[-2:]), (count,) + sa[-2:])
    b3 = _reshape_any(broadcast_to(b, batch + sb[-2:]), (count,) + sb[-2:])
    value = np.matmul(value_of(a3), value_of(b3))
    product = rec.add("bmatmul", (a3, b3), (), value)
    return reshape(product, expected.shape)


def _reshape_any(x, shape):
    return reshape(x, shape) if isinstance(x, Traced) else np.reshape(x, shape)


def rearrange(x, how):
    """An operation that only moves elements, ``how(array)`` (np.repeat, np.tile,
    np.broadcast_to, np.flip, ...): recorded as a gather of ``x`` at the positions
    ``how`` gives its element numbers."""
    rec = x._rec
    value = _contiguous(how(x._value))
    if x._id is None:
        return rec.wrap(value, borrowed=False)
    positions = _contiguous(how(np.arange(x.size, dtype=np.int64).reshape(x.shape)))
    if positions.shape != value.shape:
        raise AssertionError("a rearrangement changed shape between values and positions")
    if not value.ndim:
        return rec.add("gather", (x, positions.reshape(-1)), ((),), value)
    return rec.add("gather", (x, positions.reshape(-1)), (value.shape,), value)


def broadcast_to(x, shape):
    shape = tuple(int(n) for n in shape)
    if not isinstance(x, Traced):
        return np.broadcast_to(x, shape)
    if x.shape == shape:
        return x
    return rearrange(x, lambda a: np.broadcast_to(a, shape))


def reshape(x, shape):
    rec = x._rec
    value = np.reshape(x._value, shape)
    if x._id is None:
        return _data_result(rec, value, (x,))
    if value.shape == x.shape:
        return _as_view(Traced(rec, x._id, value), x, value)
    return _as_view(rec.add("reshape", (x,), (value.shape,), value), x, value)


def transpose(x, axes=None):
    rec = x._rec
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(a) % x.ndim
                                                                      for a in axes)
    value = np.transpose(x._value, axes)
    if x._id is None:
        return _data_result(rec, value, (x,))
    if axes == tuple(range(x.ndim)):
        return _as_view(Traced(rec, x._id, value), x, value)
    return _as_view(rec.add("transpose", (x,), (axes,), value), x, value)


def astype(x, dtype):
    rec = x._rec
    value = x._value.astype(dtype)
    kind = value.dtype.kind
    if x._id is None:
        return rec.wrap(value, borrowed=False)
    if kind == "f":
        if x._value.dtype.kind == "f" and value.dtype.itemsize >= x._value.dtype.itemsize:
            return Traced(rec, x._id, _contiguous(value))
        return rec.add("astype", (x,), ("f",), value)
    if kind in "iub":
        return rec.add("astype", (x,), ("b" if kind == "b" else "i",), value)
    escape(rec, f".astype({dtype}) is not recorded")


def full(rec, shape, fill, dtype=float):
    """A new array of ``shape`` filled with ``fill`` (np.zeros_like ...): data until a
    value that depends on the parameters is written into it (or ``fill`` is one)."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    if rec.depends(fill):
        if fill.ndim:
            escape(rec, "a fill value that is an array depending on the parameters is "
                   "not recorded")
        filled = broadcast_to(reshape(fill, (1,) * len(shape)), shape) if shape else fill
        return filled if filled.dtype == np.dtype(dtype) else astype(filled, dtype)
    return rec.wrap(np.full(shape, value_of(fill), dtype=dtype), borrowed=False)


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


def getitem(x, index):
    rec = x._rec
    key = _index_key(index)
    if any(map(rec.depends, key)):
        if len(key) == 1 and key[0].dtype.kind == "b":
            escape(rec, "indexing with a boolean mask that depends on the parameters is not "
                   "recorded (its result's size depends on them); use np.where or a "
                   "product with the mask")
        _, node = dynamic_positions(x, key)
        value = x._value[tuple(value_of(k) for k in key)]
        return rec.add("gather", (_root_of(x), node), (np.shape(value),), value)
    value = x._value[key]
    if x._id is None:
        return _data_result(rec, value, (x,))
    if _is_basic(key, x.ndim):
        key = tuple(slice(*(None if v is None else int(v) for v in (k.start, k.stop, k.step)))
                    if isinstance(k, slice) else int(k) for k in key)
        return _as_view(rec.add("index", (x,), (key,), value), x, value)
    flat = np.arange(x.size, dtype=np.int64).reshape(x.shape)[key]
    return _as_view(rec.add("gather", (x, np.ascontiguousarray(flat.reshape(-1))),
                            (flat.shape,), value), x, value)


def dynamic_positions(x, key):
    """Flat positions in ``x``'s root selected by ``key``, of which some integer index
    arrays depend on the parameters (an argmax, an argsort): ``(positions, node)``,
    the positions at this point and the recorded node that recomputes them (int64,
    flat), the dependent indices checked in range and wrapped as NumPy wraps them."""
    rec = x._rec
    if len(key) > x.ndim or any(k is None or k is Ellipsis or isinstance(k, bool) or
                                (np.ndim(value_of(k)) and value_of(k).dtype.kind == "b")
                                for k in key):
        escape(rec, "an index that depends on the parameters, mixed with None, ... or "
               "boolean masks, is not recorded")
    dependent = [i for i, k in enumerate(key) if rec.depends(k)]
    for i in dependent:
        if key[i].dtype.kind not in "iu":
            escape(rec, f"an index of dtype {key[i].dtype} is not recorded")
    zeros = tuple(np.zeros(k.shape, dtype=np.int64) if i in dependent else k
                  for i, k in enumerate(key))
    base = x._positions()[zeros]
    positions = x._positions()[tuple(value_of(k) for k in key)]
    advanced = [i for i, k in enumerate(key) if not isinstance(k, slice)]
    adv_shape = np.broadcast_shapes(*(np.shape(value_of(key[i])) for i in advanced))
    adjacent = advanced == list(range(advanced[0], advanced[-1] + 1))
    before = sum(isinstance(k, slice) for k in key[:advanced[0]]) if adjacent else 0
    after = base.ndim - before - len(adv_shape)
    # x's positions in its root are affine in the index: base + sum of steps * index
    own = x._positions()
    origin = own[(0,) * x.ndim]
    total = rec.wrap(np.ascontiguousarray(base.reshape(-1)), borrowed=False)
    for i in dependent:
        d = key[i]
        elements = np.arange(d.size, dtype=np.int64).reshape(d.shape)
        elements = np.broadcast_to(elements, adv_shape).reshape(
            (1,) * before + adv_shape + (1,) * after)
        elements = np.broadcast_to(elements, base.shape).reshape(-1)
        picked = rec.add("gather", (d, np.ascontiguousarray(elements)),
                         (base.shape,), value_of(d).reshape(-1)[elements].reshape(base.shape))
        n = x.shape[i]
        wrapped = rec.add("wrapindex", (picked,), (n,), np.mod(value_of(picked), n))
        step = own[(0,) * i + (1,) + (0,) * (x.ndim - i - 1)] - origin if n > 1 else 0
        total = total + reshape(wrapped, (-1,)) * int(step)
    return np.asarray(positions), total


def _called_by_user(name, depth=2):
    """True if the caller's caller is the user's code (not fastcheck's, not NumPy's)
    calling ``name`` itself: not NumPy's compiled code (np.random's) calling it for
    the user's line, which shows no frame of its own."""
    frame = sys._getframe(depth)
    code = frame.f_code
    ours = _OURS.get(code.co_filename)
    if ours is None:
        path = os.path.realpath(code.co_filename)
        ours = _OURS[code.co_filename] = path.startswith((_FASTCHECK + os.sep, _NUMPY + os.sep))
    if ours:
        return False
    positions = _POSITIONS.get(code)
    if positions is None:
        positions = _POSITIONS[code] = list(code.co_positions())
    line, end, col, end_col = positions[frame.f_lasti // 2]
    if line is None or col is None:
        return True
    lines = [linecache.getline(code.co_filename, k) for k in range(line, (end or line) + 1)]
    text = "".join(lines)[col:] if len(lines) > 1 else lines[0][col:end_col]
    return not text.strip() or text.split("(", 1)[0].strip().endswith(name)


def _holds_traced(obj):
    return isinstance(obj, (list, tuple)) and any(
        isinstance(v, Traced) or _holds_traced(v) for v in obj)


def _stack_nested(a):
    return np.stack([_stack_nested(v) if _holds_traced(v) else v for v in a])


@contextlib.contextmanager
def allocations(rec):
    """While the cost runs (in this thread, called from the user's code): np.zeros,
    np.ones, np.empty and np.full return arrays the record follows, so that writes
    into them are recorded; np.array, np.asarray, np.sum and np.mean of a list
    holding recorded values stack it; np.c_ and np.r_ of them concatenate."""
    thread = threading.get_ident()
    saved = {name: getattr(np, name) for name in
             ("zeros", "ones", "empty", "full", "array", "asarray", "ascontiguousarray", "sum",
              "mean", "c_", "r_")}

    def allocator(name):
        original = saved[name]

        def allocate(*args, **kwargs):
            # np.empty's values are unspecified: zeros are some, and keep the record's
            # constants (its cache key) the same from one trace to the next
            value = (saved["zeros"] if name == "empty" else original)(*args, **kwargs)
            if rec.closed or threading.get_ident() != thread or not _called_by_user(name) or \
                    not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                return value
            return rec.wrap(value, borrowed=False)
        return allocate

    def of_list(name):
        original = saved[name]

        def stacked(a, *args, **kwargs):
            if name in ("array", "asarray", "ascontiguousarray") and isinstance(a, Traced) \
                    and not rec.closed \
                    and threading.get_ident() == thread and a._id is not None:
                # np.asarray(p[name], dtype=np.float32): a cast (a copy for np.array)
                dtype = kwargs.get("dtype", args[0] if args else None)
                if dtype is not None and np.dtype(dtype) != a.dtype:
                    return astype(a, dtype)
                if name == "ascontiguousarray":
                    return a if a.flags["C_CONTIGUOUS"] else a.copy()
                return a.copy() if name == "array" and kwargs.get("copy", True) else a
            if not rec.closed and threading.get_ident() == thread and _holds_traced(a):
                a = _stack_nested(a)
                if name == "array" or name == "asarray":
                    dtype = kwargs.get("dtype", args[0] if args else None)
                    return a if dtype is None else astype(a, dtype)
            return original(a, *args, **kwargs)
        return stacked

    def index_concatenator(name):
        original = saved[name]

        class Concatenator:
            """np.c_[a, b] (1-D items as columns, along the last axis) and np.r_[a, b]
            (along the first) of arrays, one a recorded value: a concatenation."""
            def __getitem__(self, key):
                items = key if isinstance(key, tuple) else (key,)
                if rec.closed or threading.get_ident() != thread or \
                        not any(isinstance(v, Traced) for v in items) or \
                        any(isinstance(v, (slice, str)) for v in items):
                    return original[key]    # slices and strings: NumPy's own (refused there)
                least = 2 if name == "c_" else 1
                arrays = []
                for v in items:
                    shape = np.shape(value_of(v))
                    if len(shape) < least:
                        shape = (1, 1) if not shape and least == 2 else \
                            (shape[0], 1) if least == 2 else (1,)
                    arrays.append(v.reshape(shape) if isinstance(v, Traced) else
                                  np.reshape(v, shape))
                return concatenate(arrays, np.ndim(value_of(arrays[0])) - 1 if name == "c_" else 0)
        return Concatenator()

    for name in ("c_", "r_"):
        setattr(np, name, index_concatenator(name))
    for name in ("zeros", "ones", "empty", "full"):
        setattr(np, name, allocator(name))
    for name in ("array", "asarray", "ascontiguousarray", "sum", "mean"):
        setattr(np, name, of_list(name))
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(np, name, original)


def trace(func, names, shapes, theta, args, flat, functions, keep=False):
    """Run ``func(params, *args)`` (``func(theta, *args)`` if ``flat``) once on
    ``Traced`` parameters.

    ``theta`` (P,) float64 holds the tensors of ``names``/``shapes`` in C order;
    ``functions`` are the NumPy functions to record (``tracefuncs.FUNCTIONS``:
    given here, since they are written over this module's operations).
    Returns ``(record, output)``: ``output`` is the node number of the cost's
    value (the first element of a returned tuple). Raises ``TraceEscape``
    naming the user's line, or ``CompileError`` for a cost whose value does not
    depend on the parameters. ``keep``: the record keeps each node's value too.
    """
    rec = Record(functions)
    if keep:
        rec.values = []
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
        with allocations(rec):
            result = func(params["theta"] if flat else params, *args)
        tracewrite.check_all_fresh(rec)
    finally:
        rec.closed = True
        tracewrite.release(rec)
    if rec.escape:
        raise TraceEscape(rec.escape)
    while isinstance(result, tuple) and result:
        result = result[0]
    if not isinstance(result, Traced) and rec.owned:
        raise CompileError(f"the traced cost returned a value that does not depend on the "
                           f"parameters: after storing them into an array of its own "
                           f"({rec.owned_at}) it computed its value with NumPy operations "
                           "on plain arrays only, which the tracer cannot see (return or "
                           "combine a recorded value, e.g. out = np.maximum(z, 0) rather "
                           "than out= into the stored array)")
    if not isinstance(result, Traced):
        raise CompileError("the traced cost returned a value that does not depend on the "
                           "parameters (computed outside NumPy, e.g. with float() or math)")
    if result.size != 1:
        raise CompileError(f"the cost returned an array of shape {result.shape}; it must "
                           "return a number or an array of one element")
    return rec, result._id


from . import tracewrite  # noqa: E402  (it builds on this module's Traced)

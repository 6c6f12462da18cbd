"""Numba-compilable stand-ins for the NumPy idioms course code uses and Numba lacks.

``np.squeeze``, ``keepdims=`` on ``np.sum``/``max``/``min``/``mean``,
``axis=`` on ``max``/``min``/``mean``/``var``/``std``/``argmax``, ``np.pad``
in constant mode, ``np.linalg.norm`` with ``axis=``, and ``float(x)`` of a 0-d
or one-element array.

Each shim is a plain Python stub with a Numba ``overload``; ``source`` puts the
stub in the namespace a *copied* user function sees (a stand-in module for
``np``, a global ``float``), so NumPy, the user's modules and Numba's own
typing of ``np.sum`` elsewhere are untouched. Overloading ``np.sum`` itself
would have changed it for every Numba function in the process.

``axis`` and ``keepdims`` must be constants (literals) in the user's code: the
result's ndim depends on them, and Numba types it before running. Result
dtypes are NumPy's (found by asking NumPy about a one-element array of the
input's dtype); the values are NumPy's up to the rounding of a plain loop sum
against NumPy's pairwise one (``tests/test_shims.py``).

``np.squeeze`` without ``axis`` cannot know which dimensions are 1 when it is
typed; it returns a 0-d array (what NumPy returns for a cost of shape (1, 1))
and raises ``ValueError`` at run time for an array of more than one element.
"""

import builtins
import hashlib
import inspect

import numpy as np
from numba.core import types
from numba.core.errors import TypingError
from numba import njit
from numba.extending import overload


def squeeze(a, axis=None):
    """Stub of ``np.squeeze`` for compiled user code."""
    return np.squeeze(a, axis=axis)


def sum(a, axis=None, dtype=None, out=None, keepdims=False):  # noqa: A001 (NumPy's name)
    """Stub of ``np.sum`` for compiled user code."""
    return np.sum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)


def max(a, axis=None, out=None, keepdims=False):  # noqa: A001
    """Stub of ``np.max`` for compiled user code."""
    return np.max(a, axis=axis, out=out, keepdims=keepdims)


def min(a, axis=None, out=None, keepdims=False):  # noqa: A001
    """Stub of ``np.min`` for compiled user code."""
    return np.min(a, axis=axis, out=out, keepdims=keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """Stub of ``np.mean`` for compiled user code."""
    return np.mean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Stub of ``np.var`` for compiled user code."""
    return np.var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Stub of ``np.std`` for compiled user code."""
    return np.std(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)


def argmax(a, axis=None, out=None, keepdims=False):
    """Stub of ``np.argmax`` for compiled user code."""
    return np.argmax(a, axis=axis, out=out, keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (NumPy's name)
    """Stub of ``np.linalg.norm`` for compiled user code."""
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def pad(array, pad_width, mode="constant", constant_values=0):
    """Stub of ``np.pad`` (constant mode) for compiled user code."""
    return np.pad(array, pad_width, mode=mode, constant_values=constant_values)


def to_float(x):
    """Stub of ``float`` for compiled user code: also 0-d and one-element arrays."""
    return builtins.float(x)


#: (module name, attribute) -> stub; ``source`` swaps these in.
SHIMS = {("numpy", name): globals()[name]
         for name in ("squeeze", "sum", "max", "min", "mean", "var", "std", "argmax", "pad")}
SHIMS.update({("numpy", "amax"): max, ("numpy", "amin"): min,
              ("numpy.linalg", "norm"): norm})
#: Builtins replaced where they are only ever called (``dtype=float`` keeps the type).
BUILTINS = {"float": to_float}

#: Digest of this module's source: compiled code that used a shim depends on it.
DIGEST = hashlib.sha256(inspect.getsource(inspect.getmodule(squeeze)).encode()).hexdigest()


def _absent(value):
    return value is None or isinstance(value, (types.Omitted, types.NoneType))


def _literal(value, name, default):
    """The constant value of a literal argument, the default when it is absent."""
    if _absent(value):
        return default
    if not isinstance(value, types.Type):  # the stub's default, when the call omits it
        return value
    if isinstance(value, types.Literal):
        return value.literal_value
    raise TypingError(f"fastcheck's compiled np functions need {name}= as a constant "
                      f"written in the call (got a value of type {value}); write it out, "
                      f"e.g. {name}=1")


def _refuse_given(**arguments):
    for name, value in arguments.items():
        if not _absent(value):
            raise TypingError(f"fastcheck's compiled np functions do not take {name}=; "
                              "compute without it")


def _build(source, name, namespace):
    scope = {"np": np, **namespace}
    exec(compile(source, f"<fastcheck shim {name}>", "exec"), scope)  # noqa: S102 (generated, no user text)
    return scope[name]


def _reduction(a, axis, keepdims, name, reducer, dtype_of, params):
    """Implementation of ``np.<name>(a, axis=<literal>, keepdims=<literal>)``.

    ``a`` is the Numba type of the first argument, ``reducer(row)`` reduces a
    1-D contiguous array, ``dtype_of`` is NumPy's result dtype and ``params``
    the stub's parameter list, which the implementation must repeat; its first
    parameter is the array.
    """
    axis = _literal(axis, "axis", None)
    keepdims = bool(_literal(keepdims, "keepdims", False))
    first = params.split(",")[0]
    out = np.dtype(dtype_of)
    scope = {"reducer": reducer, "out": out, "cast": out.type}
    if isinstance(a, (types.Number, types.Boolean)):
        value = f"reducer(np.array([{first}]))"
        if axis not in (None, 0, -1):
            raise TypingError(f"np.{name}: axis {axis!r} is out of bounds for a number")
        body = (f"    return np.full((), {value}, dtype=cast)\n" if keepdims or axis is not None
                else f"    return cast({value})\n")
        return _build(f"def impl({params}):\n{body}", "impl", scope)
    if not isinstance(a, types.Array):
        raise TypingError(f"fastcheck's compiled np.{name} takes an array, got {a}")
    ndim = a.ndim
    if axis is None:
        body = f"    value = reducer(np.ravel({first}))\n"
        if keepdims:
            body += f"    return np.full({(1,) * ndim!r}, value, dtype=cast)\n"
        else:
            body += "    return cast(value)\n"
        return _build(f"def impl({params}):\n{body}", "impl", scope)
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise TypingError(f"np.{name}: axis {axis!r} is out of bounds for an array of "
                          f"{ndim} dimension(s) (fastcheck's compiled version takes one "
                          "constant axis)")
    axis %= ndim
    others = [d for d in range(ndim) if d != axis]
    rows = " * ".join(f"s[{d}]" for d in others) or "1"
    shape = ([f"s[{d}]" if d != axis else "1" for d in range(ndim)] if keepdims
             else [f"s[{d}]" for d in others])
    shape_src = "(" + "".join(f"{x}, " for x in shape) + ")"
    # Each line along the axis is copied into one buffer and reduced, the lines
    # taken in C order of the other axes: what NumPy's moveaxis-then-reduce
    # gives, written as loops because Numba's np.transpose and reshape take
    # seconds to compile in every process that compiles a cost.
    line_at = ", ".join("j" if d == axis else f"i{d}" for d in range(ndim))
    out_at = ", ".join("0" if d == axis else f"i{d}" for d in range(ndim) if keepdims or d != axis)
    src = (f"def impl({params}):\n"
           f"    s = {first}.shape\n"
           f"    res = np.empty({shape_src if out_at else '(1,)'}, dtype=cast)\n"
           f"    line = np.empty(s[{axis}], dtype={first}.dtype)\n")
    indent = "    "
    for d in others:
        src += f"{indent}for i{d} in range(s[{d}]):\n"
        indent += "    "
    src += (f"{indent}for j in range(s[{axis}]):\n"
            f"{indent}    line[j] = {first}[{line_at}]\n"
            f"{indent}res[{out_at or '0'}] = reducer(line)\n"
            f"    return res{'' if out_at else '.reshape(())'}\n")
    return _build(src, "impl", scope)


def _row(source):
    """A compiled reducer of a 1-D contiguous array ``x``: ``return <source>``."""
    return njit(fastmath=False)(_build(f"def row(x):\n    return {source}\n", "row", {}))


def _numpy_dtype(numba_type):
    if isinstance(numba_type, types.Array):
        numba_type = numba_type.dtype
    return np.dtype(np.bool_) if isinstance(numba_type, types.Boolean) else np.dtype(str(numba_type))


@overload(squeeze, prefer_literal=True, jit_options={"fastmath": False})
def _squeeze(a, axis=None):
    if isinstance(a, (types.Number, types.Boolean)):
        return lambda a, axis=None: np.full((), a)
    if not isinstance(a, types.Array):
        raise TypingError(f"fastcheck's compiled np.squeeze takes an array, got {a}")
    axis = _literal(axis, "axis", None)
    if axis is None:
        def squeeze_all(a, axis=None):
            if a.size != 1:
                raise ValueError("compiled np.squeeze without axis= needs an array of one "
                                 "element (its result ndim must be known when compiling); "
                                 "give axis=")
            return np.ascontiguousarray(a).reshape(())
        return squeeze_all
    given = axis if isinstance(axis, tuple) else (axis,)
    axes = {d % a.ndim for d in given if -a.ndim <= d < a.ndim}
    if len(axes) != len(given):
        raise TypingError(f"np.squeeze: axis {axis!r} is out of bounds or repeated for an "
                          f"array of {a.ndim} dimension(s)")
    kept = "(" + "".join(f"s[{d}], " for d in range(a.ndim) if d not in axes) + ")"
    checks = " or ".join(f"s[{d}] != 1" for d in sorted(axes))
    src = ("def impl(a, axis=None):\n"
           "    s = a.shape\n"
           f"    if {checks}:\n"
           "        raise ValueError('cannot select an axis to squeeze out which has size "
           "not equal to one')\n"
           f"    return np.ascontiguousarray(a).reshape({kept})\n")
    return _build(src, "impl", {})


def _simple(name):
    """The overload of a stub of signature ``(a, axis, out, keepdims)`` or with ``dtype``."""
    params = ", ".join(f"{p}={v.default!r}" if v.default is not inspect.Parameter.empty else p
                       for p, v in inspect.signature(SHIMS[("numpy", name)]).parameters.items())
    reducer = _row(f"np.{name}(x)")

    def typer(a, axis, keepdims, **given):
        if name == "sum" and _native_sum(axis, keepdims, given):
            return _build(f"def impl({params}):\n    return np.sum(a, axis=axis, dtype=dtype)\n",
                          "impl", {})
        _refuse_given(**given)
        result = getattr(np, name)(np.ones(2, dtype=_numpy_dtype(a))).dtype
        return _reduction(a, axis, keepdims, name, reducer, result, params)

    scope = {"typer": typer}
    rest = [p.split("=")[0] for p in params.split(", ")[1:] if p.split("=")[0] not in
            ("axis", "keepdims")]
    src = (f"def overload_impl({params}):\n"
           f"    return typer(a, axis, keepdims{''.join(f', {p}={p}' for p in rest)})\n")
    overload(SHIMS[("numpy", name)], prefer_literal=True,
             jit_options={"fastmath": False})(_build(src, "overload_impl", scope))


def _native_sum(axis, keepdims, given):
    """True for the ``np.sum`` calls Numba compiles itself and the shim does not
    take: an axis computed at run time, or ``dtype=``, without ``keepdims``."""
    if _literal(keepdims, "keepdims", False) or not _absent(given.get("out")):
        return False
    variable_axis = isinstance(axis, types.Integer) and not isinstance(axis, types.Literal)
    return variable_axis or not _absent(given.get("dtype"))


for _name in ("sum", "max", "min", "mean", "argmax"):
    _simple(_name)


def _spread(name):
    """The overload of ``np.var`` or ``np.std``, with a constant ``ddof``."""
    params = "a, axis=None, dtype=None, out=None, ddof=0, keepdims=False"

    def typer(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _refuse_given(dtype=dtype, out=out)
        ddof = _literal(ddof, "ddof", 0)
        result = getattr(np, name)(np.ones(2, dtype=_numpy_dtype(a)), ddof=ddof).dtype
        var = f"np.var(x) * x.size / (x.size - {ddof})" if ddof else "np.var(x)"
        reducer = _row(f"np.sqrt({var})" if name == "std" else var)
        return _reduction(a, axis, keepdims, name, reducer, result, params)

    overload(SHIMS[("numpy", name)], prefer_literal=True,
             jit_options={"fastmath": False})(typer)


_spread("var")
_spread("std")


@overload(norm, prefer_literal=True, jit_options={"fastmath": False})
def _norm(x, ord=None, axis=None, keepdims=False):
    _refuse_given(ord=ord)
    result = np.linalg.norm(np.ones(2, dtype=_numpy_dtype(x))).dtype
    return _reduction(x, axis, keepdims, "linalg.norm", _row("np.sqrt(np.sum(x * x))"),
                      result, "x, ord=None, axis=None, keepdims=False")


def _pairs(value, ndim, name):
    """Source of the (before, after) pair of each axis from a NumPy-style ``value``
    argument (a number, ``(n,)``, ``(before, after)``, or one such per axis)."""
    if isinstance(value, (types.Number, types.Boolean)):
        return [(name, name)] * ndim
    if isinstance(value, types.BaseTuple) and len(value) in (1, 2) and all(
            isinstance(t, (types.Number, types.Boolean)) for t in value):
        return [(f"{name}[0]", f"{name}[{len(value) - 1}]")] * ndim
    if isinstance(value, types.BaseTuple) and len(value) in (1, ndim) and all(
            isinstance(t, types.BaseTuple) and len(t) in (1, 2) for t in value):
        return [(f"{name}[{k}][0]", f"{name}[{k}][{len(value[k]) - 1}]")
                for k in (range(ndim) if len(value) == ndim else [0] * ndim)]
    raise TypingError(f"np.pad: {name} of type {value} does not fit an array of {ndim} "
                      "dimension(s); give a number, (before, after), or one pair per axis")


@overload(pad, prefer_literal=True, jit_options={"fastmath": False})
def _pad(array, pad_width, mode="constant", constant_values=0):
    if not isinstance(array, types.Array):
        raise TypingError(f"fastcheck's compiled np.pad takes an array, got {array}")
    if _literal(mode, "mode", "constant") != "constant":
        raise TypingError("fastcheck's compiled np.pad has mode='constant' only")
    ndim = array.ndim
    widths = _pairs(pad_width, ndim, "pad_width")
    values = (_pairs(constant_values, ndim, "constant_values")
              if not isinstance(constant_values, int) else [("0", "0")] * ndim)
    lines = ["def impl(array, pad_width, mode='constant', constant_values=0):",
             "    s = array.shape"]
    for d, (before, after) in enumerate(widths):
        lines.append(f"    b{d} = {before}")
        lines.append(f"    a{d} = {after}")
        lines.append(f"    if b{d} < 0 or a{d} < 0:")
        lines.append("        raise ValueError(\"index can't contain negative values\")")
    lines.append("    out = np.empty((" + "".join(f"s[{d}] + b{d} + a{d}, " for d in range(ndim))
                 + "), dtype=array.dtype)")
    inner = [f"b{d}:b{d} + s[{d}]" for d in range(ndim)]
    if ndim:
        # The copy as loops: Numba's array-into-slice assignment takes seconds to
        # compile in every process that compiles a cost.
        for d in range(ndim):
            lines.append("    " * (d + 1) + f"for i{d} in range(s[{d}]):")
        lines.append("    " * (ndim + 1)
                     + f"out[{', '.join(f'b{d} + i{d}' for d in range(ndim))}] = "
                     f"array[{', '.join(f'i{d}' for d in range(ndim))}]")
    else:
        lines.append("    out[...] = array")
    for d, (left, right) in enumerate(values):
        head = [":"] * d
        tail = inner[d + 1:]
        lines.append(f"    out[{', '.join(head + [f':b{d}'] + tail)}] = {left}")
        lines.append(f"    out[{', '.join(head + [f'b{d} + s[{d}]:'] + tail)}] = {right}")
    lines.append("    return out")
    return _build("\n".join(lines) + "\n", "impl", {})


@overload(to_float, jit_options={"fastmath": False})
def _to_float(x):
    if isinstance(x, types.Complex):
        raise TypingError("float() of a complex number: the cost cannot run on complex values")
    if isinstance(x, (types.Number, types.Boolean)):
        return lambda x: float(x)
    if isinstance(x, types.Array) and not isinstance(x.dtype, types.Complex):
        def array_to_float(x):
            if x.size != 1:
                raise TypeError("only arrays of one element can be converted to float")
            return float(x.item())
        return array_to_float
    raise TypingError(f"float() of {x} does not compile")

"""The NumPy functions the tracer records, written over its primitive operations.

``FUNCTIONS`` maps a NumPy function to its recording twin; a trace is given
it (``trace.trace``), ``Traced``'s ``__array_function__`` looks every call up
there, and any function missing is an escape that names the user's line.
Each twin computes what NumPy does (``np.var`` as the mean of squared
deviations, ``np.clip`` as a maximum then a minimum), so the record's value
equals the Python cost's to rounding.
"""

import numpy as np

from . import tracewrite
from .trace import (Traced, argreduce, argsort, assign, broadcast_to, concatenate, escape,
                    full, getitem, matmul, rearrange, record_of, reduce, reshape, setitem,
                    transpose, value_of, where)


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return reduce(a, "sum", axis, keepdims, out=out, **kw)


def _max(a, axis=None, out=None, keepdims=False, **kw):
    return reduce(a, "max", axis, keepdims, out=out, **kw)


def _min(a, axis=None, out=None, keepdims=False, **kw):
    return reduce(a, "min", axis, keepdims, out=out, **kw)


def _prod(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return reduce(a, "prod", axis, keepdims, out=out, **kw)


def _count(a, axis):
    shape = np.shape(value_of(a))
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    return int(np.prod([shape[int(k)] for k in axes]))


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return _sum(a, axis, out=out, keepdims=keepdims, **kw) / _count(a, axis)


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    deviation = a - _mean(a, axis, keepdims=True)
    return _sum(deviation * deviation, axis, out=out, keepdims=keepdims, **kw) / (
        _count(a, axis) - ddof)


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return np.sqrt(_var(a, axis, out=out, ddof=ddof, keepdims=keepdims, **kw))


def _reshape(a, shape=None, order="C", **kw):
    shape = kw.get("newshape", shape)
    if isinstance(a, Traced):
        return a.reshape(shape, order=order)
    return np.reshape(a, shape, order=order)


def _transpose(a, axes=None):
    return transpose(a, axes)


def _dot(a, b, out=None):
    if out is not None:
        escape(record_of((a, b)), "np.dot(..., out=) is not recorded")
    return matmul(a, b, np.dot)


def _outer(a, b, out=None):
    return np.multiply(np.ravel(a)[:, None] if not isinstance(a, Traced) else
                       a.reshape(-1, 1), b.reshape(1, -1) if isinstance(b, Traced)
                       else np.ravel(b)[None, :])


def _expand(a, ndim_at_least):
    value = value_of(a)
    if np.ndim(value) >= ndim_at_least:
        return a
    shape = np.atleast_2d(value).shape if ndim_at_least == 2 else np.atleast_1d(value).shape
    return a.reshape(shape) if isinstance(a, Traced) else np.reshape(a, shape)


def _concatenate(arrays, axis=0, out=None, **kw):
    if out is not None or kw:
        escape(record_of(arrays), "np.concatenate with out= or dtype= is not recorded")
    return concatenate(arrays, axis)


def _stack(arrays, axis=0, out=None, **kw):
    arrays = list(arrays)
    ndim = np.ndim(value_of(arrays[0])) + 1
    axis = int(axis) % ndim
    expanded = []
    for a in arrays:
        shape = list(np.shape(value_of(a)))
        shape.insert(axis, 1)
        expanded.append(a.reshape(shape) if isinstance(a, Traced) else np.reshape(a, shape))
    return _concatenate(expanded, axis, out, **kw)


def _column_stack(tup):
    return _concatenate([a.reshape(-1, 1) if np.ndim(value_of(a)) == 1 and isinstance(a, Traced)
                         else np.reshape(a, (-1, 1)) if np.ndim(a) == 1 else _expand(a, 2)
                         for a in tup], 1)


def _dstack(tup):
    arrays = []
    for a in tup:
        shape = np.atleast_3d(value_of(a)).shape
        arrays.append(a.reshape(shape) if isinstance(a, Traced) else np.reshape(a, shape))
    return _concatenate(arrays, 2)


def _einsum(subscripts, *operands, optimize=False, **kw):
    return einsum(subscripts, *operands, **kw)


def einsum(subscripts, *operands, **kw):
    """``np.einsum`` of one or two operands written with letters (no ``...``, no
    letter twice in one operand): sums, transposes, and two-operand contractions
    with batch letters, as a batched matrix product ``(B, M, K) @ (B, K, N)``."""
    rec = record_of(operands)
    if kw or not isinstance(subscripts, str) or "..." in subscripts or len(operands) > 2:
        escape(rec, f"np.einsum({subscripts!r}, ...) is not recorded (one or two operands "
               "written with letters, without '...' or options)")
    spec = subscripts.replace(" ", "")
    inputs, _, output = spec.partition("->")
    inputs = inputs.split(",")
    if "->" not in spec:
        letters = "".join(inputs)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(inputs) != len(operands) or any(len(set(s)) != len(s) for s in inputs + [output]) \
            or any(len(s) != np.ndim(value_of(x)) for s, x in zip(inputs, operands)):
        escape(rec, f"np.einsum({subscripts!r}, ...) is not recorded: a letter repeated in "
               "one operand (a diagonal), or subscripts that do not match the operands")
    # letters of one operand only and not in the output: summed out first
    summed = []
    for k, (s, x) in enumerate(zip(inputs, operands)):
        others = "".join(inputs[:k] + inputs[k + 1:]) + output
        lone = tuple(i for i, c in enumerate(s) if c not in others)
        if lone:
            x = reduce(x, "sum", lone) if isinstance(x, Traced) else np.sum(x, axis=lone)
            s = "".join(c for c in s if c in others)
        summed.append((s, x))
    if len(summed) == 1:
        (s, x), = summed
        perm = tuple(s.index(c) for c in output)
        return _transpose(x, perm) if isinstance(x, Traced) else np.transpose(x, perm)
    (sa, a), (sb, b) = summed
    batch = [c for c in sa if c in sb and c in output]
    contracted = [c for c in sa if c in sb and c not in output]
    free_a = [c for c in sa if c not in sb]
    free_b = [c for c in sb if c not in sa]
    size = {c: n for s, x in summed for c, n in zip(s, np.shape(value_of(x)))}

    def arranged(s, x, middle, last):
        order = batch + middle + last
        perm = tuple(s.index(c) for c in order)
        x = _transpose(x, perm) if isinstance(x, Traced) else np.transpose(x, perm)
        shape = (int(np.prod([size[c] for c in batch])), int(np.prod([size[c] for c in middle])),
                 int(np.prod([size[c] for c in last])))
        return x.reshape(shape) if isinstance(x, Traced) else np.reshape(x, shape)

    product = matmul(arranged(sa, a, free_a, contracted), arranged(sb, b, contracted, free_b))
    letters = batch + free_a + free_b
    product = reshape(product, tuple(size[c] for c in letters)) if isinstance(product, Traced) \
        else np.reshape(product, tuple(size[c] for c in letters))
    perm = tuple(letters.index(c) for c in output)
    return _transpose(product, perm) if isinstance(product, Traced) else \
        np.transpose(product, perm)


def _moved(how):
    """A NumPy function that only moves elements (np.repeat, np.tile, ...)."""
    def moved(a, *args, **kw):
        if not isinstance(a, Traced):
            escape(record_of(args), f"{how.__name__} with a recorded value among its "
                   "arguments other than the array is not recorded")
        return rearrange(a, lambda v: how(v, *args, **kw))
    return moved


def _argmax(a, axis=None, out=None, *, keepdims=False):
    return argreduce(a, "argmax", axis, keepdims, out)


def _argmin(a, axis=None, out=None, *, keepdims=False):
    return argreduce(a, "argmin", axis, keepdims, out)


def _argsort(a, axis=-1, kind=None, order=None, **kw):
    return argsort(a, axis, order)


def _along(arr, indices, axis):
    """The index NumPy's take_along_axis builds: ``indices`` on ``axis``, aranges elsewhere."""
    shape = np.shape(value_of(arr))
    if axis is None:
        return (indices,), True
    axis = int(axis) % len(shape)
    key = []
    for d, n in enumerate(shape):
        if d == axis:
            key.append(indices)
        else:
            grid = [1] * len(shape)
            grid[d] = n
            key.append(np.arange(n).reshape(grid))
    return tuple(key), False


def _take_along_axis(arr, indices, axis=-1):
    key, flat = _along(arr, indices, axis)
    source = _ravel(arr) if flat else arr
    return getitem(source, key) if isinstance(source, Traced) else \
        getitem(record_of((indices,)).wrap(np.asarray(source)), key)


def _put_along_axis(arr, indices, values, axis):
    if isinstance(arr, np.ndarray) and not isinstance(arr, Traced):
        arr = tracewrite.own(record_of((indices, values)), arr)
    if not isinstance(arr, Traced):
        escape(record_of((indices, values)), f"np.put_along_axis into a "
               f"{type(arr).__name__} is not recorded")
    key, flat = _along(arr, indices, axis)
    setitem(_ravel(arr) if flat else arr, key, values)


def _copyto(dst, src, casting="same_kind", where=True):
    if where is not True:
        src = np.where(where, src, dst)
    if isinstance(dst, np.ndarray) and not isinstance(dst, Traced):
        dst = tracewrite.own(record_of((src,)), dst)  # the model's own array
    if not isinstance(dst, Traced):
        escape(record_of((src,)), f"np.copyto into a {type(dst).__name__} is not recorded")
    setitem(dst, Ellipsis, src)


def _moveaxis(a, source, destination):
    order = [d for d in range(a.ndim) if d not in np.atleast_1d(source) % a.ndim]
    for dest, src in sorted(zip(np.atleast_1d(destination) % a.ndim,
                                np.atleast_1d(source) % a.ndim)):
        order.insert(dest, src)
    return transpose(a, order)


def _hstack(tup, **kw):
    arrays = [_expand(a, 1) for a in tup]
    return _concatenate(arrays, 0 if np.ndim(value_of(arrays[0])) == 1 else 1, **kw)


def _vstack(tup, **kw):
    return _concatenate([_expand(a, 2) for a in tup], 0, **kw)


def _where(condition, x=None, y=None):
    if x is None or y is None:
        escape(record_of((condition,)), "np.where with one argument (indices of a "
               "parameter-dependent mask) is not recorded")
    return where(condition, x, y)


def _clip(a, a_min=None, a_max=None, out=None, **kw):
    if kw or (out is not None and not isinstance(out, Traced)):
        escape(record_of((a,)), "np.clip with out= a plain array, or with options, is "
               "not recorded")
    result = a
    if a_min is not None:
        result = np.maximum(result, a_min)
    if a_max is not None:
        result = np.minimum(result, a_max)
    if out is not None:  # min-char-rnn clips its gradients in place
        assign(out, result)
        return out
    return result


def _like(fill):
    def like(a, *args, dtype=None, order="K", subok=True, shape=None, **kw):
        value = args[0] if fill is None else fill
        rec = record_of((a, value))
        dtype = np.asarray(value_of(a)).dtype if dtype is None else np.dtype(dtype)
        return full(rec, np.shape(value_of(a)) if shape is None else shape, value, dtype)
    return like


def _copy(a, order="K", subok=False):
    return a.copy()


def _squeeze(a, axis=None):
    return reshape(a, np.squeeze(value_of(a), axis).shape)


def _expand_dims(a, axis):
    return reshape(a, np.expand_dims(value_of(a), axis).shape)


def _ravel(a, order="C"):
    return reshape(a, (-1,))


def _swapaxes(a, axis1, axis2):
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(a, axes)


def _pad(array, pad_width, mode="constant", **kw):
    rec = record_of((array,))
    value = kw.pop("constant_values", 0)
    if mode != "constant" or kw or np.ndim(value) != 0:
        escape(rec, "np.pad is recorded for mode='constant' with one constant value only")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    shape = tuple(int(n + lo + hi) for n, (lo, hi) in zip(array.shape, widths))
    out = full(rec, shape, value)
    setitem(out, tuple(slice(int(lo), int(lo) + n) for n, (lo, _) in zip(array.shape, widths)),
            array)
    return out


def _norm(x, ord=None, axis=None, keepdims=False):
    if ord not in (None, "fro", 2) or (ord == 2 and np.ndim(value_of(x)) != 1 and axis is None):
        escape(record_of((x,)), f"np.linalg.norm with ord={ord!r} is not recorded")
    return np.sqrt(_sum(x * x, axis, keepdims=keepdims))


def _atleast_2d(*arys):
    out = [_expand(a, 2) for a in arys]
    return out[0] if len(out) == 1 else out


def _shape(a):
    return np.shape(value_of(a))


FUNCTIONS = {
    np.sum: _sum, np.max: _max, np.amax: _max, np.min: _min, np.amin: _min,
    np.prod: _prod, np.mean: _mean, np.var: _var, np.std: _std,
    np.reshape: _reshape, np.transpose: _transpose, np.dot: _dot, np.outer: _outer,
    np.concatenate: _concatenate, np.stack: _stack, np.hstack: _hstack, np.vstack: _vstack,
    np.where: _where, np.clip: _clip, np.zeros_like: _like(0.0), np.ones_like: _like(1.0),
    np.empty_like: _like(0.0), np.full_like: _like(None), np.copy: _copy,
    np.squeeze: _squeeze, np.expand_dims: _expand_dims, np.ravel: _ravel,
    np.swapaxes: _swapaxes, np.moveaxis: _moveaxis, np.pad: _pad,
    np.column_stack: _column_stack, np.dstack: _dstack, np.einsum: _einsum,
    np.repeat: _moved(np.repeat), np.tile: _moved(np.tile),
    np.broadcast_to: lambda a, shape, subok=False: broadcast_to(a, shape),
    np.flip: _moved(np.flip), np.roll: _moved(np.roll),
    np.rot90: _moved(np.rot90), np.fliplr: _moved(np.fliplr), np.flipud: _moved(np.flipud),
    np.argmax: _argmax, np.argmin: _argmin, np.argsort: _argsort,
    np.take_along_axis: _take_along_axis, np.put_along_axis: _put_along_axis,
    np.copyto: _copyto, np.linalg.norm: _norm, np.atleast_2d: _atleast_2d,
    np.shape: _shape, np.ndim: lambda a: np.ndim(value_of(a)),
    np.size: lambda a, axis=None: np.size(value_of(a), axis),
}

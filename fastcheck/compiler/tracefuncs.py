"""The NumPy functions the tracer records, written over its primitive operations.

``FUNCTIONS`` maps a NumPy function to its recording twin; a trace is given
it (``trace.trace``), ``Traced``'s ``__array_function__`` looks every call up
there, and any function missing is an escape that names the user's line.
Each twin computes what NumPy does (``np.var`` as the mean of squared
deviations, ``np.clip`` as a maximum then a minimum), so the record's value
equals the Python cost's to rounding.
"""

import numpy as np

from .trace import (Traced, assign, concatenate, escape, full, matmul, record_of, reduce,
                    reshape, setitem, transpose, value_of, where)


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
    def like(a, *args, dtype=None, shape=None, **kw):
        value = args[0] if fill is None else fill
        rec = record_of((a,))
        if dtype is not None and np.dtype(dtype).kind != "f":
            escape(rec, "np.*_like with a non-float dtype of a recorded value is not recorded")
        return full(rec, np.shape(value_of(a)) if shape is None else shape, value)
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
    np.swapaxes: _swapaxes, np.pad: _pad, np.linalg.norm: _norm, np.atleast_2d: _atleast_2d,
    np.shape: _shape, np.ndim: lambda a: np.ndim(value_of(a)),
    np.size: lambda a, axis=None: np.size(value_of(a), axis),
}

"""What code generated from a trace calls at run time (``tracegen``).

Reductions over chosen axes come to these as a C-contiguous (outer, inner)
matrix (the generator transposes and reshapes with shapes it knows), so one
row loop serves every axis and ``keepdims``; indexing of any kind comes as
flat positions computed at trace time.
"""

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def rows_sum(a):
    """(outer, inner) -> (outer,) row sums."""
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = np.sum(a[i])
    return out


@njit(cache=True, fastmath=False)
def rows_max(a):
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = np.max(a[i])
    return out


@njit(cache=True, fastmath=False)
def rows_min(a):
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = np.min(a[i])
    return out


@njit(cache=True, fastmath=False)
def rows_prod(a):
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = np.prod(a[i])
    return out


@njit(cache=True, fastmath=False)
def gather(x, flat):
    """``x.ravel()[flat]`` (flat (n,) int64): fancy and boolean indexing."""
    a = np.ascontiguousarray(x).ravel()
    out = np.empty(flat.size, dtype=a.dtype)
    for k in range(flat.size):
        out[k] = a[flat[k]]
    return out


@njit(cache=True, fastmath=False)
def scatter(x, flat, values):
    """A raveled copy of ``x`` with ``values`` (n elements) at positions ``flat`` (n,);
    a later position wins over an earlier one, as in NumPy's assignment."""
    out = np.ascontiguousarray(x).ravel().copy()
    v = np.ascontiguousarray(values).ravel()
    for k in range(flat.size):
        out[flat[k]] = v[k]
    return out


@njit(cache=True, fastmath=False)
def bmatmul(a, b):
    """(B, m, k) @ (B, k, n) -> (B, m, n) of one float dtype: one np.dot a matrix."""
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.dot(np.ascontiguousarray(a[i]), np.ascontiguousarray(b[i]))
    return out


@njit(cache=True, fastmath=False)
def rows_argmax(a):
    """(outer, inner) -> (outer,) int64: the first position of each row's maximum."""
    out = np.empty(a.shape[0], dtype=np.int64)
    for i in range(a.shape[0]):
        out[i] = np.argmax(a[i])
    return out


@njit(cache=True, fastmath=False)
def rows_argmin(a):
    out = np.empty(a.shape[0], dtype=np.int64)
    for i in range(a.shape[0]):
        out[i] = np.argmin(a[i])
    return out


@njit(cache=True, fastmath=False)
def rows_argsort(a):
    """(outer, inner) -> (outer, inner) int64: each row's stable ascending order."""
    out = np.empty(a.shape, dtype=np.int64)
    for i in range(a.shape[0]):
        out[i] = np.argsort(a[i], kind="mergesort")
    return out


@njit(cache=True, fastmath=False)
def wrap_index(d, n):
    """Indices ``d`` along an axis of length ``n`` as NumPy reads them (negative from
    the end); an index out of range raises, as NumPy's does."""
    out = np.empty(d.shape, dtype=np.int64)
    flat_in = d.ravel()
    flat_out = out.ravel()
    for k in range(flat_in.size):
        v = flat_in[k]
        if v < -n or v >= n:
            raise IndexError("an index computed from the parameters is out of range")
        flat_out[k] = v + n if v < 0 else v
    return out


@njit(cache=True, fastmath=False)
def round32(a):
    """``a`` rounded to float32, kept float64: a value NumPy computes in float32."""
    return a.astype(np.float32).astype(np.float64)

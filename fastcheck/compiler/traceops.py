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

"""The generic engine's kernel for ``fastcheck.locate``: J at theta +- delta
along a batch of signed subset directions, for any compiled cost.

It uses the same first-class cost type as ``central.sweep`` (one compiled,
disk-cached kernel for every cost) and compiles on first use.
"""

import functools

from numba import njit, prange, types

from .signatures import COST_TYPE

_POINTS_SIG = types.void(
    COST_TYPE,               # cost(theta, fdata, idata) -> float64
    types.float64[::1],      # theta (P,)
    types.int64[::1],        # ptr (D + 1,): direction d is entries ptr[d]:ptr[d + 1]
    types.int64[::1],        # idx (nnz,): flat indices of the directions' entries
    types.float64[::1],      # delta (nnz,): the perturbation of each entry
    types.float64[::1],      # fdata
    types.int64[::1],        # idata
    types.float64[:, ::1],   # scratch (R, P): one private copy of theta per row
    types.float64[::1],      # j_plus (D,)
    types.float64[::1],      # j_minus (D,)
)


def _points(cost, theta, ptr, idx, delta, fdata, idata, scratch, j_plus, j_minus):
    """j_plus[d], j_minus[d] = J(theta +- delta_d). Row r of ``scratch`` handles
    d = r, r + R, ...; it equals theta on entry and is restored on exit by
    writing theta's values back. A cost that raises leaves NaN in the outputs."""
    count = ptr.shape[0] - 1
    rows = scratch.shape[0]
    for r in prange(rows):
        row = scratch[r]
        for d in range(r, count, rows):
            for k in range(ptr[d], ptr[d + 1]):
                row[idx[k]] = theta[idx[k]] + delta[k]
            j_plus[d] = cost(row, fdata, idata)
            for k in range(ptr[d], ptr[d + 1]):
                row[idx[k]] = theta[idx[k]] - delta[k]
            j_minus[d] = cost(row, fdata, idata)
            for k in range(ptr[d], ptr[d + 1]):
                row[idx[k]] = theta[idx[k]]


@functools.cache
def points():
    """The kernel, compiled for ``_POINTS_SIG`` (or loaded from the disk cache)."""
    return njit(_POINTS_SIG, parallel=True, cache=True, fastmath=False)(_points)

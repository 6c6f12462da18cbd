"""The generic engine: central differences of any compiled cost over theta.

One compiled, disk-cached kernel serves every user cost: the cost is passed as
a first-class function of the fixed type ``COST_TYPE`` (a dispatcher argument
would recompile per cost and never hit the on-disk cache).
"""

from numba import njit, prange, types

#: What a ``@fastcheck.jit_cost`` cost is compiled to:
#: ``cost(theta (P,) float64 C, X 2-D float64 C, Y 2-D float64 C) -> float64``.
COST_SIG = types.float64(types.float64[::1], types.float64[:, ::1], types.float64[:, ::1])
COST_TYPE = types.FunctionType(COST_SIG)

_KERNEL_SIG = types.void(
    COST_TYPE,               # cost
    types.int64[::1],        # idx (n,): flat indices to differentiate
    types.float64[::1],      # h (n,): step for each of them
    types.float64[:, ::1],   # X
    types.float64[:, ::1],   # Y
    types.float64[:, ::1],   # scratch (R, P): one private copy of theta per row
    types.float64[::1],      # out (n,)
)


@njit(_KERNEL_SIG, parallel=True, cache=True, fastmath=False)
def central_difference(cost, idx, h, X, Y, scratch, out):
    """out[k] = (J(theta + h[k] e_i) - J(theta - h[k] e_i)) / (2 h[k]), i = idx[k].

    Each row of ``scratch`` (R, P) must equal theta on entry; it is perturbed in
    place one coordinate at a time and restored by writing back the saved value,
    so it equals theta again on exit. Row r handles k = r, r + R, ... . If the
    cost raises, that row stops and its remaining ``out`` entries keep whatever
    the caller put there (NaN), which is how the caller finds out.
    """
    n = idx.shape[0]
    rows = scratch.shape[0]
    for r in prange(rows):
        row = scratch[r]
        for k in range(r, n, rows):
            i = idx[k]
            saved = row[i]
            row[i] = saved + h[k]
            j_plus = cost(row, X, Y)
            row[i] = saved - h[k]
            j_minus = cost(row, X, Y)
            row[i] = saved
            out[k] = (j_plus - j_minus) / (2.0 * h[k])

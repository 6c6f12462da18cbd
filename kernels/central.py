"""The generic engine: finite differences of any compiled cost over theta.

One compiled, disk-cached kernel serves every user cost: the cost is passed as
a first-class function of the fixed type ``COST_TYPE`` (a dispatcher argument
would recompile per cost and never hit the on-disk cache).
"""

from numba import njit, prange, types

#: What a ``@fastcheck.jit_cost`` cost is compiled to:
#: ``cost(theta (P,) float64 C, X 2-D float64 C, Y 2-D float64 C) -> float64``.
COST_SIG = types.float64(types.float64[::1], types.float64[:, ::1], types.float64[:, ::1])
COST_TYPE = types.FunctionType(COST_SIG)
#: The same cost compiled for the complex step: complex theta, real data.
COMPLEX_COST_SIG = types.complex128(types.complex128[::1], types.float64[:, ::1],
                                    types.float64[:, ::1])
COMPLEX_COST_TYPE = types.FunctionType(COMPLEX_COST_SIG)

#: Method codes shared by every engine's kernels.
CENTRAL, RICHARDSON = 0, 1

_KERNEL_SIG = types.void(
    COST_TYPE,               # cost
    types.int64,             # method: CENTRAL or RICHARDSON
    types.int64[::1],        # idx (n,): flat indices to differentiate
    types.float64[::1],      # h (n,): step for each of them
    types.float64[:, ::1],   # X
    types.float64[:, ::1],   # Y
    types.float64[:, ::1],   # scratch (R, P): one private copy of theta per row
    types.float64[::1],      # out (n,)
    types.float64[::1],      # aux (n,): D(h) - D(h/2) for RICHARDSON
)

_COMPLEX_KERNEL_SIG = types.void(
    COMPLEX_COST_TYPE, types.int64[::1], types.float64[::1], types.float64[:, ::1],
    types.float64[:, ::1], types.complex128[:, ::1], types.float64[::1])


@njit(cache=True)
def richardson(d_coarse, d_fine):
    """The O(h^4) estimate from central differences at h and h/2."""
    return (4.0 * d_fine - d_coarse) / 3.0


@njit(_KERNEL_SIG, parallel=True, cache=True, fastmath=False)
def finite_difference(cost, method, idx, h, X, Y, scratch, out, aux):
    """out[k] = the derivative of J along e_i, i = idx[k], from steps h[k].

    CENTRAL: (J(theta + h e_i) - J(theta - h e_i)) / (2h), two evaluations.
    RICHARDSON: the same at h and h/2 combined to O(h^4), four evaluations;
    aux[k] = D(h) - D(h/2), which a kink between the steps makes large.

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
            d_coarse = (j_plus - j_minus) / (2.0 * h[k])
            if method == RICHARDSON:
                half = 0.5 * h[k]
                row[i] = saved + half
                j_plus = cost(row, X, Y)
                row[i] = saved - half
                j_minus = cost(row, X, Y)
                d_fine = (j_plus - j_minus) / (2.0 * half)
                out[k] = richardson(d_coarse, d_fine)
                aux[k] = d_coarse - d_fine
            else:
                out[k] = d_coarse
            row[i] = saved


@njit(_COMPLEX_KERNEL_SIG, parallel=True, cache=True, fastmath=False)
def complex_step(cost, idx, h, X, Y, scratch, out):
    """out[k] = Im J(theta + i h[k] e_i) / h[k]: no subtraction, so no cancellation.

    ``scratch`` (R, P) complex rows equal theta (imaginary part 0) on entry and exit.
    """
    n = idx.shape[0]
    rows = scratch.shape[0]
    for r in prange(rows):
        row = scratch[r]
        for k in range(r, n, rows):
            i = idx[k]
            saved = row[i]
            row[i] = saved + 1j * h[k]
            out[k] = cost(row, X, Y).imag / h[k]
            row[i] = saved

"""The generic engine's kernels: finite differences of any compiled cost over theta.

One compiled, disk-cached kernel serves every cost, the user's and the built-in
models' alike: the cost is a first-class function of the fixed type
``signatures.COST_TYPE`` (a dispatcher argument would recompile per cost and
never hit the on-disk cache). Nothing compiles at import: ``sweep()`` and
``complex_sweep()`` compile (or load from the cache) on first use.

Two loops remain, one per number type: the complex step's cost has another
first-class type, so it cannot share the real kernel's compiled body, and a
single untyped body would be specialised per cost dispatcher, which is the
recompilation the fixed type exists to avoid.
"""

import functools

from numba import njit, prange, types

from .signatures import COMPLEX_COST_TYPE, COST_TYPE

#: Method codes shared by every engine's kernels.
CENTRAL, RICHARDSON = 0, 1

_SWEEP_SIG = types.void(
    COST_TYPE,               # cost(theta, fdata, idata) -> float64
    types.int64,             # method: CENTRAL or RICHARDSON
    types.int64[::1],        # idx (n,): flat indices to differentiate
    types.float64[::1],      # h (n,): step for each of them
    types.float64[::1],      # fdata: the cost's float arguments, packed
    types.int64[::1],        # idata: the cost's integer arguments, packed
    types.float64[:, ::1],   # scratch (R, P): one private copy of theta per row
    types.float64[::1],      # out (n,)
    types.float64[::1],      # aux (n,): D(h) - D(h/2) for RICHARDSON
)

_COMPLEX_SWEEP_SIG = types.void(
    COMPLEX_COST_TYPE, types.int64[::1], types.float64[::1], types.complex128[::1],
    types.int64[::1], types.complex128[:, ::1], types.float64[::1])


@njit(cache=True)
def richardson(d_coarse, d_fine):
    """The O(h^4) estimate from central differences at h and h/2."""
    return (4.0 * d_fine - d_coarse) / 3.0


def _sweep(cost, method, idx, h, fdata, idata, scratch, out, aux):
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
            j_plus = cost(row, fdata, idata)
            row[i] = saved - h[k]
            j_minus = cost(row, fdata, idata)
            d_coarse = (j_plus - j_minus) / (2.0 * h[k])
            if method == RICHARDSON:
                half = 0.5 * h[k]
                row[i] = saved + half
                j_plus = cost(row, fdata, idata)
                row[i] = saved - half
                j_minus = cost(row, fdata, idata)
                d_fine = (j_plus - j_minus) / (2.0 * half)
                out[k] = richardson(d_coarse, d_fine)
                aux[k] = d_coarse - d_fine
            else:
                out[k] = d_coarse
            row[i] = saved


def _complex_sweep(cost, idx, h, fdata, idata, scratch, out):
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
            out[k] = cost(row, fdata, idata).imag / h[k]
            row[i] = saved


@functools.cache
def sweep():
    """The real kernel, compiled for ``_SWEEP_SIG`` (or loaded from the disk cache)."""
    return njit(_SWEEP_SIG, parallel=True, cache=True, fastmath=False)(_sweep)


@functools.cache
def complex_sweep():
    """The complex-step kernel, compiled on first use."""
    return njit(_COMPLEX_SWEEP_SIG, parallel=True, cache=True, fastmath=False)(_complex_sweep)

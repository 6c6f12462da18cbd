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

_SWEEP_SIG = types.void(
    COST_TYPE,               # cost(theta, fdata, idata) -> float64
    types.float64[::1],      # offsets (S,): the stencil's points, in units of h
    types.float64[::1],      # weights (S/2,): one per pair of points
    types.float64,           # divisor
    types.int64[::1],        # idx (n,): flat indices to differentiate
    types.float64[::1],      # h (n,): step for each of them
    types.float64[::1],      # fdata: the cost's float arguments, packed
    types.int64[::1],        # idata: the cost's integer arguments, packed
    types.float64[:, ::1],   # scratch (R, P): one private copy of theta per row
    types.float64[::1],      # out (n,)
)

_COMPLEX_SWEEP_SIG = types.void(
    COMPLEX_COST_TYPE, types.int64[::1], types.float64[::1], types.complex128[::1],
    types.int64[::1], types.complex128[:, ::1], types.float64[::1])


def _sweep(cost, offsets, weights, divisor, idx, h, fdata, idata, scratch, out):
    """out[k] = the derivative of J along e_i, i = idx[k], from steps h[k], by the
    linear stencil (offsets, weights, divisor) of ``planning.methods.Stencil``:
    pair j of points gives D_j = (J(theta + o_2j h e_i) - J(theta + o_2j+1 h e_i))
    / ((o_2j - o_2j+1) h), and out[k] = (w_0 D_0 + w_1 D_1 + ...) / divisor.

    Central differences, offsets (1, -1), weights (1,), divisor 1, give
    (J(theta + h e_i) - J(theta - h e_i)) / (2h) bit for bit; Richardson's,
    offsets (1, -1, 1/2, -1/2), weights (-1, 4), divisor 3, give
    (4 D(h/2) - D(h)) / 3.

    Each row of ``scratch`` (R, P) must equal theta on entry; it is perturbed in
    place one coordinate at a time and restored by writing back the saved value,
    so it equals theta again on exit. Row r handles k = r, r + R, ... . If the
    cost raises, that row stops and its remaining ``out`` entries keep whatever
    the caller put there (NaN), which is how the caller finds out.
    """
    n = idx.shape[0]
    rows = scratch.shape[0]
    pairs = weights.shape[0]
    for r in prange(rows):
        row = scratch[r]
        for k in range(r, n, rows):
            i = idx[k]
            saved = row[i]
            estimate = 0.0
            for j in range(pairs):
                a, b = offsets[2 * j], offsets[2 * j + 1]
                row[i] = saved + a * h[k]
                j_a = cost(row, fdata, idata)
                row[i] = saved + b * h[k]
                j_b = cost(row, fdata, idata)
                d = (j_a - j_b) / ((a - b) * h[k])
                # The first term alone, not 0 + it: a -0.0 keeps its sign.
                estimate = weights[0] * d if j == 0 else estimate + weights[j] * d
            out[k] = estimate / divisor
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

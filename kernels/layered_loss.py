"""Loss differences loss(z + dz) - loss(z) of the built-in heads, computed
directly instead of as a difference of two losses.

With s = sigmoid(z), p = softmax(z) and residual e = z - y:

- BCE:  (1 - y) log1p(s expm1(dz)) + y log1p(sigmoid(-z) expm1(-dz)); each term
  is the change of one of softplus(z), softplus(-z), so neither subtracts two
  large numbers (the y dz of the textbook form cancels against log1p(...) when
  s is near y = 1).
- CE:   log1p(sum_u p_u expm1(dz_u - dz_t)) for a one-hot y = e_t (the change
  of logsumexp(z - z_t): nothing cancels when p_t is near 1), else
  sum(y) log1p(sum_u p_u expm1(dz_u)) - y . dz.
- MSE:  dz (e + dz / 2).

The hot loops run over the perturbations q of one (example, logit) pair, a
contiguous run of dz = d[q] * v. For |dz| <= SMALL the transcendentals are
polynomials (``expm1_tiny``, ``log1p_tiny`` up to TINY, ``expm1_small``,
``log1p_small`` up to SMALL): plain arithmetic, so LLVM vectorizes the loops,
which it cannot do around libm calls (Numba's SVML path is not available:
this llvmlite is not built with it). Beyond SMALL, libm. ``error_model="numpy"``
keeps division-by-zero checks, which would also stop vectorization, out.
"""

import numpy as np
from numba import njit

from .mlp import CE, MSE

#: Largest |dz| (and |x| for log1p) each pair of polynomials serves: their
#: truncation error there is below 1e-17 relative (tests/test_layered.py pins
#: them to libm). The default central step moves logits by about 1e-5: TINY.
TINY = 2.0 ** -10
SMALL = 2.0 ** -6


@njit(cache=True, error_model="numpy")
def expm1_tiny(x):
    """expm1(x) for |x| <= TINY: degree 5 (the next term is below 2e-18 relative)."""
    return x * (1.0 + x * (1.0 / 2 + x * (1.0 / 6 + x * (1.0 / 24 + x * (1.0 / 120)))))


@njit(cache=True, error_model="numpy")
def log1p_tiny(x):
    """log1p(x) for |x| <= 1.01 TINY: degree 6, no division (the next term is
    below 2e-19 relative)."""
    return x * (1.0 - x * (1.0 / 2 - x * (1.0 / 3 - x * (1.0 / 4 - x * (
        1.0 / 5 - x * (1.0 / 6))))))


@njit(cache=True, error_model="numpy")
def expm1_small(x):
    """expm1(x) for |x| <= SMALL: its Taylor polynomial of degree 8 (the next
    term is below 1e-20 relative)."""
    return x * (1.0 + x * (1.0 / 2 + x * (1.0 / 6 + x * (1.0 / 24 + x * (
        1.0 / 120 + x * (1.0 / 720 + x * (1.0 / 5040 + x * (1.0 / 40320))))))))


@njit(cache=True, error_model="numpy")
def log1p_small(x):
    """log1p(x) for |x| <= 2 SMALL: 2 atanh(s), s = x / (2 + x), to s^9 (the
    next term is below 1e-19 relative)."""
    s = x / (2.0 + x)
    s2 = s * s
    return 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9)))))


@njit(cache=True, error_model="numpy")
def complement_table(ZT_L, YT, loss):
    """Per (example, logit) constants (m, nL) of the loss differences: sigmoid(-z)
    for BCE (exact also where sigmoid(z) rounds to 1), z - y for MSE."""
    m, n = ZT_L.shape
    table = np.zeros((m, n))
    for k in range(m):
        for u in range(n):
            z = ZT_L[k, u]
            if loss == MSE:
                table[k, u] = z - YT[k, u]
            elif loss != CE:
                if z <= 0.0:
                    table[k, u] = 1.0 / (1.0 + np.exp(z))
                else:
                    e = np.exp(-z)
                    table[k, u] = e / (1.0 + e)
    return table


@njit(cache=True, error_model="numpy")
def bce_delta(s, sc, y, dz):
    """BCE(z + dz) - BCE(z) from s = sigmoid(z), sc = sigmoid(-z), with libm."""
    total = 0.0
    if y != 1.0:
        total += (1.0 - y) * np.log1p(s * np.expm1(dz))
    if y != 0.0:
        total += y * np.log1p(sc * np.expm1(-dz))
    return total


@njit(cache=True, error_model="numpy")
def one_hot(Y):
    """The class t when Y (nL,) is the one-hot e_t, else -1."""
    t = -1
    for u in range(Y.shape[0]):
        if Y[u] == 1.0 and t < 0:
            t = u
        elif Y[u] != 0.0:
            return -1
    return t


@njit(cache=True, error_model="numpy")
def row_delta(AL, C, Y, dz, loss):
    """loss(z + dz) - loss(z) of one example: AL, C, Y, dz (nL,) are its
    activations, ``complement_table`` row, targets and logit changes."""
    total = 0.0
    if loss == CE:
        t = one_hot(Y)
        if t >= 0:
            for u in range(dz.shape[0]):
                if u != t:
                    total += AL[u] * np.expm1(dz[u] - dz[t])
            return np.log1p(total)
        moved, y_dz, y_sum = 0.0, 0.0, 0.0
        for u in range(dz.shape[0]):
            moved += AL[u] * np.expm1(dz[u])
            y_dz += Y[u] * dz[u]
            y_sum += Y[u]
        return y_sum * np.log1p(moved) - y_dz
    for u in range(dz.shape[0]):
        if dz[u] != 0.0:
            if loss == MSE:
                total += dz[u] * (C[u] + 0.5 * dz[u])
            else:
                total += bce_delta(AL[u], C[u], Y[u], dz[u])
    return total


@njit(cache=True, error_model="numpy")
def tier(x_max):
    """Which expm1/log1p serves arguments up to x_max: 1 and 2 the polynomials
    (``TINY``, ``SMALL``), 3 libm."""
    return 1 if x_max <= TINY else (2 if x_max <= SMALL else 3)


@njit(cache=True, error_model="numpy")
def _log1p_expm1_run(w, v, d, acc):
    """acc[q] += log1p(w expm1(d[q] v)), q < acc.shape[0], each at the tier of
    its own argument.

    Per perturbation, not per batch: a batch's largest argument depends on
    which coordinates a driver's block put together, and the tier chosen from
    it would change the last bits of the same coordinate's estimate from one
    run to the next (tests/test_layered.py::test_estimates_do_not_depend_on_the_block_cut).
    """
    n = acc.shape[0]
    for q in range(n):
        x = d[q] * v
        level = tier(abs(x))
        if level == 1:
            acc[q] += log1p_tiny(w * expm1_tiny(x))
        elif level == 2:
            acc[q] += log1p_small(w * expm1_small(x))
        else:
            acc[q] += np.log1p(w * np.expm1(x))


@njit(cache=True, error_model="numpy")
def _expm1_run(p, v, d, tmp, v_max):
    """tmp[q] += p expm1(d[q] v), q < tmp.shape[0], at the tier of |d[q]| v_max
    (v_max >= |v|: the same tier for every logit of one perturbation)."""
    n = tmp.shape[0]
    for q in range(n):
        level = tier(abs(d[q]) * v_max)
        if level == 1:
            tmp[q] += p * expm1_tiny(d[q] * v)
        elif level == 2:
            tmp[q] += p * expm1_small(d[q] * v)
        else:
            tmp[q] += p * np.expm1(d[q] * v)


@njit(cache=True, error_model="numpy")
def example_deltas(AL, C, Y, v, d, acc, tmp, loss):
    """acc[q] += loss(z + d[q] v) - loss(z) for one example, q < acc.shape[0].

    AL, C, Y, v (nL,): the example's output activations, ``complement_table``
    row, targets and the logits' change per unit d; d (Q,) the perturbations'
    d; tmp (Q,) scratch. Logits with v == 0 do not move and are skipped.
    """
    n = acc.shape[0]
    if loss == CE:
        t = one_hot(Y)
        # One-hot class t: log1p(sum_{u != t} p_u expm1(dz_u - dz_t)), the change
        # of logsumexp(z - z_t), exact 0 when only z_t moves. Else the general
        # sum(y) log1p(sum_u p_u expm1(dz_u)) - y . dz.
        shift = v[t] if t >= 0 else 0.0
        v_max, y_v, y_sum = 0.0, 0.0, 0.0
        for u in range(v.shape[0]):
            v_max = max(v_max, abs(v[u] - shift))
            y_v += Y[u] * v[u]
            y_sum += Y[u]
        # |sum_u p_u expm1(x_u)| <= max_u |expm1(x_u)|: one tier serves both, chosen
        # per perturbation from |d[q]| v_max (never from the batch's largest d).
        tmp[:n] = 0.0
        for u in range(v.shape[0]):
            if u != t and v[u] - shift != 0.0:
                _expm1_run(AL[u], v[u] - shift, d, tmp[:n], v_max)
        for q in range(n):
            x = tmp[q]
            level = tier(abs(d[q]) * v_max)
            tmp[q] = log1p_tiny(x) if level == 1 else (
                log1p_small(x) if level == 2 else np.log1p(x))
        if t >= 0:
            for q in range(n):
                acc[q] += tmp[q]
        else:
            for q in range(n):
                acc[q] += y_sum * tmp[q] - d[q] * y_v
        return
    for u in range(v.shape[0]):
        vu = v[u]
        if vu == 0.0:
            continue
        if loss == MSE:
            e = C[u]
            for q in range(n):
                dz = d[q] * vu
                acc[q] += dz * (e + 0.5 * dz)
        elif Y[u] == 0.0:
            _log1p_expm1_run(AL[u], vu, d, acc)
        elif Y[u] == 1.0:  # the change of softplus(-z): log1p(sigmoid(-z) expm1(-dz))
            _log1p_expm1_run(C[u], -vu, d, acc)
        else:
            for q in range(n):
                acc[q] += bce_delta(AL[u], C[u], Y[u], d[q] * vu)

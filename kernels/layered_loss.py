"""Loss differences loss(z + dz) - loss(z) of the built-in heads, computed
directly instead of as a difference of two losses.

With s = sigmoid(z), p = softmax(z) and residual e = z - y:

- BCE:  (1 - y) log1p(s expm1(dz)) + y log1p(sigmoid(-z) expm1(-dz)); each term
  is the change of one of softplus(z), softplus(-z), so neither subtracts two
  large numbers (the y dz of the textbook form cancels against log1p(...) when
  s is near y = 1).
- CE:   sum(y) log1p(sum_u p_u expm1(dz_u)) - y . dz, the change of logsumexp.
- MSE:  dz (e + dz / 2).

The hot loops run over the perturbations q of one (example, logit) pair, a
contiguous run of dz = d[q] * v. For |dz| <= SMALL the transcendentals are
polynomials (``expm1_small``, ``log1p_small``): plain arithmetic, so LLVM
vectorizes the loops, which it cannot do around libm calls (and Numba's SVML
path is not available: llvmlite is not built with it). Beyond SMALL, libm.
"""

import numpy as np
from numba import njit

from .mlp import CE, MSE

#: Largest |dz| (and |x| for log1p) the polynomials serve: their truncation
#: error there is below 1e-18 relative (tests/test_layered.py pins them to libm).
SMALL = 2.0 ** -6


@njit(cache=True)
def expm1_small(x):
    """expm1(x) for |x| <= SMALL: its Taylor polynomial of degree 8 (the next
    term is below 1e-20 relative)."""
    return x * (1.0 + x * (1.0 / 2 + x * (1.0 / 6 + x * (1.0 / 24 + x * (
        1.0 / 120 + x * (1.0 / 720 + x * (1.0 / 5040 + x / 40320.0)))))))


@njit(cache=True)
def log1p_small(x):
    """log1p(x) for |x| <= 2 SMALL: 2 atanh(s), s = x / (2 + x), to s^9 (the
    next term is below 1e-19 relative)."""
    s = x / (2.0 + x)
    s2 = s * s
    return 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 / 9.0))))


@njit(cache=True)
def complement_table(ZT_L, AT_L, YT, loss):
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


@njit(cache=True)
def bce_delta(s, sc, y, dz):
    """BCE(z + dz) - BCE(z) from s = sigmoid(z), sc = sigmoid(-z), with libm."""
    total = 0.0
    if y != 1.0:
        total += (1.0 - y) * np.log1p(s * np.expm1(dz))
    if y != 0.0:
        total += y * np.log1p(sc * np.expm1(-dz))
    return total


@njit(cache=True)
def row_delta(AL, C, Y, dz, loss):
    """loss(z + dz) - loss(z) of one example: AL, C, Y, dz (nL,) are its
    activations, ``complement_table`` row, targets and logit changes."""
    total = 0.0
    if loss == CE:
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


@njit(cache=True)
def _bce_run(s, sc, y, v, d, acc, small):
    """acc[q] += BCE(z + d[q] v) - BCE(z), q < acc.shape[0]."""
    n = acc.shape[0]
    if small:
        if y == 0.0:
            for q in range(n):
                acc[q] += log1p_small(s * expm1_small(d[q] * v))
        elif y == 1.0:
            for q in range(n):
                acc[q] += log1p_small(sc * expm1_small(-d[q] * v))
        else:
            for q in range(n):
                e = expm1_small(d[q] * v)
                # expm1(-x) = -expm1(x) / (1 + expm1(x))
                acc[q] += (1.0 - y) * log1p_small(s * e) + y * log1p_small(-sc * e / (1.0 + e))
    else:
        for q in range(n):
            acc[q] += bce_delta(s, sc, y, d[q] * v)


@njit(cache=True)
def example_deltas(AL, C, Y, v, d, acc, tmp, loss):
    """acc[q] += loss(z + d[q] v) - loss(z) for one example, q < acc.shape[0].

    AL, C, Y, v (nL,): the example's output activations, ``complement_table``
    row, targets and the logits' change per unit d; d (Q,) the perturbations'
    d; tmp (Q,) scratch. Logits with v == 0 do not move and are skipped.
    """
    n = acc.shape[0]
    d_max = 0.0
    for q in range(n):
        d_max = max(d_max, abs(d[q]))
    if loss == CE:
        v_max, y_v, y_sum = 0.0, 0.0, 0.0
        for u in range(v.shape[0]):
            v_max = max(v_max, abs(v[u]))
            y_v += Y[u] * v[u]
            y_sum += Y[u]
        small = d_max * v_max <= SMALL
        tmp[:n] = 0.0
        for u in range(v.shape[0]):
            vu, p = v[u], AL[u]
            if vu == 0.0:
                continue
            if small:
                for q in range(n):
                    tmp[q] += p * expm1_small(d[q] * vu)
            else:
                for q in range(n):
                    tmp[q] += p * np.expm1(d[q] * vu)
        if small:
            for q in range(n):
                acc[q] += y_sum * log1p_small(tmp[q]) - d[q] * y_v
        else:
            for q in range(n):
                acc[q] += y_sum * np.log1p(tmp[q]) - d[q] * y_v
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
        else:
            _bce_run(AL[u], C[u], Y[u], vu, d, acc, d_max * abs(vu) <= SMALL)

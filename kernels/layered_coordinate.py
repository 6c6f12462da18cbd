"""One coordinate at a time: the per-coordinate path of the layered engine,
kept for the complex step (whose changes are complex and carry no kinks, so
the grouped real path of ``layered.py`` does not serve it).

Perturbing W_l[r, c] by delta changes row r of Z_l by delta * A_{l-1}[c, :]
(b_l[r]: by delta). Row r of A_l follows; Z_{l+1} takes the rank-1 change
W_{l+1}[:, r] * dA_l[r, :]; only layers l+1 .. L are recomputed, and only for
the examples whose A_l[r, k] really changed. The loss is re-evaluated only
where the logits moved, as loss(new) - loss(old) per example.
"""

import numpy as np
from numba import njit

from .mlp import CE, LEAKY_RELU, MSE, RELU, bce_element, ce_column, mse_element, unit


@njit(cache=True)
def widest(sizes):
    """n_max, the widest layer after the input."""
    n_max = 0
    for l in range(1, sizes.shape[0]):
        n_max = max(n_max, sizes[l])
    return n_max


@njit(cache=True)
def coordinate_width(sizes, m):
    """Floats of scratch ``delta_loss`` needs: two (m, n_max) buffers and one (n_max,)."""
    n_max = widest(sizes)
    return 2 * n_max * m + n_max


@njit(cache=True)
def element_loss(z, y, loss):
    """The loss of one logit, for the elementwise losses (BCE, MSE)."""
    if loss == MSE:
        return mse_element(z, y)
    return bce_element(z, y)


@njit(cache=True)
def flips(z_new, z_old, code):
    """True when a ReLU-type unit's pre-activation changed sign: a kink was crossed."""
    return (code == RELU or code == LEAKY_RELU) and (z_new.real > 0.0) != (z_old.real > 0.0)


@njit(cache=True)
def base_losses(ZT_L, YT, loss):
    """Per-example (m,) and per-logit (m, nL) losses at the unperturbed theta."""
    m, n = ZT_L.shape
    per_logit = np.zeros((m, n))
    per_example = np.zeros(m)
    for k in range(m):
        if loss == CE:
            per_example[k] = ce_column(ZT_L[k], YT[k])
        else:
            for u in range(n):
                per_logit[k, u] = element_loss(ZT_L[k, u], YT[k, u], loss)
                per_example[k] += per_logit[k, u]
    return per_example, per_logit


@njit(cache=True)
def _output_delta(ZT, YT, cols, dZ, nact, loss, base_example, base_logit, zbuf, zero):
    """sum over the nact changed examples of loss(Z_L + dZ) - loss(Z_L).

    ``dZ`` (nact, nL) holds the change of the logits of example cols[t];
    ``zero`` is 0 of the arithmetic in use (float or complex).
    """
    total = zero
    n = ZT.shape[1]
    for t in range(nact):
        k = cols[t]
        if loss == CE:
            for u in range(n):
                zbuf[u] = ZT[k, u] + dZ[t, u]
            total += ce_column(zbuf[:n], YT[k]) - base_example[k]
        else:
            for u in range(n):
                if dZ[t, u] != 0.0:
                    total += element_loss(ZT[k, u] + dZ[t, u], YT[k, u], loss) \
                        - base_logit[k, u]
    return total


@njit(cache=True)
def delta_loss(l, r, c, delta, sizes, acts, loss, X, WT, wt_off, ZT, AT, z_off, YT,
               base_example, base_logit, work, cols):
    """m * (J_data(theta + delta e) - J_data(theta)) for the entry W_{l+1}[r, c]
    (c < 0: the bias b_{l+1}[r]), and whether a ReLU kink was crossed.

    Layers are 0-based here: layer l maps n_l -> n_{l+1}. ``work`` is this
    thread's float scratch (at least ``coordinate_width(sizes, m)``), ``cols`` its
    int scratch (m,).
    """
    L = sizes.shape[0] - 1
    m = X.shape[1]
    n = sizes[l + 1]
    zero = 0.0 * delta
    n_max = widest(sizes)
    dA_buf = work[:n_max * m]
    dZ_buf = work[n_max * m:2 * n_max * m]
    zbuf = work[2 * n_max * m:]
    Zl = ZT[z_off[l]:z_off[l + 1]].reshape((m, n))
    # Stage 1: row r of Z_l moves by delta * a_k; keep the examples it moves.
    nact = 0
    kink = False
    for k in range(m):
        if c < 0:
            a = 1.0
        elif l == 0:
            a = X[c, k]
        else:
            a = AT[z_off[l - 1] + k * sizes[l] + c]
        if a != 0.0:  # else this example's Z_l[r, k] did not move
            cols[nact] = k
            dA_buf[nact] = delta * a
            nact += 1
    if l == L - 1:
        dZ = dZ_buf[:nact * n].reshape((nact, n))
        dZ[:, :] = 0.0
        for t in range(nact):
            dZ[t, r] = dA_buf[t]
        return _output_delta(Zl, YT, cols, dZ, nact, loss, base_example, base_logit,
                             zbuf, zero), kink
    Al = AT[z_off[l]:z_off[l + 1]].reshape((m, n))
    code = acts[l]
    live = 0
    for t in range(nact):
        k = cols[t]
        z_new = Zl[k, r] + dA_buf[t]
        kink |= flips(z_new, Zl[k, r], code)
        d = unit(z_new, code) - Al[k, r]
        if d != 0.0:  # the unit's output moved: this example changes downstream
            cols[live] = k  # live <= t: compacting in place is safe
            dA_buf[live] = d
            live += 1
    nact = live
    if nact == 0:
        return zero, kink
    # Stage 2: Z_{l+1} takes the rank-1 change W_{l+1}[:, r] * dA_l[r, :].
    p = l + 1
    n_p = sizes[p + 1]
    WTp = WT[wt_off[p]:wt_off[p + 1]].reshape((sizes[p], n_p))
    dZ = dZ_buf[:nact * n_p].reshape((nact, n_p))
    for t in range(nact):
        d = dA_buf[t]
        for u in range(n_p):
            dZ[t, u] = WTp[r, u] * d
    # Stage 3: the remaining layers, dense, on the changed examples only.
    while p < L - 1:
        Zp = ZT[z_off[p]:z_off[p + 1]].reshape((m, n_p))
        Ap = AT[z_off[p]:z_off[p + 1]].reshape((m, n_p))
        code = acts[p]
        dA = dA_buf[:nact * n_p].reshape((nact, n_p))
        for t in range(nact):
            k = cols[t]
            for u in range(n_p):
                z_new = Zp[k, u] + dZ[t, u]
                kink |= flips(z_new, Zp[k, u], code)
                dA[t, u] = unit(z_new, code) - Ap[k, u]
        n_q = sizes[p + 2]
        WTq = WT[wt_off[p + 1]:wt_off[p + 2]].reshape((n_p, n_q))
        dZ = dZ_buf[:nact * n_q].reshape((nact, n_q))
        for t in range(nact):
            for v in range(n_q):
                dZ[t, v] = 0.0
            for u in range(n_p):
                d = dA[t, u]
                if d != 0.0:
                    for v in range(n_q):
                        dZ[t, v] += WTq[u, v] * d
        p += 1
        n_p = n_q
    ZL = ZT[z_off[L - 1]:z_off[L]].reshape((m, sizes[L]))
    return _output_delta(ZL, YT, cols, dZ, nact, loss, base_example, base_logit, zbuf,
                         zero), kink


@njit(cache=True)
def locate(i, sizes, offsets):
    """Flat index i -> (layer l, row r, column c), c = -1 for a bias."""
    l = 0
    while offsets[l + 1] <= i:
        l += 1
    local = i - offsets[l]
    n_w = sizes[l + 1] * sizes[l]
    if local < n_w:
        return l, local // sizes[l], local % sizes[l]
    return l, local - n_w, -1

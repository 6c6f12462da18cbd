"""The layered engine: finite differences of a built-in MLP, recomputing only
what a perturbation changes, for a whole row of coordinates at once.

Perturbing W_l[r, c] by delta changes row r of Z_l by delta * a_c, a_c =
A_{l-1}[c, :] (b_l[r]: by delta). Every coordinate of row r, and every step
(the method's stencil: +h, -h, and +-h/2 for Richardson), then moves the rest of the network only
through d = the change of A_l[r, k], along the same column W_{l+1}[:, r]. So a
block's coordinates are grouped by row (``row_items``) and each group's
perturbations q are carried together as D[k, q] (example k):

- Piecewise-linear hidden layers downstream (ReLU, leaky ReLU): while no unit
  there changes sign, the logits move by exactly d * V[k, :], where V (m, nL)
  is W_L diag(g'(Z_{L-1})) ... W_{l+2} diag(g'(Z_{l+1})) W_{l+1}[:, r] per
  example: one chain of matrix products per row, shared by all its
  coordinates and steps (``row_response``). The same pass gives, per example,
  the interval (lo, hi) of d in which no unit changes sign; the rare pairs
  outside it are recomputed densely, which also flags their kinks.
- Smooth hidden layers downstream (tanh, sigmoid): the changed (example,
  perturbation) pairs are propagated densely, as matrix products over the
  pairs (``dense_pairs``).

Changes are computed, not differenced: d = delta * a_c exactly where a ReLU
does not switch, tanh and sigmoid from their addition formulas, and the loss
from the closed forms of ``layered_loss.py``. The L2 term changes by its
closed form. Kink flags (a ReLU-type pre-activation changing sign between theta
and theta +- h) are those of the per-coordinate path (``layered_coordinate``).

The unperturbed caches are stored example-major: ZT_l, AT_l (m, n_l), WT_l
(n_{l-1}, n_l), YT (m, nL). See kernels/mlp.py for the network's conventions.
"""

import numpy as np
from numba import njit, prange

from .layered_coordinate import base_losses, coordinate_width, delta_loss, locate, widest
from .layered_loss import complement_table, example_deltas, row_delta
from .mlp import LEAKY_RELU, LEAKY_SLOPE, LINEAR, RELU, SIGMOID, TANH, layer_offsets

__all__ = ["base_losses", "int_width", "layered_complex_step", "layered_difference",
           "work_width"]

#: Coordinates of one row handled together at most: D is (m, MAX_POINTS GROUP) per thread.
GROUP = 32
#: Most points a stencil may have (Richardson's four steps per coordinate).
MAX_POINTS = 4
#: Most perturbations per item.
PERTURBATIONS = MAX_POINTS * GROUP
#: Sign-change intervals are shrunk by this relative margin, so that pairs
#: within rounding of a ReLU's kink take the dense path, which decides exactly.
MARGIN = 1e-9


@njit(cache=True, error_model="numpy")
def pair_rows(m):
    """Pairs (example, perturbation) propagated densely at a time: >= m, >= 256
    so that the products over them run as matrix-matrix work."""
    return max(m, 256)


@njit(cache=True, error_model="numpy")
def work_width(sizes, m):
    """Floats of scratch one thread needs (its row of ``work``).

    V (m, nL), the sign-change interval (2m), D (m, PERTURBATIONS), four
    (PERTURBATIONS,) vectors, the largest change per example (m,), the dense
    pairs' d, and two (pair_rows(m),
    n_max) buffers; at least what the per-coordinate (complex) path needs.
    """
    rows = pair_rows(m)
    grouped = (m * (sizes[-1] + 3 + PERTURBATIONS) + 4 * PERTURBATIONS + rows
               + 2 * rows * widest(sizes))
    return max(grouped, coordinate_width(sizes, m))


@njit(cache=True, error_model="numpy")
def int_width(sizes, m):
    """Integers of scratch one thread needs (its row of ``cols``): the changed
    examples (m,) and the dense pairs' examples and perturbations."""
    return m + 2 * pair_rows(m)


@njit(cache=True, error_model="numpy")
def unit_change(z, a, dz, code):
    """(g(z + dz) - g(z), kink) for a hidden unit at z with a = g(z).

    ReLU types: dz times the slope unless z + dz and z lie on different sides
    of 0 (the kink); tanh and sigmoid by their addition formulas, which never
    subtract two nearly equal activations.
    """
    if code == RELU or code == LEAKY_RELU:
        slope = LEAKY_SLOPE if code == LEAKY_RELU else 0.0
        z_new = z + dz
        on, was = z_new > 0.0, z > 0.0
        if on == was:
            return (dz if was else slope * dz), False
        return (z_new if on else slope * z_new) - a, True
    if code == TANH:
        t = np.tanh(dz)
        return t * ((1.0 - a) * (1.0 + a)) / (1.0 + a * t), False
    if code == SIGMOID:
        e = -np.expm1(-dz)
        c = 1.0 - a
        return a * c * e / (1.0 - c * e), False
    return dz, False


@njit(cache=True, error_model="numpy")
def piecewise_linear_below(sizes, acts):
    """(L,) bool: True at layer l when every hidden layer after it is
    piecewise linear (ReLU-type or linear)."""
    L = sizes.shape[0] - 1
    fast = np.zeros(L, dtype=np.bool_)
    ok = True
    for l in range(L - 1, -1, -1):
        fast[l] = ok
        if l < L - 1:
            ok = ok and (acts[l] == RELU or acts[l] == LEAKY_RELU or acts[l] == LINEAR)
    return fast


@njit(cache=True, error_model="numpy")
def row_items(idx, sizes, offsets):
    """Item boundaries (n_items + 1,) in the sorted ``idx``: runs of at most
    GROUP entries of one row r of one layer l, all weights or one bias."""
    n = idx.shape[0]
    starts = np.empty(n + 1, dtype=np.int64)
    count, size = 0, 0
    last_l, last_r, last_bias = -1, -1, False
    for k in range(n):
        l, r, c = locate(idx[k], sizes, offsets)
        if l != last_l or r != last_r or (c < 0) != last_bias or size == GROUP:
            starts[count] = k
            count += 1
            size = 0
            last_l, last_r, last_bias = l, r, c < 0
        size += 1
    starts[count] = n
    return starts[:count + 1]


@njit(cache=True, error_model="numpy")
def row_response(l, r, sizes, acts, WT, wt_off, ZT, z_off, V, lo, hi, buf_a, buf_b):
    """V (m, nL): the logits' change per unit change d of A_l[r, k], while no
    ReLU-type unit downstream changes sign; that holds for lo[k] < d < hi[k].

    Layer l is 0-based (W_{l+1} in the docstring above); every hidden layer
    after l must be piecewise linear. For l = L - 1 (the output layer), V = e_r.
    """
    L = sizes.shape[0] - 1
    m = lo.shape[0]
    lo[:] = -np.inf
    hi[:] = np.inf
    if l == L - 1:
        V[:, :] = 0.0
        V[:, r] = 1.0
        return
    p = l + 1
    n_p = sizes[p + 1]
    WTp = WT[wt_off[p]:wt_off[p + 1]].reshape((sizes[p], n_p))
    U = buf_a[:m * n_p].reshape((m, n_p))
    for k in range(m):
        U[k, :] = WTp[r, :]
    into_a = False
    while p < L - 1:
        Zp = ZT[z_off[p]:z_off[p + 1]].reshape((m, n_p))
        slope = LEAKY_SLOPE if acts[p] == LEAKY_RELU else 0.0
        for k in range(m if acts[p] != LINEAR else 0):  # a linear layer has no kink
            for u in range(n_p):
                g = U[k, u]
                if g != 0.0:
                    z = Zp[k, u]
                    # z + d g crosses 0 at d = t: shrink toward 0 by MARGIN.
                    t = (-z / g) * (1.0 - MARGIN)
                    if t > 0.0 or (t == 0.0 and g > 0.0):
                        hi[k] = min(hi[k], t)
                    else:
                        lo[k] = max(lo[k], t)
                    if z <= 0.0:
                        U[k, u] = slope * g
        n_q = sizes[p + 2]
        WTq = WT[wt_off[p + 1]:wt_off[p + 2]].reshape((n_p, n_q))
        buf = buf_a if into_a else buf_b
        nxt = buf[:m * n_q].reshape((m, n_q))
        np.dot(U, WTq, nxt)
        U = nxt
        into_a = not into_a
        p += 1
        n_p = n_q
    V[:, :] = U


@njit(cache=True, error_model="numpy")
def dense_pairs(l, r, n, pk, pq, pd, sizes, acts, loss, WT, wt_off, ZT, AT, z_off, YT,
                CT, buf_a, buf_b, acc, kin):
    """acc[pq[t]] += the loss change when A_l[r, pk[t]] changes by pd[t], t < n,
    through every layer after l (l < L - 1), as matrix products over the pairs;
    kin[pq[t]] = 1 where a ReLU-type unit changes sign on the way."""
    L = sizes.shape[0] - 1
    m = CT.shape[0]
    nL = sizes[L]
    p = l + 1
    n_p = sizes[p + 1]
    WTp = WT[wt_off[p]:wt_off[p + 1]].reshape((sizes[p], n_p))
    dZ = buf_a[:n * n_p].reshape((n, n_p))
    for t in range(n):
        for u in range(n_p):
            dZ[t, u] = WTp[r, u] * pd[t]
    while p < L - 1:
        Zp = ZT[z_off[p]:z_off[p + 1]].reshape((m, n_p))
        Ap = AT[z_off[p]:z_off[p + 1]].reshape((m, n_p))
        dA = buf_b[:n * n_p].reshape((n, n_p))
        code = acts[p]
        for t in range(n):
            k = pk[t]
            for u in range(n_p):
                dA[t, u], kink = unit_change(Zp[k, u], Ap[k, u], dZ[t, u], code)
                if kink:
                    kin[pq[t]] = 1.0
        n_q = sizes[p + 2]
        WTq = WT[wt_off[p + 1]:wt_off[p + 2]].reshape((n_p, n_q))
        dZ = buf_a[:n * n_q].reshape((n, n_q))
        np.dot(dA, WTq, dZ)
        p += 1
        n_p = n_q
    AL = AT[z_off[L - 1]:z_off[L]].reshape((m, nL))
    for t in range(n):
        k = pk[t]
        acc[pq[t]] += row_delta(AL[k], CT[k], YT[k], dZ[t], loss)


@njit(cache=True, error_model="numpy")
def largest_step(delta, b, steps):
    """max |delta[b:b + steps]|: the farthest one coordinate's steps reach."""
    largest = 0.0
    for q in range(b, b + steps):
        largest = max(largest, abs(delta[q]))
    return largest


@njit(cache=True, error_model="numpy")
def _reaches(z, idx, k0, k1, row_start, bias, delta, steps, l, k, sizes, X, AT, z_off):
    """Whether some step of idx[k0:k1] moves Z_l[r, k] = z by |z| or more."""
    for j in range(k1 - k0):
        c = idx[k0 + j] - row_start
        a = 1.0 if bias else (X[c, k] if l == 0 else AT[z_off[l - 1] + k * sizes[l] + c])
        if largest_step(delta, j * steps, steps) * abs(a) >= abs(z):
            return True
    return False


@njit(cache=True, error_model="numpy")
def item_deltas(idx, k0, k1, l, r, bias, delta, steps, sizes, offsets, acts, loss, X, WT,
                wt_off, ZT, AT, z_off, YT, CT, linear_below, V, lo, hi, D, acc, kin, tmp,
                moved, pd, buf_a, buf_b, active, pk, pq):
    """acc[q] = m * (J_data(theta + delta[q] e_i) - J_data(theta)) for the Q =
    steps * (k1 - k0) perturbations of i = idx[k0:k1] (weights of row r of layer
    l, or its bias; q = j * steps + s); kin[q] = 1 where a kink was crossed.

    V, lo, hi must hold ``row_response(l, r)`` when ``linear_below``; tmp (Q,)
    and moved (m,) (each changed example's largest |d|) are scratch.
    """
    L = sizes.shape[0] - 1
    m = X.shape[1]
    nL = sizes[L]
    Q = (k1 - k0) * steps
    acc[:Q] = 0.0
    kin[:Q] = 0.0
    n_l = sizes[l + 1]
    Zl = ZT[z_off[l]:z_off[l + 1]].reshape((m, n_l))
    Al = AT[z_off[l]:z_off[l + 1]].reshape((m, n_l))
    row_start = offsets[l] + r * sizes[l]
    hidden = l < L - 1
    code = acts[l]
    Dm = D[:m * Q].reshape((m, Q))
    # Stage 1: A_l[r, k] moves by d = D[k, q]; keep the examples where some d != 0.
    relu_type = hidden and (code == RELU or code == LEAKY_RELU)
    slope = LEAKY_SLOPE if code == LEAKY_RELU else 0.0
    n_act = 0
    for k in range(m):
        z, a_out = Zl[k, r], Al[k, r]
        if relu_type and z <= 0.0 and slope == 0.0 and not _reaches(
                z, idx, k0, k1, row_start, bias, delta, steps, l, k, sizes, X, AT, z_off):
            continue  # the unit stays off for every step: nothing moves
        d_max = 0.0
        for j in range(k1 - k0):
            c = idx[k0 + j] - row_start
            a = 1.0 if bias else (X[c, k] if l == 0 else AT[z_off[l - 1] + k * sizes[l] + c])
            b = j * steps
            reach = largest_step(delta, b, steps) * abs(a)
            if relu_type and abs(z) > reach:
                # No step reaches the kink: d is dz times the slope, exactly.
                g = 1.0 if z > 0.0 else slope
                for q in range(b, b + steps):
                    Dm[k, q] = g * (delta[q] * a)
                d_max = max(d_max, g * reach)
                continue
            for q in range(b, b + steps):
                dz = delta[q] * a
                if hidden:
                    d, kink = unit_change(z, a_out, dz, code)
                    if kink:
                        kin[q] = 1.0
                else:
                    d = dz
                Dm[k, q] = d
                d_max = max(d_max, abs(d))
        if d_max > 0.0:
            active[n_act] = k
            moved[n_act] = d_max
            n_act += 1
    # Stage 2: pairs outside the sign-change interval (all of them, below
    # smooth layers) go through the network densely, a batch at a time.
    rows = pk.shape[0]
    n = 0
    for t in range(n_act):
        k = active[t]
        if linear_below and lo[k] < -moved[t] and moved[t] < hi[k]:
            continue  # every pair of this example is inside
        for q in range(Q):
            d = Dm[k, q]
            if d != 0.0 and not (linear_below and lo[k] < d < hi[k]):
                pk[n], pq[n], pd[n] = k, q, d
                Dm[k, q] = 0.0
                n += 1
                if n == rows:
                    dense_pairs(l, r, n, pk, pq, pd, sizes, acts, loss, WT, wt_off, ZT, AT,
                                z_off, YT, CT, buf_a, buf_b, acc, kin)
                    n = 0
    if n > 0:
        dense_pairs(l, r, n, pk, pq, pd, sizes, acts, loss, WT, wt_off, ZT, AT, z_off, YT,
                    CT, buf_a, buf_b, acc, kin)
    if not linear_below:
        return
    # Stage 3: the rest move the logits by d V[k, :].
    AL = AT[z_off[L - 1]:z_off[L]].reshape((m, nL))
    for t in range(n_act):
        k = active[t]
        example_deltas(AL[k], CT[k], YT[k], V[k], Dm[k], acc[:Q], tmp, loss)


@njit(cache=True, error_model="numpy")
def quotient(d_a, d_b, s, a, b, step, weight, l2, m):
    """(J(theta + a step e_i) - J(theta + b step e_i)) / ((a - b) step) from the
    data terms' changes m * dJ, plus the L2 term's closed form for a weight."""
    value = (d_a - d_b) / m
    if weight and l2 != 0.0:
        up, down = s + a * step, s + b * step
        value += l2 / (2.0 * m) * (up * up - down * down)
    return value / ((a - b) * step)


@njit(parallel=True, cache=True, error_model="numpy")
def layered_difference(theta, sizes, acts, loss, l2, X, WT, wt_off, ZT, AT, z_off, YT,
                       base_example, base_logit, points, weights, divisor, idx, h, work,
                       cols, out, kinks):
    """out[k]: the derivative along e_i, i = idx[k] (sorted), from the cached forward pass.

    ``points`` (S,) (S <= MAX_POINTS), ``weights`` and ``divisor`` are the
    method's linear stencil (``planning.methods.Stencil``): pair j of points
    gives the quotient D_j at steps points[2j] h and points[2j+1] h, and
    out[k] = (w_0 D_0 + w_1 D_1 + ...) / divisor, as ``central.sweep`` rounds it.
    kinks[k] = 1 where a ReLU kink lies within the steps. ``work`` (R,
    work_width) float64 and ``cols`` (R, int_width) int64 are per-thread
    scratch; thread q takes the q-th of R contiguous shares of the block's
    row items. ``base_example`` and ``base_logit`` are not needed here (the
    loss changes are computed directly) and kept for the common signature.
    """
    offsets = layer_offsets(sizes)
    L = sizes.shape[0] - 1
    m = X.shape[1]
    nL = sizes[L]
    n_max = widest(sizes)
    rows = pair_rows(m)
    P = PERTURBATIONS
    steps = points.shape[0]
    ZT_L = ZT[z_off[L - 1]:z_off[L]].reshape((m, nL))
    CT = complement_table(ZT_L, YT, loss)
    linear_below = piecewise_linear_below(sizes, acts)
    starts = row_items(idx, sizes, offsets)
    n_items = starts.shape[0] - 1
    R = work.shape[0]
    for q in prange(R):
        w, ints = work[q], cols[q]
        V = w[:m * nL].reshape((m, nL))
        lo = w[m * nL:m * nL + m]
        hi = w[m * nL + m:m * nL + 2 * m]
        at = m * nL + 2 * m
        D = w[at:at + m * P]
        at += m * P
        acc, kin = w[at:at + P], w[at + P:at + 2 * P]
        delta, tmp = w[at + 2 * P:at + 3 * P], w[at + 3 * P:at + 4 * P]
        at += 4 * P
        moved = w[at:at + m]
        pd = w[at + m:at + m + rows]
        at += m + rows
        buf_a = w[at:at + rows * n_max]
        buf_b = w[at + rows * n_max:at + 2 * rows * n_max]
        active, pk, pq = ints[:m], ints[m:m + rows], ints[m + rows:m + 2 * rows]
        known_l, known_r = -1, -1
        for it in range(q * n_items // R, (q + 1) * n_items // R):
            k0, k1 = starts[it], starts[it + 1]
            l, r, c = locate(idx[k0], sizes, offsets)
            fast = linear_below[l]
            if fast and (l != known_l or r != known_r):
                row_response(l, r, sizes, acts, WT, wt_off, ZT, z_off, V, lo, hi, buf_a,
                             buf_b)
                known_l, known_r = l, r
            for j in range(k1 - k0):
                s, step = theta[idx[k0 + j]], h[k0 + j]
                for p in range(steps):
                    delta[j * steps + p] = (s + points[p] * step) - s
            item_deltas(idx, k0, k1, l, r, c < 0, delta, steps, sizes, offsets, acts, loss,
                        X, WT, wt_off, ZT, AT, z_off, YT, CT, fast, V, lo, hi, D, acc, kin,
                        tmp, moved, pd, buf_a, buf_b, active, pk, pq)
            for j in range(k1 - k0):
                k = k0 + j
                s, step = theta[idx[k]], h[k]
                b = j * steps
                estimate = 0.0
                for p in range(weights.shape[0]):
                    d = quotient(acc[b + 2 * p], acc[b + 2 * p + 1], s, points[2 * p],
                                 points[2 * p + 1], step, c >= 0, l2, m)
                    # The first term alone, not 0 + it: a -0.0 keeps its sign.
                    estimate = weights[0] * d if p == 0 else estimate + weights[p] * d
                out[k] = estimate / divisor
                kink = False
                for p in range(steps):
                    kink = kink or kin[b + p] != 0.0
                kinks[k] = 1 if kink else 0


@njit(parallel=True, cache=True, error_model="numpy")
def layered_complex_step(theta, sizes, acts, loss, l2, X, WT, wt_off, ZT, AT, z_off, YT,
                         base_example, base_logit, idx, h, work, cols, out):
    """out[k] = Im J(theta + i h[k] e_i) / h[k] from the cached forward pass.

    ``work`` is complex (R, work_width): the perturbation's effect is carried
    as complex changes to the cached real activations, one coordinate at a
    time (``layered_coordinate.delta_loss``).
    """
    offsets = layer_offsets(sizes)
    m = X.shape[1]
    n = idx.shape[0]
    rows = work.shape[0]
    for q in prange(rows):
        for k in range(q, n, rows):
            i = idx[k]
            l, r, c = locate(i, sizes, offsets)
            d, _ = delta_loss(l, r, c, 1j * h[k], sizes, acts, loss, X, WT, wt_off, ZT, AT,
                              z_off, YT, base_example, base_logit, work[q], cols[q])
            value = d.imag / (m * h[k])
            if c >= 0 and l2 != 0.0:
                value += l2 / m * theta[i]
            out[k] = value

"""Dense networks over a flat parameter buffer: forward, cost, exact backward.

Conventions (the seed's): X (n0, m) has one example per column; theta stacks
W1 (n1, n0), b1 (n1, 1), W2 (n2, n1), b2 (n2, 1), ... in C order. A network is
described to the kernels by plain arrays:

- ``sizes`` (L + 1,) int64: n0, n1, ..., nL;
- ``acts`` (L,) int64: the activation code of each layer, the last one being
  the output's (SIGMOID, SOFTMAX or LINEAR, fixed by the loss);
- ``loss`` an int code (BCE, CE, MSE) and ``l2`` the L2 strength.

The cost is (1/m) sum of per-example losses + (l2 / 2m) sum_l ||W_l||_F^2,
computed from the logits Z_L so that no log(0) arises for large logits. MSE is
(1/2m) ||Z_L - Y||_F^2.

Comparisons use ``.real`` and every branch is an analytic function of its
input, so the same code runs on complex128 theta for the complex step.
"""

import numpy as np
from numba import njit, prange

from .central import RICHARDSON, richardson

LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID, SOFTMAX = 0, 1, 2, 3, 4, 5
BCE, CE, MSE = 0, 1, 2
LEAKY_SLOPE = 0.01


@njit(cache=True)
def layer_offsets(sizes):
    """(L + 1,) offsets of W_l in theta; b_l starts at offsets[l] + n_l * n_{l-1}."""
    L = sizes.shape[0] - 1
    offsets = np.empty(L + 1, dtype=np.int64)
    offsets[0] = 0
    for l in range(L):
        offsets[l + 1] = offsets[l] + sizes[l + 1] * sizes[l] + sizes[l + 1]
    return offsets


@njit(cache=True)
def weights(theta, sizes, offsets, l):
    """Views of W_{l+1} (n_{l+1}, n_l) and b_{l+1} (n_{l+1}, 1) in theta."""
    n_out, n_in = sizes[l + 1], sizes[l]
    start = offsets[l]
    W = theta[start:start + n_out * n_in].reshape((n_out, n_in))
    b = theta[start + n_out * n_in:start + n_out * n_in + n_out].reshape((n_out, 1))
    return W, b


@njit(cache=True)
def activate(Z, code):
    """A = g(Z), elementwise for every code but SOFTMAX (per column)."""
    A = np.empty_like(Z)
    n, m = Z.shape
    if code == SOFTMAX:
        for j in range(m):
            top = Z[0, j].real
            for i in range(1, n):
                top = max(top, Z[i, j].real)
            total = 0.0 * Z[0, j]
            for i in range(n):
                A[i, j] = np.exp(Z[i, j] - top)
                total += A[i, j]
            for i in range(n):
                A[i, j] /= total
        return A
    for i in range(n):
        for j in range(m):
            z = Z[i, j]
            if code == RELU:
                A[i, j] = z if z.real > 0.0 else 0.0 * z
            elif code == LEAKY_RELU:
                A[i, j] = z if z.real > 0.0 else LEAKY_SLOPE * z
            elif code == TANH:
                A[i, j] = np.tanh(z)
            elif code == SIGMOID:
                # exp of a non-positive real part only: no overflow for large |z|.
                if z.real >= 0.0:
                    A[i, j] = 1.0 / (1.0 + np.exp(-z))
                else:
                    e = np.exp(z)
                    A[i, j] = e / (1.0 + e)
            else:
                A[i, j] = z
    return A


@njit(cache=True)
def derivative(Z, A, code):
    """g'(Z) elementwise (A = g(Z) given), for every hidden code."""
    D = np.empty_like(Z)
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            if code == RELU:
                D[i, j] = 1.0 if Z[i, j].real > 0.0 else 0.0
            elif code == LEAKY_RELU:
                D[i, j] = 1.0 if Z[i, j].real > 0.0 else LEAKY_SLOPE
            elif code == TANH:
                D[i, j] = 1.0 - A[i, j] * A[i, j]
            elif code == SIGMOID:
                D[i, j] = A[i, j] * (1.0 - A[i, j])
            else:
                D[i, j] = 1.0
    return D


@njit(cache=True)
def bce_element(z, y):
    """-y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - z y + log(1 + exp(-|z|))."""
    if z.real >= 0.0:
        return z - z * y + np.log1p(np.exp(-z))
    return -z * y + np.log1p(np.exp(z))


@njit(cache=True)
def mse_element(z, y):
    """(z - y)^2 / 2."""
    d = z - y
    return 0.5 * d * d


@njit(cache=True)
def ce_column(z, y):
    """-sum_i y_i log softmax(z)_i = sum_i y_i (logsumexp(z) - z_i), z and y (n,)."""
    top = z[0].real
    for i in range(1, z.shape[0]):
        top = max(top, z[i].real)
    s = 0.0 * z[0]
    for i in range(z.shape[0]):
        s += np.exp(z[i] - top)
    lse = top + np.log(s)
    total = 0.0 * z[0]
    for i in range(z.shape[0]):
        total += y[i] * (lse - z[i])
    return total


@njit(cache=True)
def loss_sum(Z, Y, loss):
    """Sum over all examples of the loss of logits Z (nL, m) against targets Y."""
    n, m = Z.shape
    total = 0.0 * Z[0, 0]
    if loss == CE:
        for j in range(m):
            total += ce_column(Z[:, j], Y[:, j])
    elif loss == BCE:
        for i in range(n):
            for j in range(m):
                total += bce_element(Z[i, j], Y[i, j])
    else:
        for i in range(n):
            for j in range(m):
                total += mse_element(Z[i, j], Y[i, j])
    return total


@njit(cache=True)
def l2_sum(theta, sizes, offsets):
    """sum_l ||W_l||_F^2."""
    total = 0.0 * theta[0]
    for l in range(sizes.shape[0] - 1):
        W, _ = weights(theta, sizes, offsets, l)
        for w in W.ravel():
            total += w * w
    return total


@njit(cache=True)
def logits(theta, sizes, acts, X):
    """Z_L (nL, m): the forward pass up to the output's pre-activation."""
    offsets = layer_offsets(sizes)
    L = sizes.shape[0] - 1
    A = X
    for l in range(L - 1):
        W, b = weights(theta, sizes, offsets, l)
        A = activate(W @ A + b, acts[l])
    W, b = weights(theta, sizes, offsets, L - 1)
    return W @ A + b


@njit(cache=True)
def cost(theta, sizes, acts, loss, l2, X, Y):
    """J(theta): mean loss plus (l2 / 2m) sum_l ||W_l||^2. X (n0, m), Y (nL, m)."""
    m = X.shape[1]
    J = loss_sum(logits(theta, sizes, acts, X), Y, loss) / m
    if l2 != 0.0:
        J += l2 / (2.0 * m) * l2_sum(theta, sizes, layer_offsets(sizes))
    return J


@njit(cache=True)
def forward(theta, sizes, acts, X, Z_out, A_out):
    """Fill Z_out and A_out, flat (sum_l n_l * m,), with Z_l and A_l for l = 1..L.

    Layer l occupies [m * (n_1 + ... + n_{l-1}), ...) reshaped (n_l, m).
    """
    offsets = layer_offsets(sizes)
    m = X.shape[1]
    A = X
    start = 0
    for l in range(sizes.shape[0] - 1):
        W, b = weights(theta, sizes, offsets, l)
        n = sizes[l + 1]
        Z = W @ A + b
        A = activate(Z, acts[l])
        Z_out[start:start + n * m] = Z.ravel()
        A_out[start:start + n * m] = A.ravel()
        start += n * m


@njit(cache=True)
def backward(theta, sizes, acts, loss, l2, X, Y, grad):
    """Fill grad (P,) with dJ/dtheta, laid out like theta. X (n0, m), Y (nL, m)."""
    offsets = layer_offsets(sizes)
    L = sizes.shape[0] - 1
    m = X.shape[1]
    total = 0
    for l in range(L):
        total += sizes[l + 1] * m
    Zs = np.empty(total, dtype=theta.dtype)
    As = np.empty(total, dtype=theta.dtype)
    forward(theta, sizes, acts, X, Zs, As)
    starts = np.zeros(L + 1, dtype=np.int64)
    for l in range(L):
        starts[l + 1] = starts[l] + sizes[l + 1] * m
    # Every output/loss pair is canonical: dJ/dZ_L = (A_L - Y) / m.
    A_L = As[starts[L - 1]:starts[L]].reshape((sizes[L], m))
    dZ = (A_L - Y) / m
    for l in range(L - 1, -1, -1):
        A_prev = X if l == 0 else As[starts[l - 1]:starts[l]].reshape((sizes[l], m))
        W, _ = weights(theta, sizes, offsets, l)
        dW, db = weights(grad, sizes, offsets, l)
        dW[:, :] = dZ @ A_prev.T + (l2 / m) * W
        db[:, 0] = dZ.sum(axis=1)
        if l > 0:
            Z_prev = Zs[starts[l - 1]:starts[l]].reshape((sizes[l], m))
            dZ = (W.T @ dZ) * derivative(Z_prev, A_prev, acts[l - 1])


@njit(parallel=True, cache=True)
def finite_difference(sizes, acts, loss, l2, X, Y, method, idx, h, scratch, out, aux):
    """The generic engine on a built-in network: full forwards per coordinate.

    ``method`` CENTRAL: out[k] = (J(theta + h e_i) - J(theta - h e_i)) / (2h),
    i = idx[k]; RICHARDSON: the same at h and h/2 combined to O(h^4), with
    aux[k] = D(h) - D(h/2). ``scratch`` (R, P) rows equal theta on entry and on
    exit (restored by writing back the saved value); row r handles k = r, r + R, ...
    """
    n = idx.shape[0]
    rows = scratch.shape[0]
    for r in prange(rows):
        row = scratch[r]
        for k in range(r, n, rows):
            i = idx[k]
            saved = row[i]
            row[i] = saved + h[k]
            j_plus = cost(row, sizes, acts, loss, l2, X, Y)
            row[i] = saved - h[k]
            j_minus = cost(row, sizes, acts, loss, l2, X, Y)
            d_coarse = (j_plus - j_minus) / (2.0 * h[k])
            if method == RICHARDSON:
                half = 0.5 * h[k]
                row[i] = saved + half
                j_plus = cost(row, sizes, acts, loss, l2, X, Y)
                row[i] = saved - half
                j_minus = cost(row, sizes, acts, loss, l2, X, Y)
                d_fine = (j_plus - j_minus) / (2.0 * half)
                out[k] = richardson(d_coarse, d_fine)
                aux[k] = d_coarse - d_fine
            else:
                out[k] = d_coarse
            row[i] = saved


@njit(parallel=True, cache=True)
def complex_step(sizes, acts, loss, l2, X, Y, idx, h, scratch, out):
    """out[k] = Im J(theta + i h[k] e_i) / h[k] on a built-in network.

    ``X`` is complex128 (Numba's @ wants matching dtypes); ``scratch`` (R, P)
    complex rows equal theta on entry and on exit.
    """
    n = idx.shape[0]
    rows = scratch.shape[0]
    for r in prange(rows):
        row = scratch[r]
        for k in range(r, n, rows):
            i = idx[k]
            saved = row[i]
            row[i] = saved + 1j * h[k]
            out[k] = cost(row, sizes, acts, loss, l2, X, Y).imag / h[k]
            row[i] = saved

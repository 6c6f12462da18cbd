"""The built-in MLP in NumPy: forward pass, cost and exact backward, from Python.

The compiled twin in ``kernels/mlp.py`` runs inside the engines' kernels
(and the complex step); this one serves the calls made from Python (a
model's cost, its gradients, the layered engine's cached forward pass), so
that none of them waits seconds for Numba to compile on a fresh machine. The
two compute the same formulas (tests/test_models.py holds both to a NumPy
twin written apart, to 1e-12).
"""

import numpy as np

from ..kernels.mlp import BCE, CE, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, SOFTMAX, TANH


def weights(theta, sizes):
    """[(W_l (n_l, n_{l-1}), b_l (n_l, 1)) views of theta (P,)] for l = 1..L."""
    out, start = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[start:start + n_out * n_in].reshape(n_out, n_in)
        start += n_out * n_in
        out.append((W, theta[start:start + n_out].reshape(n_out, 1)))
        start += n_out
    return out


def activate(Z, code):
    """A = g(Z) (n, m); softmax per column."""
    if code == RELU:
        return np.where(Z > 0.0, Z, 0.0)
    if code == LEAKY_RELU:
        return np.where(Z > 0.0, Z, LEAKY_SLOPE * Z)
    if code == TANH:
        return np.tanh(Z)
    if code == SIGMOID:
        e = np.exp(-np.abs(Z))  # never overflows: exp of a non-positive number
        return np.where(Z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))
    if code == SOFTMAX:
        e = np.exp(Z - Z.max(axis=0))
        return e / e.sum(axis=0)
    return Z


def derivative(Z, A, code):
    """g'(Z) (n, m) for the hidden codes, A = g(Z)."""
    if code == RELU:
        return (Z > 0.0).astype(np.float64)
    if code == LEAKY_RELU:
        return np.where(Z > 0.0, 1.0, LEAKY_SLOPE)
    if code == TANH:
        return 1.0 - A * A
    if code == SIGMOID:
        return A * (1.0 - A)
    return np.ones_like(Z)


def forward(theta, sizes, acts, X):
    """[(Z_l, A_l)] for l = 1..L: pre-activations and activations, (n_l, m) each."""
    out, A = [], X
    for (W, b), code in zip(weights(theta, sizes), acts):
        Z = W @ A + b
        A = activate(Z, code)
        out.append((Z, A))
    return out


def loss_sum(Z, Y, loss):
    """Sum over examples of the loss of logits Z (nL, m), computed from the logits."""
    if loss == BCE:
        # -y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - z y + log(1 + exp(-|z|))
        return float(np.sum(np.maximum(Z, 0.0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))))
    if loss == CE:
        top = Z.max(axis=0)
        lse = top + np.log(np.exp(Z - top).sum(axis=0))
        return float(np.sum(Y * (lse - Z)))
    return float(0.5 * np.sum((Z - Y) ** 2))


def cost(theta, sizes, acts, loss, l2, X, Y):
    """J(theta): the mean loss plus (l2 / 2m) sum_l ||W_l||^2."""
    m = X.shape[1]
    J = loss_sum(forward(theta, sizes, acts, X)[-1][0], Y, loss) / m
    if l2:
        J += l2 / (2.0 * m) * sum(float(np.sum(W * W)) for W, _ in weights(theta, sizes))
    return J


def backward(theta, sizes, acts, loss, l2, X, Y):
    """dJ/dtheta (P,), laid out like theta. Every output/loss pair is canonical:
    dJ/dZ_L = (A_L - Y) / m."""
    m = X.shape[1]
    layers = forward(theta, sizes, acts, X)
    grad = np.empty_like(theta)
    dZ = (layers[-1][1] - Y) / m
    params = weights(theta, sizes)
    grads = weights(grad, sizes)
    for l in range(len(params) - 1, -1, -1):
        W, _ = params[l]
        A_prev = X if l == 0 else layers[l - 1][1]
        dW, db = grads[l]
        dW[:, :] = dZ @ A_prev.T + (l2 / m) * W
        db[:, 0] = dZ.sum(axis=1)
        if l > 0:
            dZ = (W.T @ dZ) * derivative(layers[l - 1][0], A_prev, acts[l - 1])
    return grad

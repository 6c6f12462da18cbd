"""A slow, obvious NumPy twin of the built-in MLP (kernels/mlp.py).

Written from the textbook formulas, dict in, dict out, with no shared code:
the tests compare the compiled model against it.
"""

import numpy as np

SLOPE = 0.01


def act(z, name):
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, SLOPE * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)
    assert name == "linear"
    return z


def act_grad(z, name):
    if name == "relu":
        return (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, SLOPE)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    assert name == "linear"
    return np.ones_like(z)


def forward(params, X, hidden, output):
    """Lists Z = [Z1..ZL], A = [X, A1..AL]."""
    L = len(params) // 2
    A, Z = [X], []
    for l in range(1, L + 1):
        z = params[f"W{l}"] @ A[-1] + params[f"b{l}"]
        Z.append(z)
        A.append(act(z, hidden[l - 1] if l < L else output))
    return Z, A


def cost(params, X, Y, hidden, output, loss, l2):
    m = X.shape[1]
    _, A = forward(params, X, hidden, output)
    a = A[-1]
    if loss == "bce":
        J = np.sum(-Y * np.log(a) - (1 - Y) * np.log(1 - a)) / m
    elif loss == "ce":
        J = -np.sum(Y * np.log(a)) / m
    else:
        J = 0.5 * np.sum((a - Y) ** 2) / m
    L = len(params) // 2
    return J + l2 / (2 * m) * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, L + 1))


def backward(params, X, Y, hidden, output, l2):
    m = X.shape[1]
    L = len(params) // 2
    Z, A = forward(params, X, hidden, output)
    dZ = (A[-1] - Y) / m
    grads = {}
    for l in range(L, 0, -1):
        grads[f"dW{l}"] = dZ @ A[l - 1].T + l2 / m * params[f"W{l}"]
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True)
        if l > 1:
            dZ = (params[f"W{l}"].T @ dZ) * act_grad(Z[l - 2], hidden[l - 2])
    return grads

"""Networks ``fastcheck.locate`` is measured on beyond the course-style one of
``fastcheck.app.locatenet`` (tests/test_locate_scale.py and
benchmarks/test_bench_locate_floor.py): written as users write them, each with
its hand-written backward pass.

- ``blocks``: a stack of residual blocks with per-feature gains and shifts (a
  Transformer-like layout of many small tensors): 6 tensors a block and a
  head, 38 tensors for 6 blocks.
- ``f32``: a mini framework's float32 MLP (parameters, data and gradients all
  float32; NumPy keeps the arithmetic in float32).
"""

import numpy as np


def blocks_init(seed, d=6, h=8, blocks=6, m=5):
    """(params, X, Y): ``blocks`` residual blocks of width ``d`` (gain g (d, 1),
    shift s (d, 1), W1_l (h, d), b1_l (h, 1), W2_l (d, h), b2_l (d, 1)) and a
    head Wo (1, d), bo (1, 1); X (d, m), Y (1, m)."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(blocks):
        params[f"g{l}"] = 1.0 + 0.1 * rng.standard_normal((d, 1))
        params[f"s{l}"] = 0.1 * rng.standard_normal((d, 1))
        params[f"W1_{l}"] = rng.standard_normal((h, d)) / np.sqrt(d)
        params[f"b1_{l}"] = 0.1 * rng.standard_normal((h, 1))
        params[f"W2_{l}"] = 0.5 * rng.standard_normal((d, h)) / np.sqrt(h)
        params[f"b2_{l}"] = 0.1 * rng.standard_normal((d, 1))
    params["Wo"] = rng.standard_normal((1, d)) / np.sqrt(d)
    params["bo"] = np.zeros((1, 1))
    return params, rng.standard_normal((d, m)), rng.standard_normal((1, m))


def _blocks(params):
    return (len(params) - 2) // 6


def blocks_forward(p, X, Y):
    """(J, cache): x <- x + W2 tanh(W1 (g * x + s) + b1) + b2 per block, then a
    linear head and half the mean squared error."""
    x, caches = X, []
    for l in range(_blocks(p)):
        u = p[f"g{l}"] * x + p[f"s{l}"]
        a = np.tanh(p[f"W1_{l}"] @ u + p[f"b1_{l}"])
        caches.append((x, u, a))
        x = x + p[f"W2_{l}"] @ a + p[f"b2_{l}"]
    out = p["Wo"] @ x + p["bo"]
    return 0.5 * np.mean((out - Y) ** 2), (caches, x, out)


def blocks_cost(p, X, Y):
    return blocks_forward(p, X, Y)[0]


def blocks_backward(p, X, Y):
    """The gradient of ``blocks_cost``: a dict of d<name> like the parameters."""
    caches, x, out = blocks_forward(p, X, Y)[1]
    grads = {}
    dout = (out - Y) / Y.shape[1]
    grads["dWo"] = dout @ x.T
    grads["dbo"] = dout.sum(axis=1, keepdims=True)
    dx = p["Wo"].T @ dout
    for l in reversed(range(_blocks(p))):
        x_in, u, a = caches[l]
        grads[f"dW2_{l}"] = dx @ a.T
        grads[f"db2_{l}"] = dx.sum(axis=1, keepdims=True)
        dz = (p[f"W2_{l}"].T @ dx) * (1.0 - a ** 2)
        grads[f"dW1_{l}"] = dz @ u.T
        grads[f"db1_{l}"] = dz.sum(axis=1, keepdims=True)
        du = p[f"W1_{l}"].T @ dz
        grads[f"dg{l}"] = (du * x_in).sum(axis=1, keepdims=True)
        grads[f"ds{l}"] = du.sum(axis=1, keepdims=True)
        dx = dx + du * p[f"g{l}"]
    return grads


def f32_init(seed, sizes=(64, 48, 10), m=16):
    """(params, X, Y), all float32: W_l (n_l, n_{l-1}), b_l (n_l, 1), X (n_0, m),
    one-hot Y (n_L, m)."""
    rng = np.random.default_rng(seed)
    p = {}
    for l in range(1, len(sizes)):
        p[f"W{l}"] = (rng.standard_normal((sizes[l], sizes[l - 1]))
                      * np.sqrt(2 / sizes[l - 1])).astype(np.float32)
        p[f"b{l}"] = np.zeros((sizes[l], 1), np.float32)
    X = (0.3 * rng.standard_normal((sizes[0], m))).astype(np.float32)
    Y = np.eye(sizes[-1], dtype=np.float32)[:, rng.integers(0, sizes[-1], m)]
    return p, X, Y


def f32_forward(p, X, Y):
    """(J, cache) of a two-layer ReLU network with softmax cross-entropy."""
    Z1 = p["W1"] @ X + p["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = p["W2"] @ A1 + p["b2"]
    e = np.exp(Z2 - Z2.max(0))
    A2 = e / e.sum(0)
    return -np.sum(Y * np.log(A2)) / X.shape[1], (Z1, A1, A2)


def f32_cost(p, X, Y):
    return f32_forward(p, X, Y)[0]


def f32_backward(p, X, Y):
    """The gradient of ``f32_cost``, computed in float32 as the framework does."""
    _, (Z1, A1, A2) = f32_forward(p, X, Y)
    dZ2 = (A2 - Y) / X.shape[1]
    g = {"dW2": dZ2 @ A1.T, "db2": dZ2.sum(1, keepdims=True)}
    dZ1 = (p["W2"].T @ dZ2) * (Z1 > 0)
    g["dW1"] = dZ1 @ X.T
    g["db1"] = dZ1.sum(1, keepdims=True)
    return g

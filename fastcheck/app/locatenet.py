"""A course-style ReLU network with its hand-written backward pass, and the
mistakes ``fastcheck.locate`` must find in it (tests/test_locate.py, the
benchmark and the README's large-network run).

The layout of the classic assignment: X (n_x, m), examples in columns;
W_l (n_l, n_{l-1}), b_l (n_l, 1) in a dict; helper functions per layer;
ReLU hidden layers, softmax cross-entropy, optional L2 (lambda / 2m sum W^2).
``backward(params, cache, mistake=None)`` is correct for ``mistake=None``;
``MISTAKES`` maps each planted mistake to the tensors it makes wrong.
"""

import numpy as np


def init(sizes, seed=0, m=16, scale=1.0):
    """(params, X, Y): He-initialised weights (times ``scale``), small biases,
    data X (n_x, m) with 20% non-zero entries and one-hot labels Y (n_L, m)."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = scale * rng.standard_normal((sizes[l], sizes[l - 1])) \
            * np.sqrt(2.0 / sizes[l - 1])
        params[f"b{l}"] = 0.01 * rng.standard_normal((sizes[l], 1))
    X = rng.standard_normal((sizes[0], m)) * (rng.random((sizes[0], m)) < 0.2)
    Y = np.eye(sizes[-1])[:, rng.integers(0, sizes[-1], m)]
    return params, X, Y


def linear_forward(A_prev, W, b):
    return W @ A_prev + b


def relu(Z):
    return np.maximum(Z, 0.0)


def softmax(Z):
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def layers(params):
    return len(params) // 2


def forward(params, X, Y, lambd=0.0):
    """(cost, cache): the mean cross-entropy plus lambd / 2m sum ||W_l||^2."""
    L, m = layers(params), X.shape[1]
    A, cache = X, []
    for l in range(1, L + 1):
        Z = linear_forward(A, params[f"W{l}"], params[f"b{l}"])
        cache.append((A, Z))
        A = relu(Z) if l < L else softmax(Z)
    cost = -np.sum(Y * np.log(A)) / m
    if lambd:
        cost += lambd / (2 * m) * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, L + 1))
    return cost, (cache, A, lambd)


def cost(params, X, Y):
    """The cost alone, as ``fastcheck`` calls it."""
    return forward(params, X, Y)[0]


def cost_l2(params, X, Y):
    return forward(params, X, Y, lambd=0.7)[0]


#: mistake -> the tensors it makes wrong.
MISTAKES = {"coordinate": ["W1"], "row": ["W1"], "column": ["W1"], "scale": ["W2"],
            "axis": ["b1"], "l2": ["W1"], "mask": ["W1", "b1"]}
#: Where the single wrong coordinate, row and column go.
WRONG_COORDINATE, WRONG_ROW, WRONG_COLUMN = (3, 5), 2, 7


def backward(params, X, Y, cache, mistake=None, near_kink=4):
    """dict of dW_l (n_l, n_{l-1}) and db_l (n_l, 1); ``mistake`` plants one
    of ``MISTAKES`` ("mask": the ReLU derivative taken as Z > t, wrong only for
    the ``near_kink`` (unit, example) pairs nearest the kink on the positive side)."""
    layer_cache, A_L, lambd = cache
    L, m = layers(params), X.shape[1]
    grads = {}
    dZ = (A_L - Y) / m
    for l in range(L, 0, -1):
        A_prev, _ = layer_cache[l - 1]
        W = params[f"W{l}"]
        grads[f"dW{l}"] = dZ @ A_prev.T + (0.0 if mistake == "l2" and l == 1 else lambd / m * W)
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True)
        if mistake == "axis" and l == 1:
            grads["db1"] = np.sum(dZ) + 0.0 * grads["db1"]   # axis forgotten, broadcast back
        if l > 1:
            dA = W.T @ dZ
            Z_prev = layer_cache[l - 2][1]
            t = 0.0
            if mistake == "mask" and l == 2:
                positive = np.sort(Z_prev[Z_prev > 0].ravel())
                t = 0.5 * (positive[near_kink - 1] + positive[near_kink])
            dZ = dA * (Z_prev > t)
    if mistake == "coordinate":
        grads["dW1"][WRONG_COORDINATE] += 1e-2 * max(1e-3, abs(grads["dW1"][WRONG_COORDINATE]))
    elif mistake == "row":
        grads["dW1"][WRONG_ROW] *= 1.01
    elif mistake == "column":
        grads["dW1"][:, WRONG_COLUMN] *= 1.01
    elif mistake == "scale":
        grads["dW2"] *= 1.0001
    return grads


def plant_kinks(params, X, count, seed=0, distance=1e-9):
    """Move ``count`` first-layer pre-activations to ``distance`` from the kink
    (through b1, one (unit, example) pair per unit): steps of 1e-7 cross them."""
    rng = np.random.default_rng(seed)
    params = {k: v.copy() for k, v in params.items()}
    units = rng.choice(params["W1"].shape[0], count, replace=False)
    for u in units:
        e = rng.integers(X.shape[1])
        params["b1"][u, 0] = distance - params["W1"][u] @ X[:, e]
    return params

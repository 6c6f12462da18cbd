"""Costs in the plain style people write, for the benchmarks and the compiler tests.

Each is a Python/NumPy forward pass over a dict of parameters with helper
functions, loops where the layer needs them and its data as extra arguments;
none knows about fastcheck or Numba. ``WORKLOADS`` builds each with its data;
the benchmarks check them on the python engine and compiled, and against the
naive loop (the registry in ``registry.py`` lists them).
"""

import numpy as np

from .exercises import relu, sigmoid


# --- an L-layer ReLU MLP with L2, lambda as an argument or a module global ---

def linear_forward(A, W, b):
    return W @ A + b


def mlp_l2(params, X, Y, lambd):
    """Keys built at run time, as in the course's L_model_forward."""
    L = len(params) // 2
    A = X
    reg = 0.0
    for l in range(1, L):
        A = relu(linear_forward(A, params["W" + str(l)], params["b" + str(l)]))
        reg += np.sum(np.square(params["W" + str(l)]))
    WL, bL = params["W" + str(L)], params["b" + str(L)]
    AL = sigmoid(linear_forward(A, WL, bL))
    reg += np.sum(np.square(WL))
    m = Y.shape[1]
    cross = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
    return cross + lambd / (2 * m) * reg


# --- a softmax classifier with integer labels --------------------------------

def softmax(z):
    z = z - np.max(z)
    e = np.exp(z)
    return e / np.sum(e)


def softmax_cost(params, X, y):
    """X (n, m), y (m,) integer class labels; b is 1-D."""
    W, b = params["W"], params["b"]
    m = X.shape[1]
    total = 0.0
    for i in range(m):
        p = softmax(W @ X[:, i] + b)
        total -= np.log(p[y[i]])
    return total / m


# --- a small CNN on a 4-D batch ----------------------------------------------

def conv2d(x, w, b):
    """x (C, H, W), w (F, C, k, k), b (F,): valid convolution, stride 1."""
    F, C, k, _ = w.shape
    H, W = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((F, H, W))
    for f in range(F):
        for i in range(H):
            for j in range(W):
                out[f, i, j] = np.sum(x[:, i:i + k, j:j + k] * w[f]) + b[f]
    return out


def maxpool2(x):
    C, H, W = x.shape
    out = np.empty((C, H // 2, W // 2))
    for c in range(C):
        for i in range(H // 2):
            for j in range(W // 2):
                out[c, i, j] = np.max(x[c, 2 * i:2 * i + 2, 2 * j:2 * j + 2])
    return out


def cnn_cost(params, images, labels):
    """images (N, C, H, W), labels (N,) int: conv -> relu -> pool -> dense -> softmax."""
    total = 0.0
    N = images.shape[0]
    for n in range(N):
        h = maxpool2(relu(conv2d(images[n], params["K"], params["c"])))
        logits = params["V"] @ h.ravel() + params["d"]
        total -= np.log(softmax(logits)[labels[n]])
    return total / N


# --- an LSTM step unrolled over a short sequence -----------------------------

def lstm_step(x, h, c, Wf, Wi, Wo, Wc):
    z = np.concatenate((h, x))
    f = sigmoid(Wf @ z)
    i = sigmoid(Wi @ z)
    o = sigmoid(Wo @ z)
    c = f * c + i * np.tanh(Wc @ z)
    h = o * np.tanh(c)
    return h, c


def lstm_cost(params, xs, target):
    """xs (T, n_x), target (n_h,): squared error of the last hidden state."""
    n_h = params["Wf"].shape[0]
    h = np.zeros(n_h)
    c = np.zeros(n_h)
    for t in range(xs.shape[0]):
        h, c = lstm_step(xs[t], h, c, params["Wf"], params["Wi"], params["Wo"], params["Wc"])
    return 0.5 * np.sum((h - target) ** 2)


# --- the workloads: parameters and data ----------------------------------------

def mlp_workload(sizes=(784, 64, 10), m=32, lambd=0.7, seed=0):
    """``mlp_l2`` on an L-layer MLP (its keys W1..W3 at most), X (n0, m), Y 0/1."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1])) * np.sqrt(2 / sizes[l - 1])
        params[f"b{l}"] = 0.01 * rng.standard_normal((sizes[l], 1))
    X = rng.standard_normal((sizes[0], m))
    Y = rng.integers(0, 2, size=(sizes[-1], m)).astype(np.float64)
    return mlp_l2, params, (X, Y, lambd)


def softmax_workload(n=100, classes=10, m=64, seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": 0.1 * rng.standard_normal((classes, n)), "b": 0.01 * rng.standard_normal(classes)}
    return softmax_cost, params, (rng.standard_normal((n, m)), rng.integers(0, classes, size=m))


def cnn_workload(N=4, C=3, H=10, filters=4, k=3, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    pooled = filters * ((H - k + 1) // 2) ** 2
    params = {"K": 0.3 * rng.standard_normal((filters, C, k, k)),
              "c": 0.01 * rng.standard_normal(filters),
              "V": 0.1 * rng.standard_normal((classes, pooled)),
              "d": 0.01 * rng.standard_normal(classes)}
    images = rng.standard_normal((N, C, H, H))
    return cnn_cost, params, (images, rng.integers(0, classes, size=N))


def lstm_workload(n_x=8, n_h=16, T=6, seed=0):
    rng = np.random.default_rng(seed)
    params = {name: 0.3 * rng.standard_normal((n_h, n_h + n_x))
              for name in ("Wf", "Wi", "Wo", "Wc")}
    return lstm_cost, params, (rng.standard_normal((T, n_x)), rng.standard_normal(n_h))


def exercise_workload():
    """The exercise's own forward pass and test case, unchanged."""
    from .exercises import forward_propagation_n, gradient_check_n_test_case
    X, Y, params = gradient_check_n_test_case()
    return forward_propagation_n, params, (X, Y)


#: name -> builder of (cost, params, args), in the order the tables list them.
WORKLOADS = {"exercise": exercise_workload, "softmax": softmax_workload,
             "cnn": cnn_workload, "lstm": lstm_workload, "mlp-784-64-10": mlp_workload}

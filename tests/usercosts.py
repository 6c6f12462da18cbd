"""Costs written the way users write them, for tests/test_compiler*.py.

Plain Python and NumPy: helpers, module globals, closures, loops, tuples.
None of them knows about fastcheck or Numba.
"""

import numpy as np
import scipy.special
from numba import njit

from fastcheck.app import exercises
# The benchmark's user-style costs, which these tests compile too.
from fastcheck.app.usercosts import (cnn_cost, lstm_cost, mlp_l2,  # noqa: F401
                                     softmax_cost)

LAMBD = 0.7
LAYERS = 3


# --- the seed exercise's own forward pass and helpers, as the exercise wrote them ---
from fastcheck.app.exercises import relu, sigmoid, forward_propagation_n  # noqa: E402,F401


def mlp_l2_global(params, X, Y):
    """The same network, lambda read from the module global LAMBD, constant keys."""
    A1 = relu(params["W1"] @ X + params["b1"])
    A2 = relu(params["W2"] @ A1 + params["b2"])
    A3 = sigmoid(params["W3"] @ A2 + params["b3"])
    m = X.shape[1]
    cross = -np.sum(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)) / m
    reg = np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2) + np.sum(params["W3"] ** 2)
    return cross + LAMBD / (2 * m) * reg


# --- a closure, a (1, 1) result, a tuple result --------------------------------

def make_closure_cost(scale):
    def activation(z):
        return np.tanh(scale * z)

    def cost(params, X):
        return np.sum(activation(params["W"] @ X)) * scale
    return cost


def cost_11(params, X):
    """Returns a (1, 1) array, as np.dot of a row and a column does."""
    w = params["w"]
    return np.dot(w.T, X) @ np.dot(X.T, w) / 2


def cost_tuple(params, X):
    out = np.tanh(params["W"] @ X)
    return np.sum(out ** 2), out


def scalars_cost(params, X, k, scale, square, unused, mask):
    """An int, a float, a bool, None and a bool array among the arguments."""
    Z = params["W"] @ X[:, :k]
    if square:
        Z = Z * Z
    return scale * np.sum(np.where(mask, Z.sum(axis=1), 0.0))


@njit
def jitted_square(z):
    return z * z


def cross_module_cost(params, X):
    """A helper and a value read as attributes of another module, and an @njit helper."""
    A = exercises.sigmoid(params["W"] @ X)
    return np.sum(jitted_square(A)) + exercises.PUBLISHED_1D


def tanh_mlp(params, X, Y):
    A = np.tanh(params["W1"] @ X + params["b1"])
    out = params["W2"] @ A + params["b2"]
    return 0.5 * np.sum((out - Y) ** 2)


def relu_compare(params, X):
    """Runs in complex only through a comparison, which complex numbers lack."""
    Z = params["W"] @ X
    return np.sum(np.where(Z > 0, Z, 0.0))


def flat_cost(theta, X, Y):
    """The old jit form over the flat vector; lambda from the module global."""
    W = theta[0:6].reshape((2, 3))
    return np.sum((W @ X - Y) ** 2) + LAMBD * np.sum(W ** 2)


# --- constructs Numba cannot compile -------------------------------------------

def bad_einsum(params, X):
    Z = np.einsum('ij,jk', params["W"], X)
    return np.sum(Z)


def bad_generator(params, X):
    Z = params["W"] @ X
    return sum(float(z) ** 2 for z in Z.ravel())


class Layer:
    def __init__(self, scale):
        self.scale = scale

    def forward(self, z):
        return self.scale * z


LAYER = Layer(2.0)


def bad_object(params, X):
    Z = LAYER.forward(params["W"] @ X)
    return np.sum(Z)


def bad_library(params, X):
    A = scipy.special.expit(params["W"] @ X)
    return np.sum(A)


def bad_dynamic_key(params, X):
    """Keys computed at run time while W is 2-D and b 1-D: a heterogeneous dict."""
    A = X
    for l in range(1, 3):
        A = np.tanh(params["W" + str(l)] @ A + params["b" + str(l)][:, None])
    return np.sum(A)


def any_args(params, X, extra):
    return np.sum(params["W"] @ X)

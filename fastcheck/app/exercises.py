"""The seed exercise's two gradient checks, as fastcheck runs them.

1. J(theta) = theta * x, one real parameter.
2. LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID with the
   cross-entropy cost, parameters W1 (5, 4), b1 (5, 1), W2 (3, 5), b2 (3, 1),
   W3 (1, 3), b3 (1, 1); examples are the columns of X (4, m).

``backward_propagation_n`` has the exercise's two planted mistakes (dW2 times
2, db1 with 4/m) unless ``fixed=True``. ``seed_cost`` is the same forward pass
as a ``@jit_cost`` over the flat vector, for the generic engine.
"""

import numpy as np

from fastcheck.costs import jit_cost

#: The exercise's published differences (eps = 1e-7).
PUBLISHED_1D = 2.919335883291695e-10
PUBLISHED_PLANTED = 0.2850931567761623


def forward_propagation(x, theta):
    """J(theta) = theta * x."""
    return theta * x


def backward_propagation(x, theta):
    """dJ/dtheta = x."""
    return x


def cost_1d(params, x):
    """The 1-D forward pass as a fastcheck cost: ``params = {"theta": theta}``."""
    return forward_propagation(x, params["theta"])


def gradient_check_n_test_case():
    """The exercise's test case: X (4, 3), Y (3,), and the six parameters."""
    # The exercise calls np.random.seed(1); a RandomState(1) draws the same
    # numbers without touching NumPy's global generator.
    rng = np.random.RandomState(1)
    x = rng.randn(4, 3)
    y = np.array([1, 1, 0])
    W1 = rng.randn(5, 4)
    b1 = rng.randn(5, 1)
    W2 = rng.randn(3, 5)
    b2 = rng.randn(3, 1)
    W3 = rng.randn(1, 3)
    b3 = rng.randn(1, 1)
    parameters = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}
    return x, y, parameters


def relu(x):
    return np.maximum(0, x)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward_propagation_n(parameters, X, Y):
    """The exercise's forward pass: returns (cost, cache).

    Argument order follows fastcheck's ``cost(params, *args)``; the exercise
    writes ``forward_propagation_n(X, Y, parameters)``.
    """
    m = X.shape[1]
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = 1. / m * np.sum(logprobs)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return cost, cache


def backward_propagation_n(X, Y, cache, fixed=False):
    """The exercise's backward pass: the gradients dict, dZ3 ... db1.

    With ``fixed=False`` it keeps the two planted mistakes.
    """
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1. / m * np.dot(dZ3, A2.T)
    db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1. / m * np.dot(dZ2, A1.T) * (1 if fixed else 2)
    db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1. / m * np.dot(dZ1, X.T)
    db1 = (1. if fixed else 4.) / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


@jit_cost
def seed_cost(theta, X, Y):
    """The exercise's network as a jit cost: theta (47,), X (4, m), Y (1, m)."""
    W1 = theta[0:20].reshape((5, 4))
    b1 = theta[20:25].reshape((5, 1))
    W2 = theta[25:40].reshape((3, 5))
    b2 = theta[40:43].reshape((3, 1))
    W3 = theta[43:46].reshape((1, 3))
    b3 = theta[46:47].reshape((1, 1))
    m = X.shape[1]
    A1 = np.maximum(W1 @ X + b1, 0.0)
    A2 = np.maximum(W2 @ A1 + b2, 0.0)
    A3 = 1.0 / (1.0 + np.exp(-(W3 @ A2 + b3)))
    logprobs = -np.log(A3) * Y - np.log(1.0 - A3) * (1.0 - Y)
    return 1.0 / m * np.sum(logprobs)

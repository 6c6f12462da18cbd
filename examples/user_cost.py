"""A compiled cost of your own: a tanh network with a squared-error loss.

The cost unpacks W1, b1, W2, b2 from the flat theta in the order the params
dict lists them, each tensor in C order. Its backward pass is written by hand
below; fastcheck checks it.
"""

import numpy as np

import fastcheck as fc


@fc.jit_cost
def my_cost(theta, X, Y):
    W1 = theta[0:20].reshape((5, 4))
    b1 = theta[20:25].reshape((5, 1))
    W2 = theta[25:30].reshape((1, 5))
    b2 = theta[30:31].reshape((1, 1))
    A1 = np.tanh(W1 @ X + b1)
    Z2 = W2 @ A1 + b2
    return 0.5 * np.sum((Z2 - Y) ** 2) / X.shape[1]


def my_backward(params, X, Y):
    m = X.shape[1]
    A1 = np.tanh(params["W1"] @ X + params["b1"])
    dZ2 = (params["W2"] @ A1 + params["b2"] - Y) / m
    dZ1 = (params["W2"].T @ dZ2) * (1 - A1 ** 2)
    return {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}


rng = np.random.default_rng(0)
X, Y = rng.normal(size=(4, 16)), rng.normal(size=(1, 16))
params = {"W1": rng.normal(size=(5, 4)), "b1": rng.normal(size=(5, 1)),
          "W2": rng.normal(size=(1, 5)), "b2": rng.normal(size=(1, 1))}
grads = my_backward(params, X, Y)

print(fc.check(my_cost, params, grads, X, Y))

grads["db1"] = grads["db1"] * 2  # a typical slip
print()
print(fc.check(my_cost, params, grads, X, Y))

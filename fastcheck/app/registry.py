"""The one registry of networks and costs that ``fastcheck bench``, the demo
and ``benchmarks/`` all draw from.

Built-in networks (``Network``): the seed exercise's [4, 5, 3, 1] on its 3
examples and random MLPs (``mlp_network``), with data from ``random_problem``.

User-style workloads (``Workload``, ``WORKLOADS``): the seed exercise's network
and an MLP [64, 64, 32, 1]. Each workload carries the same network twice, as a NumPy cost
``cost(params, X, Y)`` over a dict (what ``naive_check`` and the python engine
run) and as a ``@fastcheck.jit_cost`` over the flat vector (what the generic
engine runs), plus a backward pass with planted mistakes, so that every
benchmark can prove it found them. Examples are the columns of X (n0, m);
Y is (1, m) (the seed's is (m,), which broadcasts the same way).
"""

from dataclasses import dataclass

import numpy as np

import fastcheck
from fastcheck.models import MLP as Model

from . import exercises

SEED = "seed"
MLP = "mlp-64-64-32-1"

#: The demo's large network: layer sizes and examples (P = 50,890).
LARGE = ((784, 64, 10), 32)
#: `fastcheck bench`'s networks after the seed's: (layer sizes, examples).
DEFAULT_MLPS = (((64, 64, 32, 1), 64), ((784, 64, 10), 32))
#: --quick: after the seed's (P = 47), one small network (P = 145).
QUICK_MLPS = (((16, 8, 1), 8),)

#: The MLP's layer sizes, input first, and its number of examples.
LAYERS = (64, 64, 32, 1)
EXAMPLES = 64
N0, N1, N2, N3 = LAYERS


@dataclass(frozen=True)
class Workload:
    """One network to check, with everything every engine needs.

    ``grads`` come from a backward pass with mistakes planted in the tensors
    named by ``planted``; ``expected_difference`` is the difference between
    those grads and the exact ones, which a finite-difference check must
    reproduce up to its truncation and rounding error.
    """

    name: str
    params: dict
    grads: dict
    args: tuple
    py_cost: object
    jit_cost: object
    eps: float
    planted: tuple
    expected_difference: float

    @property
    def size(self):
        """P, the number of scalar parameters."""
        return sum(np.size(v) for v in self.params.values())


def _difference(layout, grads, exact):
    return fastcheck.relative_difference(layout.gather_grads(grads), layout.gather_grads(exact))


def seed_workload():
    """The exercise's 3-layer network (P = 47), its backward pass with both mistakes."""
    X, Y, params = exercises.gradient_check_n_test_case()
    _, cache = exercises.forward_propagation_n(params, X, Y)
    grads = exercises.backward_propagation_n(X, Y, cache)
    exact = exercises.backward_propagation_n(X, Y, cache, fixed=True)
    return Workload(
        name=SEED, params=params, grads=grads, args=(X, Y),
        py_cost=exercises.forward_propagation_n, jit_cost=exercises.seed_cost,
        eps=1e-7, planted=("b1", "W2"),
        expected_difference=_difference(fastcheck.Layout.from_params(params), grads, exact))


def mlp_data(seed=0):
    """Parameters (He-initialised weights, small biases), X (64, 64) and Y (1, 64) in {0, 1}."""
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(LAYERS)):
        fan_in, fan_out = LAYERS[l - 1], LAYERS[l]
        params[f"W{l}"] = rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)
        params[f"b{l}"] = 0.1 * rng.standard_normal((fan_out, 1))
    X = rng.standard_normal((N0, EXAMPLES))
    Y = rng.integers(0, 2, size=(N3, EXAMPLES)).astype(np.float64)
    return params, X, Y


def mlp_cost(parameters, X, Y):
    """The MLP's forward pass in the seed's style: returns (cost, cache).

    It is the exercise's ``forward_propagation_n``, which serves any
    LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID network: here W1
    (64, 64), b1 (64, 1), W2 (32, 64), b2 (32, 1), W3 (1, 32), b3 (1, 1).
    """
    return exercises.forward_propagation_n(parameters, X, Y)


def mlp_backward(X, Y, cache, planted=True):
    """Gradients dW1 ... db3 of ``mlp_cost``: the exercise's backward pass, exact
    with ``planted=False``, else with its two mistakes (dW2 doubled, db1 with 4/m).
    """
    return exercises.backward_propagation_n(X, Y, cache, fixed=not planted)


#: ``mlp_cost`` itself, marked for the generic engine: compiled as it is written.
mlp_jit_cost = fastcheck.jit_cost(mlp_cost)


def mlp_workload(seed=0):
    """The MLP [64, 64, 32, 1] on 64 examples (P = 6273), backward with planted mistakes."""
    params, X, Y = mlp_data(seed)
    _, cache = mlp_cost(params, X, Y)
    grads = mlp_backward(X, Y, cache)
    exact = mlp_backward(X, Y, cache, planted=False)
    return Workload(
        name=MLP, params=params, grads=grads, args=(X, Y),
        py_cost=mlp_cost, jit_cost=mlp_jit_cost,
        # The best central step is near cbrt(eps_machine) ~ 6e-6; 1e-6 keeps
        # both truncation and rounding far below the planted mistakes.
        eps=1e-6, planted=("b1", "W2"),
        expected_difference=_difference(fastcheck.Layout.from_params(params), grads, exact))


#: The workloads by name, in the order the report lists them.
WORKLOADS = {SEED: seed_workload, MLP: mlp_workload}


# -- built-in networks ----------------------------------------------------------

def random_problem(model, batch, seed=0):
    """Parameters and data for a built-in model: (params, X (n0, batch), Y).

    ``params`` is ``model.init_params(seed)``. X is standard normal; Y holds
    labels that fit the loss: 0/1 entries (nL, batch) for "bce", integer
    classes (batch,) for "ce", standard normal targets (nL, batch) for "mse".
    The data come from ``numpy.random.default_rng([1, seed])``, a stream apart
    from the parameters' ``default_rng(seed)``: drawn from the same stream, X
    would repeat the first weights' draws.
    """
    params = model.init_params(seed)
    rng = np.random.default_rng([1, seed])
    n0, n_out = int(model.sizes[0]), int(model.sizes[-1])
    X = rng.standard_normal((n0, batch))
    if model.loss == "bce":
        Y = rng.integers(0, 2, size=(n_out, batch)).astype(np.float64)
    elif model.loss == "ce":
        Y = rng.integers(0, n_out, size=batch)
    else:
        Y = rng.standard_normal((n_out, batch))
    return params, X, Y


@dataclass(frozen=True)
class Network:
    """A built-in model with its parameters, exact gradients and data."""

    name: str
    model: Model
    params: dict
    grads: dict
    X: np.ndarray
    Y: np.ndarray

    @property
    def size(self):
        """P, the number of scalar parameters."""
        return self.model.n_params


def seed_network():
    """The exercise's network [4, 5, 3, 1] on its 3 examples (P = 47)."""
    X, Y, params = exercises.gradient_check_n_test_case()
    model = Model([4, 5, 3, 1], hidden="relu", output="sigmoid", loss="bce")
    return Network("seed [4,5,3,1]x3", model, params, model.backward(params, X, Y), X, Y)


def mlp_network(sizes, batch, seed=0):
    """MLP(sizes) with ReLU, sigmoid and cross-entropy, on ``batch`` random examples."""
    model = Model(list(sizes), hidden="relu", output="sigmoid", loss="bce")
    params, X, Y = random_problem(model, batch, seed)
    name = f"[{','.join(str(n) for n in sizes)}]x{batch}"
    return Network(name, model, params, model.backward(params, X, Y), X, Y)


def default_networks(quick=False, seed=0):
    """The seed network, then ``DEFAULT_MLPS`` (``QUICK_MLPS`` with ``quick``)."""
    mlps = QUICK_MLPS if quick else DEFAULT_MLPS
    return [seed_network()] + [mlp_network(sizes, batch, seed) for sizes, batch in mlps]

"""Built-in networks: exact backward passes in NumPy, compiled costs for the engines.

>>> model = MLP([4, 5, 3, 1], hidden="relu", output="sigmoid", loss="bce")
>>> params = model.init_params(seed=0)       # {"W1": (5, 4), "b1": (5, 1), ...}
>>> grads = model.backward(params, X, Y)     # doctest: +SKIP
>>> fastcheck.check(model, params, grads, X, Y)   # doctest: +SKIP

A model is also a plain cost, ``model(params, X, Y) -> float``, so every
engine can check it; the compiled engines use its kernels (``kernels/mlp.py``)
directly, calls from Python its NumPy twin (``network.py``), which needs no
compiling.
"""

import numbers

import numpy as np

from ..errors import DataError, OptionError, ParameterError
from ..planning.layout import Layout, as_numeric_array
from . import network as N
from ..kernels import mlp

HIDDEN = {"linear": mlp.LINEAR, "relu": mlp.RELU, "leaky_relu": mlp.LEAKY_RELU,
          "tanh": mlp.TANH, "sigmoid": mlp.SIGMOID}
#: Each loss goes with the output activation whose gradient it makes canonical.
LOSSES = {"bce": ("sigmoid", mlp.BCE, mlp.SIGMOID), "ce": ("softmax", mlp.CE, mlp.SOFTMAX),
          "mse": ("linear", mlp.MSE, mlp.LINEAR)}


class MLP:
    """A dense network LINEAR -> g -> ... -> LINEAR -> output, with a loss.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths n0 (inputs), n1, ..., nL (outputs); at least two.
    hidden : str or sequence of str
        Activation of the hidden layers: one of "relu", "leaky_relu" (slope
        0.01), "tanh", "sigmoid", "linear", or a list with one per hidden layer.
    output, loss : str
        One of the pairs ("sigmoid", "bce"), ("softmax", "ce"), ("linear", "mse").
    l2 : float
        L2 strength: the cost gains (l2 / 2m) * sum_l ||W_l||_F^2.

    Attributes ``sizes`` (L + 1,), ``acts`` (L,) (activation codes of
    ``kernels/mlp.py``, the output's last), ``loss_code`` and ``l2`` are the
    plain values the compiled engines are built from.
    """

    def __init__(self, sizes, hidden="relu", output="sigmoid", loss="bce", l2=0.0):
        self.sizes = _sizes(sizes)
        L = len(self.sizes) - 1
        if isinstance(hidden, str):
            names = [hidden] * (L - 1)
        elif isinstance(hidden, (list, tuple)) and all(isinstance(n, str) for n in hidden):
            names = list(hidden)
        else:
            raise OptionError(f"hidden must be an activation name or a list of names, one "
                              f"per hidden layer, got {hidden!r}")
        if len(names) != L - 1:
            raise OptionError(f"hidden lists {len(names)} activations but sizes "
                              f"{list(self.sizes)} has {L - 1} hidden layers")
        for name in names:
            if name not in HIDDEN:
                raise OptionError(f"unknown hidden activation {name!r}; use one of "
                                  f"{', '.join(HIDDEN)}")
        if loss not in LOSSES:
            raise OptionError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
        expected, self.loss_code, out_code = LOSSES[loss]
        if output != expected:
            raise OptionError(f"loss {loss!r} goes with output {expected!r}, got output "
                              f"{output!r}; the pairs are " +
                              ", ".join(f"{o}+{lo}" for lo, (o, _, _) in LOSSES.items()))
        if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not l2 >= 0 \
                or not np.isfinite(l2):
            raise OptionError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.hidden, self.output, self.loss, self.l2 = names, output, loss, float(l2)
        self.acts = np.array([HIDDEN[n] for n in names] + [out_code], dtype=np.int64)
        shapes = {}
        for l in range(1, L + 1):
            shapes[f"W{l}"] = (self.sizes[l], self.sizes[l - 1])
            shapes[f"b{l}"] = (self.sizes[l], 1)
        self.layout = Layout.from_params({k: np.zeros(s) for k, s in shapes.items()})

    def __repr__(self):
        return (f"MLP({self.sizes.tolist()}, hidden={self.hidden!r}, output={self.output!r}, "
                f"loss={self.loss!r}, l2={self.l2!r})")

    @property
    def has_kinks(self):
        """True when a hidden layer is ReLU-type, whose kinks can spoil estimates."""
        return any(name in ("relu", "leaky_relu") for name in self.hidden)

    def layers(self, theta, X):
        """[(Z_l, A_l), each (n_l, m)] for l = 1..L: the forward pass at a flat theta
        (P,) with X converted by ``data``, the layered engine's caches."""
        return N.forward(theta, self.sizes, self.acts, X)

    @property
    def n_params(self):
        """P, the number of scalar parameters."""
        return self.layout.size

    def init_params(self, seed=0, scale="he"):
        """Random parameters {"W1": (n1, n0), "b1": (n1, 1), ...}.

        ``scale`` "he" draws W_l ~ N(0, 2 / n_{l-1}), "xavier" N(0, 1 / n_{l-1}),
        a float s draws N(0, s^2); biases are small N(0, 0.01^2) so that they
        too are checked away from zero.
        """
        rng = np.random.default_rng(seed)
        params = {}
        for l in range(1, len(self.sizes)):
            fan_in = self.sizes[l - 1]
            if scale == "he":
                std = np.sqrt(2.0 / fan_in)
            elif scale == "xavier":
                std = np.sqrt(1.0 / fan_in)
            elif isinstance(scale, numbers.Real) and not isinstance(scale, bool) \
                    and scale > 0 and np.isfinite(scale):
                std = float(scale)
            else:
                raise OptionError(f"scale must be 'he', 'xavier' or a positive number, "
                                  f"got {scale!r}")
            params[f"W{l}"] = rng.normal(0.0, std, size=(self.sizes[l], fan_in))
            params[f"b{l}"] = rng.normal(0.0, 0.01, size=(self.sizes[l], 1))
        return params

    # -- conversion ---------------------------------------------------------

    def flatten(self, params):
        """theta (P,) float64 from a params dict, which must match the model."""
        layout = Layout.from_params(params)
        for name, shape in zip(self.layout.names, self.layout.shapes):
            if name not in params:
                raise ParameterError(f"params has no {name!r}; {self!r} needs "
                                     f"{', '.join(self.layout.names)}")
            got = np.shape(params[name])
            if got != shape:
                raise ParameterError(f"parameter {name!r} has shape {got}, the model "
                                     f"needs {shape}")
        extra = [n for n in layout.names if n not in self.layout.names]
        if extra:
            raise ParameterError(f"params has {extra} that {self!r} does not use; its "
                                 f"parameters are {', '.join(self.layout.names)}")
        return self.layout.flatten(params)

    def data(self, X, Y=None):
        """(X (n0, m), Y (nL, m)) as float64 C-contiguous copies, validated.

        Y may also be (m,) when nL == 1, or integer class labels (m,) for "ce".
        """
        X = as_numeric_array(X, "X", error=DataError)
        if X.ndim != 2 or X.shape[0] != self.sizes[0] or X.shape[1] == 0:
            raise DataError(f"X has shape {X.shape}; the model takes ({self.sizes[0]}, m), "
                            "one example per column, m >= 1")
        X = np.array(X, dtype=np.float64, order="C")
        if not np.isfinite(X).all():
            raise DataError("X has NaN or Inf entries; clean the data first")
        if Y is None:
            return X, None
        return X, self._targets(Y, X.shape[1])

    def _targets(self, Y, m):
        Y = as_numeric_array(Y, "Y", error=DataError)
        n_out = self.sizes[-1]
        if self.loss == "ce" and Y.ndim == 1 and Y.dtype.kind in "iu":
            if Y.shape[0] != m or Y.min() < 0 or Y.max() >= n_out:
                raise DataError(f"class labels Y must be {m} integers in [0, {n_out}), got "
                                f"shape {Y.shape}, range [{Y.min()}, {Y.max()}]")
            onehot = np.zeros((n_out, m))
            onehot[Y, np.arange(m)] = 1.0
            return onehot
        if Y.ndim == 1 and n_out == 1:
            Y = Y.reshape(1, -1)
        if Y.shape != (n_out, m):
            raise DataError(f"Y has shape {Y.shape}; the model needs ({n_out}, {m})" +
                            (f" or ({m},)" if n_out == 1 else "") +
                            (" or integer labels (m,)" if self.loss == "ce" else ""))
        Y = np.array(Y, dtype=np.float64, order="C")
        if not np.isfinite(Y).all():
            raise DataError("Y has NaN or Inf entries; clean the data first")
        if self.loss == "bce" and not np.isin(Y, (0.0, 1.0)).all():
            raise DataError("Y for loss 'bce' must hold labels 0 or 1")
        if self.loss == "ce" and not (np.all(Y >= 0) and np.allclose(Y.sum(axis=0), 1.0)):
            raise DataError("Y for loss 'ce' must be one-hot (or probabilities) columns "
                            "summing to 1, or integer labels (m,)")
        return Y

    # -- the network --------------------------------------------------------

    def cost_flat(self, theta, X, Y):
        """J at a flat theta (P,), with X, Y already converted by ``data``."""
        return N.cost(theta, self.sizes, self.acts, self.loss_code, self.l2, X, Y)

    def cost_flat_complex(self, theta, X, Y):
        """J at a complex theta (P,) with complex X (n0, m): the complex step's cost."""
        return complex(mlp.cost(theta, self.sizes, self.acts, self.loss_code, self.l2, X, Y))

    def cost(self, params, X, Y):
        """The cost J (a float)."""
        X, Y = self.data(X, Y)
        return self.cost_flat(self.flatten(params), X, Y)

    __call__ = cost

    def forward(self, params, X):
        """The activations: {"Z1": (n1, m), "A1": (n1, m), ..., "ZL", "AL"}."""
        theta = self.flatten(params)
        X, _ = self.data(X)
        out = {}
        for l, (Z, A) in enumerate(self.layers(theta, X), start=1):
            out[f"Z{l}"], out[f"A{l}"] = Z, A
        return out

    def backward(self, params, X, Y):
        """Exact gradients {"dW1": (n1, n0), "db1": (n1, 1), ...}."""
        theta = self.flatten(params)
        X, Y = self.data(X, Y)
        grad = N.backward(theta, self.sizes, self.acts, self.loss_code, self.l2, X, Y)
        return {"d" + name: array
                for name, array in self.layout.unflatten(grad).items()}


def problem_bytes(sizes, batch):
    """Bytes a check of ``MLP(sizes)`` on ``batch`` random examples needs at least,
    from the widths alone, before anything is allocated (Python integers: no
    overflow, however large the widths).

    Six float64 copies of the P parameters are alive at once (the parameters,
    their gradients, the check's theta, gradients, estimates and error
    estimates), and three of the data's size per layer (X, and the forward
    pass's Z and A for each layer, each ``batch`` columns).
    """
    sizes = [int(n) for n in sizes]
    P = sum(n * (m + 1) for m, n in zip(sizes, sizes[1:]))
    return 8 * (6 * P + 3 * int(batch) * sum(sizes))


def _sizes(sizes):
    try:
        values = list(sizes)
    except TypeError:
        raise OptionError(f"sizes must be a list of layer widths, got {sizes!r}") from None
    if len(values) < 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                  and n > 0 for n in values):
        raise OptionError(f"sizes must list at least two positive integers (inputs, ..., "
                          f"outputs), got {values!r}")
    return np.array(values, dtype=np.int64)

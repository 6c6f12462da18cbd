"""Networks written as frameworks and tutorials write them, traced (issue 31):
layers that copy the parameters into arrays of their own, and float32 models.

References: the Python cost itself at the same points (the record must equal
it), central differences in plain NumPy for the gradients (a float64 twin for
the float32 cost), and the Python check's own per-tensor statuses. Records are
first run as Python (``record_in_python``: no compile); each network is then
compiled once and checked with its correct backward and a planted bug.
"""

import os
import sys

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.compiler.trace import TraceEscape
from fastcheck.errors import CompileError

sys.path.insert(0, os.path.dirname(__file__))
import lstm32  # noqa: E402
from test_trace_idioms import agrees, numeric_grads, record_in_python  # noqa: E402


# ---- a mini framework whose layers own their weights ------------------------------------

class Linear:
    """Owns ``W`` (in, out) and a (1, out) bias; ``params`` names them (the adapter)."""

    def __init__(self, n_in, n_out, rng):
        self.W = rng.standard_normal((n_in, n_out)) * 0.6
        self.b = np.zeros((1, n_out))
        self.params = {"W": self.W, "b": self.b}

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        np.maximum(x, 0, out=x)       # in place, as many frameworks do
        return x


class Scale:
    """A learned (1, M) gain kept in the layer's own array."""

    def __init__(self, n):
        self.gamma = np.ones((1, n))

    def forward(self, x):
        self.out = np.empty_like(x)
        np.multiply(x, self.gamma, out=self.out)
        return self.out


class Model:
    def __init__(self, rng, sizes=(3, 4, 3)):
        self.linears = [Linear(a, b, rng) for a, b in zip(sizes[:-1], sizes[1:])]
        self.scale = Scale(sizes[1])
        self.layers = [self.linears[0], ReLU(), self.scale, self.linears[1]]
        self.reg = {"lam": 0.05}

    def load(self, p):
        """The three ways code bases copy parameters in."""
        for name, param in self.linears[0].params.items():
            param[...] = p[name + "0"]
        np.copyto(self.linears[1].W, p["W1"])
        self.linears[1].b[:] = p["b1"]
        self.scale.gamma[0, :] = p["gamma"][0]

    def loss(self, X, y):
        h = X
        for layer in self.layers:
            h = layer.forward(h)
        h = h - h.max(axis=1, keepdims=True)
        logp = h - np.log(np.sum(np.exp(h), axis=1, keepdims=True))
        data = -np.mean(logp[np.arange(len(y)), y])
        penalty = 0.5 * self.reg["lam"] * sum(np.sum(l.W ** 2) for l in self.linears)
        return data + penalty


def framework_case():
    rng = np.random.default_rng(5)
    model = Model(rng)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    params = {"W0": model.linears[0].W + 0.1, "b0": rng.standard_normal((1, 4)) * 0.1,
              "W1": model.linears[1].W - 0.1, "b1": rng.standard_normal((1, 3)) * 0.1,
              "gamma": 1 + 0.2 * rng.standard_normal((1, 4))}

    def cost(p, X, y):
        model.load(p)
        return model.loss(X, y)
    return model, cost, params, (X, y)


def test_stores_into_the_models_own_arrays_are_recorded_and_left_at_theta():
    model, cost, params, args = framework_case()
    arrays = [model.linears[0].W, model.linears[0].b, model.linears[1].W,
              model.linears[1].b, model.scale.gamma]
    agrees(cost, params, *args, points=6, scale=0.5)   # far points cross the ReLU kinks
    record_in_python(cost, params, *args)
    # the same arrays (never a tracer's object), holding theta's values as Python leaves them
    held = [model.linears[0].W, model.linears[0].b, model.linears[1].W,
            model.linears[1].b, model.scale.gamma]
    assert all(a is b for a, b in zip(arrays, held))
    assert all(type(v) is np.ndarray for v in model.linears[0].params.values())
    for array, name in zip(held, ["W0", "b0", "W1", "b1", "gamma"]):
        assert np.array_equal(array, params[name]), name


class Affine:
    """Holds references to its network's ``params`` arrays (a book's TwoLayerNet)."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b


class BookRelu:
    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out


class TwoLayerNet:
    def __init__(self, rng):
        self.params = {"W1": rng.standard_normal((4, 5)), "b1": np.zeros(5),
                       "W2": rng.standard_normal((5, 3)), "b2": np.zeros(3)}
        self.layers = {"Affine1": Affine(self.params["W1"], self.params["b1"]),
                       "Relu1": BookRelu(),
                       "Affine2": Affine(self.params["W2"], self.params["b2"])}

    def loss(self, x, t):
        for layer in self.layers.values():
            x = layer.forward(x)
        x = x - np.max(x, axis=-1, keepdims=True)
        y = np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)
        return -np.sum(np.log(y[np.arange(y.shape[0]), t.argmax(axis=1)] + 1e-7)) / y.shape[0]


def test_layers_holding_the_params_dicts_arrays_follow_a_store_into_the_dict():
    rng = np.random.default_rng(8)
    net = TwoLayerNet(rng)
    x, t = rng.standard_normal((6, 4)), np.eye(3)[rng.integers(0, 3, 6)]
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in net.params.items()}

    def cost(p, x, t):
        for key in net.params:
            net.params[key][...] = p[key]
        return net.loss(x, t)
    agrees(cost, params, x, t, points=6, scale=0.5)
    assert net.layers["Affine1"].W is net.params["W1"] and type(net.params["W1"]) is np.ndarray


def test_a_store_the_tracer_cannot_reread_is_refused_naming_the_line():
    kept = {"W": np.zeros((3, 2))}

    def weights():
        return kept["W"]

    def cost(p):
        weights()[...] = p["W"]  # UNREADABLE-STORE
        return np.sum(kept["W"] ** 2)
    with pytest.raises(TraceEscape) as info:
        record_in_python(cost, {"W": np.ones((3, 2))})
    message = str(info.value)
    assert "UNREADABLE-STORE" in message and "store into a name or an attribute" in message
    assert "Traced" not in message


def test_an_owned_array_changed_outside_the_record_is_refused():
    layer = Linear(3, 2, np.random.default_rng(0))
    X = np.ones((4, 3))

    def cost(p, X):
        W = layer.W                    # a local: not one of the user's containers
        layer.W[...] = p["W"]
        np.multiply(W, 2.0, out=W)     # NumPy alone writes it: the tracer cannot see it
        return np.sum(X @ W)  # CHANGED-OUTSIDE
    with pytest.raises(TraceEscape) as info:
        record_in_python(cost, {"W": np.ones((3, 2))}, X)
    assert "CHANGED-OUTSIDE" in str(info.value) and "changed by a NumPy operation" in \
        str(info.value)


# ---- float32 -----------------------------------------------------------------------------

class Dense32:
    def forward(self, x):
        return np.tanh(x @ self.W + self.b)


def test_a_float32_record_rounds_as_numpy_does():
    """The record's values are float32 numbers, equal to the Python cost's to float32
    rounding (a record computing in float64 would give values no float32 holds)."""
    rng = np.random.default_rng(7)
    layer = Dense32()
    X = rng.standard_normal((5, 3)).astype(np.float32)

    def cost(p, X):
        layer.W = np.asarray(p["W"], dtype=np.float32)
        layer.b = p["b"].astype(np.float32)
        return np.mean(layer.forward(X) ** 2) + np.float32(0.1) * np.sum(layer.W ** 2)
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal((1, 4))}
    f = record_in_python(cost, params, X)
    theta = np.concatenate([params["W"].ravel(), params["b"].ravel()])
    for k in range(4):
        point = theta + k * 0.3 * rng.standard_normal(theta.size)
        value = f(point)
        expected = float(cost({"W": point[:12].reshape(3, 4), "b": point[12:].reshape(1, 4)}, X))
        assert float(np.float32(value)) == value
        assert value == pytest.approx(expected, rel=2e-6)


# ---- networks, compiled ------------------------------------------------------------------

def _statuses(res):
    return {row.name: row.status for row in res.per_tensor}


@pytest.mark.slow
def test_a_framework_that_copies_parameters_compiles_and_checks():
    model, cost, params, args = framework_case()
    grads = numeric_grads(cost, params, *args)
    res = fc.check(cost, params, grads, *args, jit=True)
    assert res.engine == "generic" and res.passed, str(res)
    assert any("compiled by tracing" in n for n in res.notes), res.notes
    python = fc.check(cost, params, grads, *args, jit=False)
    assert fc.relative_difference(res.gradapprox_flat, python.gradapprox_flat) < 1e-6
    wrong = dict(grads, gamma=grads["gamma"] * 1.05)
    bad = fc.check(cost, params, wrong, *args, jit=True)
    assert not bad.passed and bad.suspects == ["gamma"], str(bad)
    assert np.array_equal(model.linears[0].W, params["W0"])  # left at theta


@pytest.mark.slow
def test_a_float32_lstm_compiles_and_checks_as_python_does():
    """float32 noise leaves some tensors "unsure" even in Python (tests/test_reports.py);
    the compiled check must say what the Python check says, tensor by tensor, and name
    the planted bug."""
    params = lstm32.init(vocab=5, embed=3, hidden=3)
    X, Y = lstm32.batch(vocab=5, N=4, T=3)
    for wrong in (None, "lstm_b"):
        grads = lstm32.backward(params, X, Y, wrong=wrong)
        res = fc.check(lstm32.cost, params, grads, X, Y, jit=True)
        assert res.engine == "generic", str(res)
        assert any("computes in float32" in n for n in res.notes), res.notes
        python = fc.check(lstm32.cost, params, grads, X, Y, jit=False)
        assert _statuses(res) == _statuses(python), str(res)
        if wrong is None:
            assert "WRONG" not in _statuses(res).values(), str(res)
        else:
            assert res.suspects == [wrong], str(res)


def test_a_write_through_a_plain_view_of_an_owned_array_is_refused():
    """``V`` is a plain view of the layer's buffer taken before the store; NumPy's own
    in-place ReLU through it changes the buffer behind the record: refused, never a
    record that silently reads the buffer before the ReLU."""
    class Buffered:
        def __init__(self):
            self.buf = np.zeros((2, 3))

        def forward(self, z):
            V = self.buf[0]
            self.buf[...] = z
            np.maximum(V, 0, out=V)
            return self.buf * 2.0  # STALE-READ

    layer = Buffered()

    def cost(p):
        return np.sum(layer.forward(p["W"]) ** 2)
    with pytest.raises(TraceEscape) as info:
        record_in_python(cost, {"W": np.array([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])})
    assert "STALE-READ" in str(info.value)


BUFFER = np.zeros((2, 3))  # a script's module-level array


def test_a_module_global_array_stored_into_is_followed_and_given_back():
    def cost(p):
        BUFFER[...] = p["W"]
        return np.sum(np.tanh(BUFFER) * BUFFER)  # both reads follow the parameters
    f = record_in_python(cost, {"W": np.ones((2, 3))})
    W = np.arange(6.0).reshape(2, 3) / 5
    assert f(W.ravel()) == pytest.approx(np.sum(np.tanh(W) * W), rel=1e-12)
    assert type(BUFFER) is np.ndarray and np.array_equal(BUFFER, np.ones((2, 3)))


# ---- a record the trust test refuses says where it parts from the cost -------------------

class Table:
    def __init__(self, rng):
        self.W = rng.standard_normal((5, 3))


def _frozen_and_branching():
    """Two costs whose records the escapes cannot refuse: a lookup through a local name
    bound before the store (NumPy reads the user's array, frozen at theta), and a
    branch on that array's values (Python's control flow, unseen by the tracer)."""
    table = Table(np.random.default_rng(9))
    idx = np.array([0, 2, 2, 4])

    def frozen(p, idx):
        W = table.W
        W[...] = p["W"]
        rows = W[idx]       # NumPy's own read: the tracer cannot see it
        return np.sum(np.tanh(rows * p["b"]))  # FROZEN-USE

    def branching(p, idx):
        W = table.W
        W[...] = p["W"]
        if W[0, 0] > 0.5:  # PLAIN-BRANCH
            return np.sum(p["b"] ** 2)
        return np.sum(np.exp(p["b"]))  # OTHER-ARM
    params = {"W": table.W.copy(), "b": np.array([0.3, -0.2, 0.1])}
    params["W"][0, 0] = 0.49   # a perturbed point crosses the branch
    return frozen, branching, params, idx, table


def test_why_a_record_is_not_the_cost_names_the_line_and_what_differs():
    from fastcheck.compiler import tracediff
    from fastcheck.compiler.trace import trace
    from fastcheck.compiler.tracefuncs import FUNCTIONS
    frozen, branching, params, idx, table = _frozen_and_branching()
    names, shapes = list(params), [v.shape for v in params.values()]
    theta = np.concatenate([v.ravel() for v in params.values()])
    point = theta.copy()
    point[0] = 0.6   # W[0, 0] crosses 0.5, and the frozen rows change
    found = {}
    for cost in (frozen, branching):
        rec, output = trace(cost, names, shapes, theta, [idx], False, FUNCTIONS)
        found[cost] = tracediff.explain(cost, names, shapes, theta, point, [idx], False,
                                        rec, output, False)
    assert "FROZEN-USE" in found[frozen] and "froze them at theta" in found[frozen]
    there, _, at_theta = found[branching].partition("(at theta: ")
    assert "control flow" in found[branching] and "OTHER-ARM" in at_theta, found[branching]
    assert 'return np.sum(p["b"] ** 2)' in there and "test_trace_networks.py:" in there
    assert np.array_equal(table.W, params["W"])   # left as the trace at theta leaves it


def test_a_record_refused_by_the_trust_test_says_where_not_a_guessed_cause():
    """The frozen lookup, checked: refused saying by how much and the line, never
    'control flow or random draws' (what the TimeGRU model was told)."""
    frozen, _, params, idx, _ = _frozen_and_branching()
    grads = numeric_grads(frozen, params, idx)
    with pytest.raises(CompileError) as info:
        fc.check(frozen, params, grads, idx, jit="trace")
    message = str(info.value)
    assert "FROZEN-USE" in message and "differ by" in message, message
    assert "the point moves W" in message or "the point moves b" in message, message
    assert "random draws" not in message and "control flow" not in message, message

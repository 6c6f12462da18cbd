"""Costs built from objects, compiled by tracing (fastcheck/compiler/trace.py, tracegen.py).

References: the Python engine on the same cost (same run), the networks' own
hand-written backward passes, and NumPy itself for the recorded operations.
"""

import os
import sys

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.compiler.route import compile_traced
from fastcheck.compiler.trace import Record
from fastcheck.costs.python import PythonCostAdapter
from fastcheck.errors import CompileError, OptionError

sys.path.insert(0, os.path.dirname(__file__))
import charrnn  # noqa: E402
import oonets  # noqa: E402


def traced(adapter):
    """The adapter's cost compiled by tracing, as ``compile_routed`` would trace it."""
    return compile_traced(adapter.func, adapter.layout.names, adapter.layout.shapes,
                          adapter.theta, adapter.args, adapter.flat, adapter.evaluate)


def mlp_case(mistake=None, **options):
    model, X, y = oonets.layer_mlp(**options)
    params = model.get_params()

    def cost(p, X, y):
        model.set_params(p)
        return model.loss(X, y)[0]

    model.set_params(params)
    grads = model.loss(X, y, mistake=mistake)[1]
    return cost, params, grads, (X, y)


def fc_case(mistake=None):
    model, X, y = oonets.fc_net(mistake=mistake)
    params = dict(model.params)
    grads = model.loss(X, y)[1]

    def cost(p, X, y):
        model.params = p
        return model.loss(X, y)[0]

    return cost, params, grads, (X, y)


def rnn_case(mistake=False, monkeypatch=None):
    monkeypatch.setattr(charrnn, "MISTAKE", mistake)
    args = charrnn.batch()
    params = dict(charrnn.params())
    grads = charrnn.grads(*args)
    return charrnn.cost, params, grads, args


CASES = {"layer_mlp": mlp_case, "fc_net": fc_case, "char_rnn": rnn_case}


def make(name, monkeypatch, mistake=None):
    if name == "char_rnn":
        return rnn_case(bool(mistake), monkeypatch)
    return CASES[name](mistake)


@pytest.mark.parametrize("name", list(CASES))
def test_traced_agrees_with_python_engine(name, monkeypatch):
    cost, params, grads, args = make(name, monkeypatch)
    python = fc.check(cost, params, grads, *args, jit=False)
    traced = fc.check(cost, params, grads, *args, jit=True)
    assert traced.engine == "generic" and python.engine == "python"
    assert any(n.startswith("compiled by tracing: a record of") for n in traced.notes), traced.notes
    assert traced.passed and python.passed, (str(traced), str(python))
    assert fc.relative_difference(traced.gradapprox_flat, python.gradapprox_flat) < 1e-7


PLANTED = [("layer_mlp", "dense_l2"), ("layer_mlp", "batchnorm"), ("fc_net", "gamma"),
           ("fc_net", "weight"), ("char_rnn", True)]


@pytest.mark.parametrize("name,mistake", PLANTED)
def test_planted_bug_same_verdict_as_python(name, mistake, monkeypatch):
    cost, params, grads, args = make(name, monkeypatch, mistake)
    python = fc.check(cost, params, grads, *args, jit=False)
    traced = fc.check(cost, params, grads, *args, jit="trace")
    assert traced.engine == "generic"
    assert not traced.passed and not python.passed
    assert traced.verdict == python.verdict
    assert set(traced.suspects) == set(python.suspects) != set()


def test_forced_trace_of_a_function_the_source_compiler_takes():
    X = np.random.default_rng(0).standard_normal((5, 3))

    def cost(p, X):
        return np.sum(np.tanh(X @ p["W"]) ** 2)

    params = {"W": np.random.default_rng(1).standard_normal((3, 2))}
    grads = {"W": 2 * X.T @ (np.tanh(X @ params["W"]) * (1 - np.tanh(X @ params["W"]) ** 2))}
    res = fc.check(cost, params, grads, X, jit="trace")
    assert res.passed and res.engine == "generic"
    assert len(res.notes) == 1 and res.notes[0].startswith("compiled by tracing: a record of")


def test_jit_option_validated():
    with pytest.raises(OptionError, match="jit must be True, False, None or 'trace'"):
        fc.check(lambda p: np.sum(p["w"] ** 2), {"w": np.ones(2)}, {"w": 2 * np.ones(2)},
                 jit="tracing")


# ---- the recorded operations against NumPy -------------------------------------------

def kitchen_sink(p, X, labels, mask):
    """Every kind of recorded operation once; returns a scalar."""
    W, b, V = p["W"], p["b"], p["V"]
    h = X.dot(W) + b                                     # ndarray method, (M,) bias
    h = np.where(h > 0, h, 0.1 * h)                      # leaky relu
    h = h * mask                                         # boolean data
    z = np.concatenate([h, np.tanh(h)], axis=1) @ V      # (N, 8) @ (8, 3)
    z = z - z.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    picked = probs[range(len(labels)), labels]           # fancy indexing
    d = probs.copy()
    d[np.arange(len(labels)), labels] -= 1               # fancy in-place update
    d[d < -0.5] = 0                                      # parameter-dependent mask assignment
    stacked = np.stack([W, W * 2], axis=0)               # (2, 4, 4)
    padded = np.pad(W, ((1, 0), (0, 2)))
    t = stacked.transpose(1, 0, 2).reshape(4, -1)
    out = -np.mean(np.log(picked)) + 0.1 * np.var(h, axis=0).sum() + np.std(t) ** 2
    out += np.sum(np.abs(d[:, 1:])) * 1e-2 + padded[1:, :2].sum() / 7 + np.max(padded)
    out = out + np.linalg.norm(V) - np.min(np.clip(b, -0.05, 0.05)) + np.prod(b[:2] + 1)
    return out + np.sum(np.hstack([b, b]) ** 2) + np.vstack([b, b]).mean()


def test_kitchen_sink_record_equals_numpy():
    rng = np.random.default_rng(5)
    params = {"W": rng.standard_normal((4, 4)), "b": rng.standard_normal(4) * 0.1,
              "V": rng.standard_normal((8, 3))}
    X = rng.standard_normal((6, 4))
    labels = rng.integers(0, 3, 6)
    mask = rng.random((6, 4)) > 0.2
    X_before = X.copy()
    adapter = PythonCostAdapter(kitchen_sink, params, (X, labels, mask))
    cc = traced(adapter)
    assert np.array_equal(X, X_before)
    for k in range(5):
        theta = adapter.theta + 0.05 * rng.standard_normal(adapter.theta.size)
        expected = kitchen_sink(adapter.layout.unflatten(theta), X, labels, mask)
        got = cc.function(theta, cc.fdata, cc.idata)
        assert got == pytest.approx(float(expected), rel=1e-12)


def test_argmin_and_argmax_of_a_traced_value_are_numpys():
    """Data a trace wraps, and a value the user keeps after the trace, answer as NumPy;
    during the trace, either of a value that depends on the parameters is recorded."""
    value = np.array([3.0, 1.0, 2.0])
    rec = Record({})
    data = rec.wrap(value)
    assert (data.argmin(), data.argmax()) == (np.argmin(value), np.argmax(value)) == (1, 0)
    kept = rec.add("param", (), (0, (3,)), value)
    low, high = kept.argmin(), kept.argmax()
    assert [rec.ops[t._id].kind for t in (low, high)] == ["argreduce", "argreduce"]
    assert (int(low._value), int(high._value)) == (1, 0)
    rec.closed = True
    assert (kept.argmin(), kept.argmax()) == (1, 0)


# ---- escapes: refused with the user's line --------------------------------------------

def branching(p, X):
    loss = np.sum((X @ p["W"]) ** 2)
    if loss > 1.0:  # ESCAPE-IF
        loss = loss * 2
    return loss


def converting(p, X):
    scale = float(np.max(p["W"]))  # ESCAPE-FLOAT
    return np.sum((X @ p["W"]) ** 2) * scale


def iterating(p, X):
    total = 0.0
    for row in p["W"]:  # ESCAPE-ITER
        total = total + np.sum(row ** 2)
    return total


def item_of(p, X):
    return np.sum(X @ p["W"]).item()  # ESCAPE-ITEM


def masked_index(p, X):
    W = p["W"]
    return np.sum(W[W > 0] ** 2)  # ESCAPE-MASK


STORE = np.zeros((5, 3))


def _store():
    return STORE


def storing(p, X):
    _store()[:, 0] = (X @ p["W"])[:, 0]  # ESCAPE-STORE
    return np.sum(STORE ** 2)


def loop_conv(p, X):
    """A convolution written as four loops: a record far too long."""
    W = p["W"]
    out = np.zeros((X.shape[0] - 1, X.shape[1] - 1))
    total = 0
    for i in range(60):
        for j in range(60):
            for a in range(2):
                for b in range(2):
                    total = total + W[a, b] * X[i % 5, j % 3]  # ESCAPE-SIZE
    return total + out.sum()


ESCAPES = [(branching, "ESCAPE-IF", "truth test"), (converting, "ESCAPE-FLOAT", "float()"),
           (iterating, "ESCAPE-ITER", "iteration"), (item_of, "ESCAPE-ITEM", ".item()"),
           (masked_index, "ESCAPE-MASK", "boolean mask that depends on the parameters"),
           (storing, "ESCAPE-STORE", "store into a name or an attribute"),
           (loop_conv, "ESCAPE-SIZE", "passed 20000 operations")]


def _escape_args():
    rng = np.random.default_rng(2)
    return {"W": rng.standard_normal((3, 3))}, rng.standard_normal((5, 3))


@pytest.mark.parametrize("func,marker,cause", ESCAPES, ids=[e[1] for e in ESCAPES])
def test_escape_refused_with_line(func, marker, cause):
    params, X = _escape_args()
    grads = {"W": np.zeros((3, 3))}
    with pytest.raises(CompileError) as info:
        fc.check(func, params, grads, X, jit="trace")
    message = str(info.value)
    assert f"test_trace.py:" in message and marker in message and cause in message, message


def test_escape_under_auto_runs_in_python_with_note(monkeypatch):
    """jit=None: the source compiler refuses the object, tracing refuses the branch:
    the check runs in Python and its note names both lines."""
    params, X = _escape_args()

    class Net:
        def forward(self, W, X):
            return branching({"W": W}, X)

    net = Net()
    cost = lambda p, X: net.forward(p["W"], X)  # noqa: E731
    ref = fc.check(cost, params, {"W": np.zeros((3, 3))}, X, jit=False)
    # The source compiler's refusal (in a child) is remembered for this function:
    # the default check then traces before its first block, and is refused there.
    with pytest.raises(CompileError):
        fc.check(cost, params, {"W": ref.gradapprox_flat.reshape(3, 3)}, X, jit=True)
    res = fc.check(cost, params, {"W": ref.gradapprox_flat.reshape(3, 3)}, X)
    assert res.engine == "python" and res.passed and res.engines == {"python": 9}
    assert len(res.notes) == 1 and res.notes[0].startswith("ran in Python: ")
    assert "ESCAPE-IF" in res.notes[0] and "tracing it: " in res.notes[0]


def test_unseeded_randomness_refused():
    """A mask drawn anew at every call is not data of the record."""
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 3))}
    X = rng.standard_normal((5, 3))

    def noisy(p, X):
        mask = np.random.default_rng().random((5, 3)) > 0.5
        return np.sum((X @ p["W"] * mask) ** 2)

    adapter = PythonCostAdapter(noisy, params, (X,))
    with pytest.raises(CompileError, match="random draws without a fixed seed") as info:
        traced(adapter)
    assert "test_trace.py:" in str(info.value) and "* mask) ** 2)" in str(info.value)


class Squash:
    def forward(self, x):
        return np.tanh(x @ self.W)  # NUMBA-REFUSES


def test_a_record_numba_refuses_names_the_users_line_and_operation(monkeypatch):
    """Numba's refusal of generated code used to name the generated file only: it
    names the user's line that recorded the statement, and the operation."""
    from fastcheck.compiler import tracegen
    emit = tracegen._Emitter.expression

    def unusable_tanh(self, k, op):  # a statement Numba has no implementation for
        text = emit(self, k, op)
        return text.replace("np.tanh(", "np.tanh(1.5, 2.5, ") if op.attrs == ("tanh",) else text
    monkeypatch.setattr(tracegen._Emitter, "expression", unusable_tanh)
    layer = Squash()

    def cost(p, X):
        layer.W = p["W"]
        return np.sum(layer.forward(X) ** 2)
    X = np.ones((4, 2))
    with pytest.raises(CompileError) as info:
        fc.check(cost, {"W": np.ones((2, 3))}, {"W": np.zeros((2, 3))}, X, jit="trace")
    message = str(info.value)
    assert "test_trace.py:" in message and "NUMBA-REFUSES" in message, message
    assert "np.tanh" in message and "the generated code is" in message, message


# ---- the cache key is the record ------------------------------------------------------

def test_key_follows_constants_not_data():
    """A changed regularisation constant is new code; a new batch of the same shapes
    is the same code, computing with the new batch (the buffers are arguments), so
    a notebook rerun with new data reuses the compile."""
    keys = {}
    for reg in (0.05, 0.07):
        model, X, y = oonets.fc_net(hidden=(5,), input_dim=4, classes=3, batch=4)
        model.reg = reg

        def cost(p, X, y):
            model.params = p
            return model.loss(X, y)[0]

        cc = traced(PythonCostAdapter(cost, dict(model.params), (X, y)))
        keys[reg] = cc.key
    assert keys[0.05] != keys[0.07]
    X2 = X.copy()
    X2[0, 0] += 1
    p0 = {k: np.array(v) for k, v in model.params.items()}
    adapter = PythonCostAdapter(cost, dict(p0), (X2, y))
    cc2 = traced(adapter)
    assert cc2.key == keys[0.07] and cc2.cached
    # The independent reference: the model's own loss on the new batch.
    assert cc2.function(adapter.theta, cc2.fdata, cc2.idata) == pytest.approx(
        float(cost(p0, X2, y)), rel=1e-12)
    assert not np.array_equal(cc2.fdata, cc.fdata)


def test_objects_keep_working_after_the_trace():
    """The model keeps the tracer's arrays after the trace; they act as plain arrays."""
    model, X, y = oonets.layer_mlp()
    params = model.get_params()
    expected = model.forward(X)

    def cost(p, X, y):
        model.set_params(p)
        return model.loss(X, y)[0]

    cc = traced(PythonCostAdapter(cost, params, (X, y)))
    after = model.forward(X)  # the layers hold the trace's parameters now
    assert type(after) is np.ndarray and np.allclose(after, expected, rtol=1e-12, atol=0)
    assert cc.function(PythonCostAdapter(cost, params, (X, y)).theta, cc.fdata, cc.idata) == \
        pytest.approx(float(model.loss(X, y)[0]), rel=1e-12)


def test_flat_jit_cost_of_an_object_is_traced():
    """The old flat form ``cost(theta, X, Y)``, calling a method: traced over theta."""
    class Net:
        def f(self, theta, X, Y):
            W = theta[:6].reshape(2, 3)
            return np.sum((W @ X - Y) ** 2)

    net = Net()
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    params = {"W": rng.standard_normal((2, 3))}
    exact = {"W": 2 * (params["W"] @ X - Y) @ X.T}  # closed form
    cost = fc.jit_cost(lambda theta, X, Y: net.f(theta, X, Y))
    res = fc.check(cost, params, exact, X, Y)
    assert res.engine == "generic" and res.passed, str(res)
    assert res.notes[0].startswith("compiled by tracing: a record of")
    wrong = fc.check(cost, params, {"W": exact["W"] * 1.01}, X, Y)
    assert not wrong.passed and wrong.suspects == ["W"]


def test_an_operation_recorded_wrongly_is_named_by_its_line(monkeypatch):
    """The same operations and data at both points, yet another value: the record run
    as Python against NumPy's values names the first operation that differs (here
    np.tanh emitted as np.sin: a planted tracer bug)."""
    from fastcheck.compiler import tracediff, tracegen
    from fastcheck.compiler.trace import trace
    from fastcheck.compiler.tracefuncs import FUNCTIONS
    emit = tracegen._Emitter.expression
    monkeypatch.setattr(tracegen._Emitter, "expression", lambda self, k, op: emit(
        self, k, op).replace("np.tanh(", "np.sin("))
    layer = Squash()

    def cost(p, X):
        layer.W = p["W"]
        return np.sum(np.exp(layer.forward(X)))
    X = np.arange(8.0).reshape(4, 2) / 8
    theta = np.linspace(-1, 1, 6)
    rec, output = trace(cost, ["W"], [(2, 3)], theta, [X], False, FUNCTIONS)
    found = tracediff.explain(cost, ["W"], [(2, 3)], theta, theta + 0.1, [X], False, rec,
                              output, False)
    assert "NUMBA-REFUSES" in found and "np.tanh computes another value" in found, found

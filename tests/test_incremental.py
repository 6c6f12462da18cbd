"""The incremental engine (``engines.incremental``): the generic engine's estimates and
verdicts on the user's own networks, from a record evaluated only where a
perturbation reaches.

The op rules are tested without compiling anything: each batch's values are
compared with the user's NumPy cost called at the perturbed point (hypothesis
over small shapes). The checks compile two costs, shared by module fixtures.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastcheck as fc
from fastcheck.compiler.trace import trace
from fastcheck.compiler.tracefuncs import FUNCTIONS
from fastcheck.engines.changes import Batch
from fastcheck.engines.incremental import Traced
from fastcheck.errors import OptionError


# ------------------------------------------------------------ the user's code
def relu(z):
    return np.maximum(z, 0)


def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(np.sum(y * logp, axis=1))


def mlp_cost(p, X, Y):
    """A functional MLP, examples as rows, (1, M) biases, ReLU, softmax cross-entropy."""
    h = relu(X @ p["W1"] + p["b1"])
    return softmax_cross_entropy(h @ p["W2"] + p["b2"], Y)


def mlp_backward(p, X, Y, planted=False):
    z1 = X @ p["W1"] + p["b1"]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ p["W2"] + p["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    dz2 = (e / e.sum(axis=1, keepdims=True) - Y) / X.shape[0]
    dz1 = (dz2 @ p["W2"].T) * (z1 > 0)
    grads = {"W1": X.T @ dz1, "b1": dz1.sum(axis=0, keepdims=True),
             "W2": a1.T @ dz2, "b2": dz2.sum(axis=0, keepdims=True)}
    if planted:
        grads["W2"] = grads["W2"].copy()
        grads["W2"][2, 1] *= 1.5  # the planted bug
    return grads


class Dense:
    """A layer class over the columns-as-examples convention: W (out, in), b (out, 1)."""

    def __init__(self, name, act):
        self.name, self.act = name, act

    def forward(self, params, A):
        Z = params["W" + self.name] @ A + params["b" + self.name]
        return np.tanh(Z) if self.act == "tanh" else Z


class Net:
    def __init__(self, hyper):
        self.layers = [Dense("1", "tanh"), Dense("2", "tanh"), Dense("3", None)]
        self.hyper = hyper

    def loss(self, params, X, Y):
        A = X
        for layer in self.layers:
            A = layer.forward(params, A)
        p = 1.0 / (1.0 + np.exp(-A))
        bce = -np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p))
        l2 = sum(np.sum(params["W" + layer.name] ** 2) for layer in self.layers)
        return bce + self.hyper["lambda"] / 2 * l2

    def backward(self, params, X, Y):
        caches, A = [], X
        for layer in self.layers:
            Z = params["W" + layer.name] @ A + params["b" + layer.name]
            caches.append((A, Z))
            A = np.tanh(Z) if layer.act == "tanh" else Z
        m = X.shape[1]
        dZ = (1.0 / (1.0 + np.exp(-A)) - Y) / m
        grads = {}
        for layer, (A_prev, Z) in reversed(list(zip(self.layers, caches))):
            if layer.act == "tanh":
                dZ = dZ * (1 - np.tanh(Z) ** 2)
            W = params["W" + layer.name]
            grads["W" + layer.name] = dZ @ A_prev.T + self.hyper["lambda"] * W
            grads["b" + layer.name] = dZ.sum(axis=1, keepdims=True)
            dZ = W.T @ dZ
        return grads


def mlp_problem(sizes=(12, 6, 4), m=5, seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        p[f"W{k}"] = rng.standard_normal((a, b)) / np.sqrt(a)
        p[f"b{k}"] = 0.1 * rng.standard_normal((1, b))
    X = rng.standard_normal((m, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    return p, X, Y


def class_problem(seed=1):
    rng = np.random.default_rng(seed)
    sizes, m = (5, 4, 3, 1), 6
    p = {}
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        p[f"W{k}"] = rng.standard_normal((b, a)) / np.sqrt(a)
        p[f"b{k}"] = 0.1 * rng.standard_normal((b, 1))
    X = rng.standard_normal((sizes[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    return Net({"lambda": 0.1}), p, X, Y


def agree(generic, incremental):
    """The two checks' estimates within each coordinate's error estimate, and the
    same verdicts, coordinate by coordinate."""
    assert generic.engines == {"generic": generic.checked}
    assert incremental.engines == {"incremental": incremental.checked}
    diff = np.abs(generic.gradapprox_flat - incremental.gradapprox_flat)
    assert (diff <= generic.error_flat).all(), diff.max()
    assert np.array_equal(generic.judgement, incremental.judgement)
    assert generic.passed == incremental.passed


# ------------------------------------------------------------ whole checks
@pytest.fixture(scope="module")
def mlp_checks():
    p, X, Y = mlp_problem()
    out = {}
    for planted in (False, True):
        grads = mlp_backward(p, X, Y, planted)
        out[planted] = {engine: fc.check(mlp_cost, p, grads, X, Y, engine=engine)
                        for engine in ("generic", "incremental")}
    return out


def test_functional_mlp_matches_the_generic_engine(mlp_checks):
    right = mlp_checks[False]
    agree(right["generic"], right["incremental"])
    assert right["incremental"].passed
    assert right["incremental"].engine_reason.startswith("incremental")
    assert not any("generic engine checked" in n for n in right["incremental"].notes)


def test_planted_bug_is_named_as_by_the_generic_engine(mlp_checks):
    wrong = mlp_checks[True]
    agree(wrong["generic"], wrong["incremental"])
    res = wrong["incremental"]
    assert not res.passed
    assert [(c.tensor, c.index) for c in res.located] == [("W2", (2, 1))]


def test_layer_classes_match_the_generic_engine():
    net, p, X, Y = class_problem()
    grads = net.backward(p, X, Y)
    generic = fc.check(net.loss, p, grads, X, Y, engine="generic")
    incremental = fc.check(net.loss, p, grads, X, Y, engine="incremental")
    agree(generic, incremental)
    assert incremental.passed
    grads["b2"] = grads["b2"] * 2.0  # a planted bug in a (M, 1) bias
    generic = fc.check(net.loss, p, grads, X, Y, engine="generic")
    incremental = fc.check(net.loss, p, grads, X, Y, engine="incremental")
    agree(generic, incremental)
    assert not incremental.passed
    assert "b2" in str(incremental)


def test_options_the_engine_cannot_take_say_why():
    p, X, Y = mlp_problem()
    grads = mlp_backward(p, X, Y)
    with pytest.raises(OptionError, match="incremental"):
        fc.check(mlp_cost, p, grads, X, Y, engine="incremental", jit=False)
    res = fc.check(mlp_cost, p, grads, X, Y, engine="incremental", method="complex")
    assert res.engine != "incremental"
    assert any("incremental engine runs difference stencils" in n for n in res.notes)


def test_a_rule_that_goes_wrong_hands_the_tensor_to_the_generic_engine(monkeypatch):
    # The probe at engine build compares with the compiled cost: a wrong rule
    # (here the ReLU's slices made to give wrong values) never gives a number.
    p, X, Y = mlp_problem()
    grads = mlp_backward(p, X, Y)
    good = fc.check(mlp_cost, p, grads, X, Y, engine="generic")
    original = Batch._slices_elementwise

    def broken(self, k, op, got, B):
        out = original(self, k, op, got, B)
        return out if out is NotImplemented else out._replace(val=out.val * 1.01)

    monkeypatch.setattr(Batch, "_slices_elementwise", broken)
    res = fc.check(mlp_cost, p, grads, X, Y, engine="incremental")
    assert any("generic engine checked W1" in n and "disagreed" in n for n in res.notes)
    assert np.array_equal(res.judgement, good.judgement)
    assert (np.abs(res.gradapprox_flat - good.gradapprox_flat) <= good.error_flat).all()


def test_a_rule_that_raises_mid_check_hands_the_rest_over_and_says_so(monkeypatch):
    # Past the probe, a rule that raises sends the tensor's remaining coordinates
    # to the generic engine: the report counts them there and names the tensor.
    p, X, Y = mlp_problem()
    grads = mlp_backward(p, X, Y)
    good = fc.check(mlp_cost, p, grads, X, Y, engine="generic")
    original, raised = Batch._slices_elementwise, []

    def raises_later(self, k, op, got, B):
        if B > 6:  # larger than a probe's batch (3 coordinates x 2 points)
            raised.append(B)
            raise ValueError("a rule's shapes went wrong")
        return original(self, k, op, got, B)

    monkeypatch.setattr(Batch, "_slices_elementwise", raises_later)
    res = fc.check(mlp_cost, p, grads, X, Y, engine="incremental")
    assert raised
    assert res.engines.get("generic", 0) > 0 and sum(res.engines.values()) == res.checked
    assert any("generic engine checked the rest of" in n and "a rule's shapes" in n
               for n in res.notes)
    assert np.array_equal(res.judgement, good.judgement)
    assert (np.abs(res.gradapprox_flat - good.gradapprox_flat) <= good.error_flat).all()


# ------------------------------------------------ the op rules, no compile
def _traced(cost, params, args):
    layout = fc.Layout.from_params(params)
    theta = layout.flatten(params)
    rec, out = trace(cost, list(layout.names), [tuple(s) for s in layout.shapes], theta, args,
                     False, FUNCTIONS)
    return layout, theta, Traced(rec, out, theta)


def _batch_matches_numpy(cost, params, args, rng, count=6):
    """Every tensor: J from a batch of perturbations equals the NumPy cost there."""
    layout, theta, traced = _traced(cost, params, args)
    assert traced.j0 == pytest.approx(cost(params, *args), rel=1e-12, abs=1e-12)
    for node, (offset, size, order, reason) in traced.params.items():
        assert reason is None
        batch = Batch(traced.rec, order, traced.values, traced.output, traced.last_use)
        local = rng.integers(0, size, count)
        values = theta[offset + local] + rng.choice([-1e-3, 1e-3, 0.7], count)
        got = batch.run(node, local, values)
        for b in range(count):
            moved = theta.copy()
            moved[offset + local[b]] = values[b]
            expected = cost(layout.unflatten(moved), *args)
            assert got[b] == pytest.approx(expected, rel=1e-10, abs=1e-12), (node, b)


def op_zoo(p, X, Y):
    """Every rule at least once: both product sides, broadcasts of (1, M), (M,) and
    (N, 1), transposes, reshapes, slices, fancy indexing, reductions along each
    axis, max, where, concatenation, 1-D products."""
    Z = X @ p["W"] + p["b"]                      # right factor: columns
    T = (p["W"].T @ X.T).T                       # left factor of a transpose: rows
    A = np.where(Z > 0, Z, 0.1 * Z) * np.tanh(T)
    S = A[:, :3].sum(axis=0) + A.reshape(-1)[:3]
    C = np.concatenate([A, p["c"] * np.ones((A.shape[0], 1))], axis=1)
    L = C @ p["V"] + p["v"]
    m = L - L.max(axis=1, keepdims=True)
    picked = m[np.arange(m.shape[0]), Y]
    vec = p["u"] @ X.T                           # a 1-D left factor
    Q = np.maximum(Z, 0) @ p["V"][:-1]          # the examples a ReLU lets through
    Qn = (Q - Q.mean(axis=0)) / np.sqrt(Q.var(axis=0) + 1e-5)   # a batchnorm over them
    return (-np.mean(picked) + 0.1 * np.sum(S ** 2) + np.mean(np.exp(m).sum(axis=0))
            + 0.01 * np.sum(vec * vec) + np.sum(L[-1]) + np.sum(np.tanh(Qn) * Q))


@given(n=st.integers(1, 6), d=st.integers(3, 5), k=st.integers(3, 5), c=st.integers(2, 4),
       seed=st.integers(0, 2 ** 16))
def test_op_rules_match_the_numpy_cost(n, d, k, c, seed):
    # n up to 6 examples: a ReLU that lets a change through to 2 or 3 of them
    # keeps those rows apart (slices) rather than dense.
    rng = np.random.default_rng(seed)
    p = {"W": rng.standard_normal((d, k)), "b": rng.standard_normal((1, k)),
         "c": rng.standard_normal(()), "V": rng.standard_normal((k + 1, c)),
         "v": rng.standard_normal(c), "u": rng.standard_normal(d)}
    p["c"] = np.array([[float(p["c"])]])
    X = rng.standard_normal((n, d))
    Y = rng.integers(0, c, n)
    _batch_matches_numpy(op_zoo, p, (X, Y), rng)


@given(n=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_networks_batches_match_the_numpy_cost(n, seed):
    rng = np.random.default_rng(seed)
    p, X, Y = mlp_problem((5, 4, 3), m=n, seed=seed)
    _batch_matches_numpy(mlp_cost, p, (X, Y), rng)
    net, p, X, Y = class_problem(seed)
    _batch_matches_numpy(net.loss, p, (X, Y), rng)


def test_auto_takes_the_engine_for_large_records_it_runs_cheaply(mlp_checks, monkeypatch):
    from fastcheck.costs import incremental
    p, X, Y = mlp_problem()
    grads = mlp_backward(p, X, Y)
    small = fc.check(mlp_cost, p, grads, X, Y, jit=True)
    assert small.engines == {"generic": small.checked}  # P = 106 < AUTO_MIN_PARAMS
    monkeypatch.setattr(incremental, "AUTO_MIN_PARAMS", 0)
    monkeypatch.setattr(incremental, "AUTO_RATIO", 0.0)
    res = fc.check(mlp_cost, p, grads, X, Y, jit=True)
    assert res.engines == {"incremental": res.checked}
    assert res.engine_reason.startswith("incremental: the compiled cost's record")
    generic = mlp_checks[False]["generic"]
    assert (np.abs(res.gradapprox_flat - generic.gradapprox_flat) <= generic.error_flat).all()


def flat_cost(theta, X, Y):
    """The flat form: the tensors are slices of theta, columns are examples."""
    n1, n0 = 5, X.shape[0]
    W1 = theta[:n1 * n0].reshape(n1, n0)
    b1 = theta[n1 * n0:n1 * n0 + n1].reshape(n1, 1)
    o = n1 * n0 + n1
    W2 = theta[o:o + 3 * n1].reshape(3, n1)
    b2 = theta[o + 3 * n1:].reshape(3, 1)
    Z = W2 @ np.tanh(W1 @ X + b1) + b2
    return np.sum((Z - Y) ** 2) / (2 * X.shape[1])


def test_flat_cost_batches_match_the_numpy_cost():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((6, 4)), rng.standard_normal((3, 4))
    theta = rng.standard_normal(5 * 6 + 5 + 3 * 5 + 3)
    rec, out = trace(flat_cost, ["theta"], [theta.shape], theta, (X, Y), True, FUNCTIONS)
    traced = Traced(rec, out, theta)
    ((node, (_, size, order, reason)),) = traced.params.items()
    assert reason is None and size == theta.size
    moved = theta + rng.choice([-0.3, 1e-4], theta.size)
    got = Batch(rec, order, traced.values, out, traced.last_use).run(
        node, np.arange(theta.size), moved)
    for i in range(theta.size):
        row = theta.copy()
        row[i] = moved[i]
        assert got[i] == pytest.approx(flat_cost(row, X, Y), rel=1e-12, abs=1e-14), i


def _idiom_cases():
    from test_trace_idioms import CASES  # attention, an im2col conv with argmax pooling, a GRU
    return CASES


@pytest.mark.parametrize("name", ["attention", "conv_argmax_pool", "gru", "regulariser"])
def test_the_tracers_networks_batches_match_the_numpy_cost(name):
    cost, params, args = _idiom_cases()[name]()
    _batch_matches_numpy(cost, params, args, np.random.default_rng(0))


def test_layer_classes_with_batchnorm_and_dropout_batches_match_the_numpy_cost():
    import oonets
    model, X, y = oonets.layer_mlp(sizes=(7, 6, 5, 3), batch=8)
    params = model.get_params()

    def cost(p, X, y):
        model.set_params(p)
        return model.loss(X, y)[0]

    _batch_matches_numpy(cost, params, (X, y), np.random.default_rng(1), count=8)
    model.set_params(params)


# ------------------------------------------------ the compiled tails
# A tensor of at least TAIL_MIN_SIZE coordinates runs its record past the first
# product as generated code (engines.tail); here the threshold is lowered so
# that one tensor per cost gets a tail (each is a compile: a few seconds cold).
def labels_cost(p, X, y):
    """The benchmark's network, small: columns are examples, labels picked by index."""
    A = np.maximum(p["W1"] @ X + p["b1"], 0.0)
    Z = p["W2"] @ A + p["b2"]
    Z = Z - Z.max(axis=0, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))
    return -np.mean(logp[y, np.arange(X.shape[1])])


def labels_problem(seed=2):
    rng = np.random.default_rng(seed)
    p = {"W1": rng.standard_normal((5, 6)) / 2, "b1": 0.1 * rng.standard_normal((5, 1)),
         "W2": rng.standard_normal((4, 5)) / 2, "b2": 0.1 * rng.standard_normal((4, 1))}
    return p, rng.standard_normal((6, 7)), rng.integers(0, 4, 7)


def _tails_match_numpy(cost, params, args, names, rng, count=10):
    """Each tensor of ``names``: J through its compiled tail equals the NumPy cost at
    the perturbed points (steps small and large: a ReLU that flips changes the
    lines a perturbation reaches), and the tail fuses its lines (``for l``)."""
    from fastcheck.engines.incremental import tensor_names
    from fastcheck.engines.tail import make_tail
    layout, theta, traced = _traced(cost, params, args)
    seen = set()
    for node, (offset, size, order, _) in traced.params.items():
        name = tensor_names(layout, offset, size)
        if name not in names:
            continue
        seen.add(name)
        batch = Batch(traced.rec, order, traced.values, traced.output, traced.last_use)
        local = rng.integers(0, size, count)
        values = theta[offset + local] + rng.choice([-1e-3, 1e-3, 0.7, -2.0], count)
        tail, why = make_tail(batch, node, local[:3], values[:3])
        assert tail is not None, why
        assert "for l in range(count)" in tail.source, tail.source
        got = batch.run(node, local, values, tail=tail)
        for b in range(count):
            moved = theta.copy()
            moved[offset + local[b]] = values[b]
            expected = cost(layout.unflatten(moved), *args)
            assert got[b] == pytest.approx(expected, rel=1e-10, abs=1e-12), (name, b)
    assert seen == set(names)


def test_compiled_tails_match_the_numpy_cost():
    # Labels picked by index (a product's changed row fans out to columns, the
    # picks written line by line), examples as rows with one-hot targets (a
    # changed column fans out to rows), and layer classes with an L2 term (a
    # region through a second product; the parameter read beside the tail).
    rng = np.random.default_rng(5)
    p, X, y = labels_problem()
    _tails_match_numpy(labels_cost, p, (X, y), {"W1"}, rng)
    p, X, Y = mlp_problem()
    _tails_match_numpy(mlp_cost, p, (X, Y), {"W1"}, rng)
    net, p, X, Y = class_problem()
    _tails_match_numpy(net.loss, p, (X, Y), {"W1"}, rng)


def test_checks_through_compiled_tails_match_the_generic_engine(mlp_checks, monkeypatch):
    from fastcheck.engines import incremental, tail
    monkeypatch.setattr(incremental, "TAIL_MIN_COORDS", 50)  # W1 (72) only
    # Kept whichever runs faster here (a timing, not for a test to depend on).
    monkeypatch.setattr(incremental.IncrementalEngine, "_tail_pays", lambda self, node: True)
    ran, original = [], tail.Tail.run

    def counted(self, batch, changes, B):
        ran.append(B)
        return original(self, batch, changes, B)

    monkeypatch.setattr(tail.Tail, "run", counted)
    p, X, Y = mlp_problem()
    for planted in (False, True):
        grads = mlp_backward(p, X, Y, planted)
        res = fc.check(mlp_cost, p, grads, X, Y, engine="incremental")
        agree(mlp_checks[planted]["generic"], res)
    assert sum(ran) > 72  # the probe's points and every W1 coordinate's
    # A tail whose values go wrong is never kept: the probe compares it with the
    # compiled cost, and W1 runs on the NumPy pass, with the same estimates.
    monkeypatch.setattr(tail.Tail, "run", lambda self, batch, changes, B:
                        original(self, batch, changes, B) * (1 + 1e-3))
    grads = mlp_backward(p, X, Y)
    res = fc.check(mlp_cost, p, grads, X, Y, engine="incremental")
    agree(mlp_checks[False]["generic"], res)
    assert not any("generic engine checked" in n for n in res.notes)

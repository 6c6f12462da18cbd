"""The idioms real networks are written in, traced (issue 31).

References: NumPy itself (the cost run in Python at the same points), and for
the networks a central-difference gradient computed here in plain NumPy.
Records are first run as Python (the generated code with fastcheck's helpers'
Python twins: no compile, so shapes can vary under hypothesis), then the
networks are compiled and checked with ``jit=True``.
"""

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastcheck as fc
from fastcheck.compiler import traceops
from fastcheck.compiler.trace import TraceEscape, trace
from fastcheck.compiler.tracefuncs import FUNCTIONS
from fastcheck.compiler.tracegen import generate

sys.path.insert(0, os.path.dirname(__file__))
import idiomnets  # noqa: E402

HELPERS = ("bmatmul", "gather", "rows_argmax", "rows_argmin", "rows_argsort", "rows_max",
           "rows_min", "rows_prod", "rows_sum", "round32", "scatter", "wrap_index")


def record_in_python(cost, params, *args):
    """``f(theta)``: the record of ``cost`` at ``params``, its generated code run as Python."""
    names = list(params)
    shapes = [np.shape(params[n]) for n in names]
    theta = np.concatenate([np.ravel(params[n]) for n in names]).astype(float)
    rec, out = trace(cost, names, shapes, theta, list(args), False, FUNCTIONS)
    source, fdata, idata, _ = generate(rec, out, "cost", "test")
    space = {}
    exec(compile(source, "generated", "exec"), space)
    for name in HELPERS:
        space[name] = getattr(traceops, name).py_func
    space["to_cost"] = lambda v: float(np.asarray(v).reshape(-1)[0])
    return lambda t: space["traced_cost"](np.asarray(t, dtype=float), fdata, idata)


def unflatten(params, theta):
    out, k = {}, 0
    for name, v in params.items():
        n = np.size(v)
        out[name] = theta[k:k + n].reshape(np.shape(v))
        k += n
    return out


def agrees(cost, params, *args, points=4, scale=0.5, seed=0):
    """The record equals the Python cost at theta and at points far enough to cross
    ReLU kinks, change argmaxes and reorder argsorts."""
    f = record_in_python(cost, params, *args)
    theta = np.concatenate([np.ravel(v) for v in params.values()]).astype(float)
    rng = np.random.default_rng(seed)
    for k in range(points):
        point = theta + (k > 0) * scale * rng.standard_normal(theta.size)
        expected = float(cost(unflatten(params, point), *args))
        assert f(point) == pytest.approx(expected, rel=1e-10, abs=1e-12), k


# ---- 1. batched products ------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(batch=st.lists(st.integers(1, 3), min_size=1, max_size=2), m=st.integers(1, 3),
       k=st.integers(1, 3), n=st.integers(1, 3), left_2d=st.booleans(), seed=st.integers(0, 99))
def test_batched_matmul_equals_numpy(batch, m, k, n, left_2d, seed):
    rng = np.random.default_rng(seed)
    shape_a = (m, k) if left_2d else tuple(batch) + (m, k)
    params = {"A": rng.standard_normal(shape_a), "B": rng.standard_normal(tuple(batch) + (k, n))}
    X = rng.standard_normal(tuple(batch) + (n, m))

    def cost(p, X):
        return np.sum(np.sin(p["A"] @ p["B"]) * np.matmul(p["A"] @ p["B"], X).sum(axis=-1,
                                                                                 keepdims=True))
    agrees(cost, params, X, seed=seed)


EINSUMS = [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
           ("ij,jk->ik", [(3, 4), (4, 2)]), ("i,i->", [(5,), (5,)]), ("ij->ji", [(3, 4)]),
           ("ij,kj", [(3, 4), (2, 4)]), ("bij->bj", [(2, 3, 4)]), ("ijk,kj->i", [(2, 3, 4), (4, 3)])]


@pytest.mark.parametrize("subscripts,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_equals_numpy(subscripts, shapes):
    rng = np.random.default_rng(1)
    params = {f"x{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}
    weight = rng.standard_normal(np.einsum(subscripts, *params.values()).shape)

    def cost(p):
        return np.sum(np.einsum(subscripts, *p.values()) * weight)
    agrees(cost, params)


def test_einsum_diagonal_refused_naming_the_subscripts():
    with pytest.raises(TraceEscape, match=r"test_trace_idioms.py:\d+: .*'ii->i'"):
        record_in_python(lambda p: np.einsum("ii->i", p["A"]).sum(), {"A": np.eye(3)})


# ---- 2. array building --------------------------------------------------------------

def test_building_arrays_equals_numpy():
    rng = np.random.default_rng(2)
    params = {"a": rng.standard_normal(4), "B": rng.standard_normal((4, 3))}

    def cost(p):
        a, B = p["a"], p["B"]
        parts = [np.column_stack([a, B]), np.hstack([B, B * 2]), np.vstack([a, a ** 2]),
                 np.dstack([B, B]), B.repeat(2, axis=0), np.repeat(a, 3), np.tile(B, (2, 1)),
                 np.flip(B, axis=1), np.broadcast_to(a, (2, 4))]
        total = sum(np.sum(np.sin(x)) for x in parts)
        return total + np.sum([np.sum(x ** 2) for x in parts]) + np.mean([a, a * 3])
    agrees(cost, params)


def test_unknown_method_refused_naming_the_line_and_the_method():
    def cost(p):
        return p["A"].cumsum().sum()  # UNKNOWN-METHOD
    with pytest.raises(TraceEscape) as info:
        record_in_python(cost, {"A": np.ones(3)})
    message = str(info.value)
    assert "UNKNOWN-METHOD" in message and ".cumsum()" in message and "Traced" not in message


# ---- 3. buffers, views and out= -----------------------------------------------------

def test_writes_into_buffers_and_through_views_reach_their_base():
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((3, 4))}

    def cost(p):
        W = p["W"]
        out = np.zeros((2, 3, 4))
        out[0] = W
        out[1, :, 1:] = W[:, :3] * 2
        V = out[1, 1:]                       # a view
        np.maximum(V, 0, out=V)             # ReLU in place through the view
        flat = out.reshape(-1)               # a view too
        flat[::5] += 1.0
        buf = np.empty_like(W)
        np.copyto(buf, W.T.reshape(3, 4))
        buf[buf < 0.1] = 0.0
        G = W.copy()
        G += 1                               # a copy: W is untouched
        return np.sum(out ** 2) + np.sum(buf * W) + np.sum(G * W) + np.sum(W)
    agrees(cost, params)


def test_a_data_array_written_by_the_cost_is_not_modified():
    X = np.arange(6.0).reshape(2, 3)
    before = X.copy()

    def cost(p, X):
        X[0] = p["w"]
        return np.sum(X ** 2)
    f = record_in_python(cost, {"w": np.ones(3)}, X)
    assert np.array_equal(X, before)
    assert f(np.array([1.0, 2.0, 3.0])) == pytest.approx(1 + 4 + 9 + 9 + 16 + 25)


# ---- 4. value-dependent indices -----------------------------------------------------

def test_value_dependent_indices_are_recomputed():
    rng = np.random.default_rng(4)
    params = {"A": rng.standard_normal((4, 5))}

    def cost(p):
        A = p["A"]
        k = np.argmax(A, axis=1)
        top = A[np.arange(4), k]                              # max pooling's pick
        mask = A == A.max(axis=1, keepdims=True)              # its mask
        order = np.argsort(A, axis=1)[:, -2:]                 # top-2
        best2 = np.take_along_axis(A, order, axis=1)
        low = A.argmin()
        grad = np.zeros_like(A)
        grad[np.arange(4), k] = top                           # the backward's scatter
        return (np.sum(top ** 3) + np.sum(mask * A) + np.sum(best2 * [1.0, 2.0])
                + A.reshape(-1)[low] + np.sum(grad * A) + np.sum(A[:, k[0]]))
    agrees(cost, params, points=8, scale=1.0)


# ---- networks, compiled -------------------------------------------------------------

def numeric_grads(cost, params, *args, h=1e-6):
    """Central differences in plain NumPy: the reference a correct backward matches."""
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            moved = {k: v.copy() for k, v in params.items()}
            moved[name][i] += h
            up = float(cost(moved, *args))
            moved[name][i] -= 2 * h
            g[i] = (up - float(cost(moved, *args))) / (2 * h)
        grads[name] = g
    return grads


def attention_case():
    rng = np.random.default_rng(0)
    block = idiomnets.Attention(4, rng)
    x, target = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))

    def cost(p, x, target):
        block.params = p
        return block.loss(x, target)
    return cost, dict(block.params), (x, target)


def conv_case():
    rng = np.random.default_rng(1)
    net = idiomnets.ConvPool(rng)
    x, y = rng.standard_normal((2, 2, 4, 4)), rng.integers(0, 3, 2)

    def cost(p, x, y):
        net.params = p
        return net.loss(x, y)
    return cost, dict(net.params), (x, y)


def gru_case():
    rng = np.random.default_rng(2)
    gru = idiomnets.GRU(2, 3, rng)
    xs, ys = rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 1))

    def cost(p, xs, ys):
        gru.params = p
        return gru.loss(xs, ys)
    return cost, dict(gru.params), (xs, ys)


def regulariser_case():
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((3, 4)), "W2": rng.standard_normal((4, 2))}
    X = rng.standard_normal((5, 3))

    class Net:
        def __init__(self):
            self.weights = []

        def loss(self, X):
            h = np.tanh(X @ self.weights[0]) @ self.weights[1]
            return np.mean(h ** 2) + idiomnets.regulariser(self.weights, 0.01)

    net = Net()

    def cost(p, X):
        net.weights = [p["W1"], p["W2"]]
        return net.loss(X)
    return cost, params, (X,)


CASES = {"attention": attention_case, "conv_argmax_pool": conv_case, "gru": gru_case,
         "regulariser": regulariser_case}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_network_compiles_and_checks(name):
    cost, params, args = CASES[name]()
    grads = numeric_grads(cost, params, *args)
    res = fc.check(cost, params, grads, *args, jit=True)
    assert res.engine == "generic" and res.passed, str(res)
    assert any("compiled by tracing" in n for n in res.notes), res.notes
    python = fc.check(cost, params, grads, *args, jit=False)
    assert fc.relative_difference(res.gradapprox_flat, python.gradapprox_flat) < 1e-6
    planted = sorted(params)[-1]  # one tensor's gradient off by 5%: named
    wrong = dict(grads, **{planted: grads[planted] * 1.05})
    bad = fc.check(cost, params, wrong, *args, jit=True)
    assert not bad.passed and bad.suspects == [planted], str(bad)


def test_a_store_into_an_array_the_cost_did_not_allocate_is_recorded():
    """A closure's array the cost stores into is the record's own copy (issue 31):
    later reads of it follow the parameters, and it holds theta's values after."""
    kept = np.zeros(3)

    def cost(p):
        kept[...] = p["w"]
        return np.sum(kept ** 2)
    f = record_in_python(cost, {"w": np.ones(3)})
    assert f(np.array([1.0, 2.0, 3.0])) == pytest.approx(14.0)
    assert type(kept) is np.ndarray and np.array_equal(kept, np.ones(3))

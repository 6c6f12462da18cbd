"""Held-out functional course code (``coursecode.py``) compiled as written.

Each cost is compiled with ``compile_cost`` and its compiled value compared
with the user's own Python function on the same parameters: the reference is
the Python cost, never the compiled one. The arguments are passed the way the
courses pass them: dicts of hyperparameters, a list of ints, ``numpy.str_``
parameter names.
"""

import numpy as np
import pytest

import coursecode as cc
import fastcheck as fc
from fastcheck.compiler import compile_cost
from fastcheck.errors import CompileError

RTOL = 1e-12


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("fastcheck-cache")))
        yield


def compiled_value(cost, params, args):
    names = list(params)
    shapes = [params[n].shape for n in names]
    compiled = compile_cost(cost, names, shapes, args)
    theta = np.concatenate([params[n].ravel() for n in names])
    return compiled.function(theta, compiled.fdata, compiled.idata), compiled


def assert_agrees(cost, params, args):
    got, compiled = compiled_value(cost, params, args)
    expected = float(cost(params, *args))
    assert got == pytest.approx(expected, rel=RTOL)
    return compiled


def test_coursera_l_layer_with_squeeze():
    rng = np.random.default_rng(0)
    dims = [5, 4, 3, 1]
    params = {}
    for l in range(1, len(dims)):
        params["W" + str(l)] = rng.standard_normal((dims[l], dims[l - 1])) * 0.5
        params["b" + str(l)] = rng.standard_normal((dims[l], 1)) * 0.1
    X = rng.standard_normal((5, 7))
    Y = (rng.random((1, 7)) > 0.5).astype(float)
    assert_agrees(cc.L_layer_cost, params, (X, Y))


def test_coursera_conv_forward_with_hparameters_dict():
    rng = np.random.default_rng(1)
    params = {"W": rng.standard_normal((3, 3, 2, 4)), "b": rng.standard_normal((1, 1, 1, 4))}
    A_prev = rng.standard_normal((2, 5, 5, 2))
    hparameters = {"stride": 2, "pad": 1}
    dZ = rng.standard_normal((2, 3, 3, 4))
    compiled = assert_agrees(cc.conv_cost, params, (A_prev, hparameters, dZ))
    # Another stride is a value, not a kind: the same compiled cost serves it.
    hparameters = {"stride": 1, "pad": 1}
    dZ = rng.standard_normal((2, 5, 5, 4))
    fdata, idata = compiled.pack((A_prev, hparameters, dZ))
    theta = np.concatenate([params["W"].ravel(), params["b"].ravel()])
    assert compiled.function(theta, fdata, idata) == pytest.approx(
        cc.conv_cost(params, A_prev, hparameters, dZ), rel=RTOL)


def test_softmax_loss_with_keepdims_and_numpy_str_names():
    rng = np.random.default_rng(2)
    names = np.array(["W", "b"])  # keys as a course builds them from an array
    params = {names[0]: rng.standard_normal((4, 3)), names[1]: rng.standard_normal(3)}
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    assert_agrees(cc.softmax_loss, params, (X, y, 0.1))


def test_char_rnn_over_a_list_of_ints():
    rng = np.random.default_rng(3)
    vocab, hidden = 5, 4
    params = {"Wxh": rng.standard_normal((hidden, vocab)) * 0.3,
              "Whh": rng.standard_normal((hidden, hidden)) * 0.3,
              "Why": rng.standard_normal((vocab, hidden)) * 0.3}
    inputs, targets = [0, 3, 1, 4], [3, 1, 4, 2]
    compiled = assert_agrees(cc.char_rnn_loss, params, (inputs, targets, np.zeros((hidden, 1))))
    assert any("list" in note for note in compiled.notes)


def test_cs231n_layers_with_param_dicts():
    rng = np.random.default_rng(4)
    params = {"W1": rng.standard_normal((2 * 2 * 2, 5)), "b1": rng.standard_normal(5),
              "gamma": 1 + 0.1 * rng.standard_normal(5), "beta": 0.1 * rng.standard_normal(5),
              "W2": rng.standard_normal((5, 3)), "b2": rng.standard_normal(3)}
    x = rng.standard_normal((6, 2, 4, 4))
    y = rng.integers(0, 3, 6)
    mask = (rng.random((6, 5)) < 0.7).astype(float)
    # bn_param without CS231n's "mode": "train" (strings do not compile); its
    # values are all floats, so bn_param.get("eps", 1e-5) compiles too.
    args = (x, y, {"eps": 1e-5, "momentum": 0.9}, {"p": 0.7},
            {"pool_height": 2, "pool_width": 2, "stride": 2}, mask)
    assert_agrees(cc.cs231n_loss, params, args)


def test_check_jit_true_on_course_code_finds_a_correct_gradient_correct():
    rng = np.random.default_rng(5)
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    X, y, reg = rng.standard_normal((6, 4)), rng.integers(0, 3, 6), 0.1
    scores = X @ params["W"] + params["b"]
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(6), y] -= 1
    dscores /= 6
    grads = {"W": X.T @ dscores + reg * params["W"], "b": dscores.sum(axis=0)}
    res = fc.check(cc.softmax_loss, params, grads, X, y, reg, jit=True)
    assert res.passed
    grads["b"] = grads["b"] * 1.01
    assert not fc.check(cc.softmax_loss, params, grads, X, y, reg, jit=True).passed


@pytest.mark.parametrize("bad, reason", [
    ({"stride": "two"}, r"\['stride'\] is a str"),
    ({1: 2}, "keyed by printable strings"),
    ({"a": {"b": 1}}, "dict inside a dict"),
    ([1, [2, 3]], "not of numbers or of arrays of one shape"),
    ([np.ones(2), np.ones(3)], "not of numbers or of arrays of one shape"),
])
def test_arguments_that_cannot_travel_are_refused_by_name(bad, reason):
    def cost(params, hp):
        return np.sum(params["w"])

    with pytest.raises(CompileError, match=reason) as info:
        compile_cost(cost, ["w"], [(2,)], (bad,))
    assert "'hp'" in str(info.value)


def rnn_case(rng, by_shape):
    n_x, n_a, n_y, m, T = 3, 5, 2, 4, 6
    params = {"Wax": rng.standard_normal((n_a, n_x)), "Waa": rng.standard_normal((n_a, n_a)),
              "Wya": rng.standard_normal((n_y, n_a)), "ba": rng.standard_normal((n_a, 1)),
              "by": rng.standard_normal(by_shape)}
    return params, (rng.standard_normal((n_x, m, T)), rng.standard_normal((n_a, m)),
                    rng.random((n_y, m, T)))


@pytest.mark.slow
def test_coursera_rnn_forward_that_appends_caches_compiles():
    params, args = rnn_case(np.random.default_rng(6), (2, 1))
    assert_agrees(cc.rnn_cost, params, args)


def test_a_compile_past_its_budget_is_refused_at_the_append(monkeypatch):
    # With a 1-D bias (broadcast over the batch of 4) the params can only be a
    # literal dict, which the list of cache tuples sends into minutes of type
    # inference: the budget stops it.
    monkeypatch.setenv("FASTCHECK_COMPILE_SECONDS", "3")
    params, args = rnn_case(np.random.default_rng(7), (4,))
    cc.rnn_cost(params, *args)  # the Python cost runs
    with pytest.raises(CompileError, match=r'coursecode.py:\d+: "caches.append\(cache\)": '
                                           r"Numba was still compiling it after 3 s of CPU time"):
        compiled_value(cc.rnn_cost, params, args)

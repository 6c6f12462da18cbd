"""``fastcheck.check_vjp``: one layer's backward pass, checked through ``fc.check``;
``only=``/``exclude=`` on both; ``assert_vjp_match``. Layers: ``tests/layers.py``."""

import functools
import re

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError, InputTypeError, OptionError
from fastcheck.planning.noise import EVALUATIONS as NOISE_EVALUATIONS
from fastcheck.testing import assert_vjp_match
from fastcheck.vjp import cotangent

from layers import LAYERS, problem

#: The planted mistake of each layer and the input it makes wrong.
PLANTED = {"affine": (True, "w"), "batchnorm": ("mean", "x"), "conv": (True, "b"),
           "maxpool": (True, "x"), "lstm": (True, "Wh"), "softmax": (True, "x")}
#: Every layer with every method that applies: the complex step wherever the layer
#: runs in complex arithmetic, which max pooling does not (see layers.py).
METHODS = [(name, method) for name in LAYERS for method in ("central", "richardson", "complex")
           if (name, method) != ("maxpool", "complex")]


def vjp_args(name, mistake=False):
    """``(layer, inputs, grads, args, options)`` to hand to ``check_vjp``: the backward
    itself, so that fastcheck draws dout; a loss's own gradient for the softmax."""
    layer, inputs, args, backward = problem(name)
    grads = functools.partial(backward, mistake=mistake)
    if name == "softmax":
        grads = grads()  # a mapping-like result for the loss's cotangent, 1
    return layer, inputs, grads, args, {"outputs": 2} if name == "lstm" else {}


def run(name, mistake=False, **options):
    layer, inputs, grads, args, extra = vjp_args(name, mistake)
    return fc.check_vjp(layer, inputs, grads, *args, **extra, **options)


# ---- correct backward passes pass, planted mistakes are found ------------------------

@pytest.mark.parametrize("name, method", METHODS)
def test_a_correct_backward_passes(name, method):
    res = run(name, method=method, engine="python", n=2)
    assert res.passed, str(res)
    assert res.checked == sum(np.size(v) for v in problem(name)[1].values())


def test_max_pooling_refuses_the_complex_step_with_the_reason():
    with pytest.raises(CostError, match="dropped the imaginary part"):
        run("maxpool", method="complex", engine="python")


@pytest.mark.parametrize("name, method", METHODS)
def test_a_planted_mistake_is_found_in_its_input(name, method):
    mistake, wrong = PLANTED[name]
    res = run(name, mistake, method=method, engine="python")
    assert not res.passed and res.verdict == "mistake"
    assert res.suspects == [wrong], str(res)


def test_two_evaluations_per_coordinate_never_a_jacobian():
    layer, inputs, grads, args, _ = vjp_args("conv")
    calls = []

    def counted(inputs, stride, pad):
        calls.append(1)
        return layer(inputs, stride, pad)

    res = fc.check_vjp(counted, inputs, grads, *args, engine="python")
    P = sum(v.size for v in inputs.values())
    # One call to learn the output's shape, two at the inputs as given, the noise
    # line (fastcheck.planning.noise), 2 per coordinate, one at the inputs at the end.
    assert len(calls) == 1 + 3 + NOISE_EVALUATIONS + 2 * P
    assert res.evaluations == 3 + NOISE_EVALUATIONS + 2 * P


# ---- why fastcheck draws its own cotangents ------------------------------------------

@pytest.mark.parametrize("mistake", ["variance", "gamma"])
def test_a_uniform_dout_hides_batchnorm_mistakes_that_drawn_cotangents_find(mistake):
    layer, inputs, _, backward = problem("batchnorm")
    ones = np.ones((5, 4))
    # sum(batchnorm(x)) does not depend on x: the true dx is 0, and so is this wrong one.
    hidden = fc.check_vjp(layer, inputs, backward(ones, mistake=mistake), dout=ones)
    assert hidden.passed and hidden.verdict == "pass", str(hidden)
    assert any("dout is uniform" in note for note in hidden.notes)
    found = fc.check_vjp(layer, inputs, functools.partial(backward, mistake=mistake))
    assert found.suspects == ["x"], str(found)


def test_the_mean_term_mistake_shows_even_with_a_uniform_dout():
    # Dropping -mean(dxhat) leaves dx = gamma / std where the truth is 0: unlike the
    # variance term, it is not hidden by dout = ones (the README says which are).
    layer, inputs, _, backward = problem("batchnorm")
    ones = np.ones((5, 4))
    res = fc.check_vjp(layer, inputs, backward(ones, mistake="mean"), dout=ones)
    assert res.suspects == ["x"]


def test_drawn_cotangents_are_seeded_gaussian_and_each_is_a_check():
    layer, inputs, _, backward = problem("affine")
    seen = []

    def recording(dout):
        seen.append(dout.copy())
        return backward(dout)

    res = fc.check_vjp(layer, inputs, recording, n=3, seed=7)
    assert res.passed
    assert len(seen) == 3
    for draw, dout in enumerate(seen):
        np.testing.assert_array_equal(dout, cotangent([(4, 5)], seed=7, draw=draw)[0])
        assert dout.std() > 0.5 and len(np.unique(dout)) == dout.size
    assert not np.array_equal(seen[0], seen[1])
    again = []
    fc.check_vjp(layer, inputs, lambda d: again.append(d) or backward(d), n=3, seed=7)
    np.testing.assert_array_equal(again[2], seen[2])


def test_the_worst_draw_is_returned_and_named():
    layer, inputs, _, backward = problem("affine")
    calls = []

    def wrong_once(dout):  # right for draws 0 and 2, wrong for draw 1
        calls.append(dout)
        dx, dw, db = backward(dout)
        return dx, dw * (1.1 if len(calls) == 2 else 1.0), db

    res = fc.check_vjp(layer, inputs, wrong_once, n=3)
    assert res.suspects == ["w"]
    note = res.notes[-1]
    assert "draw 1," in note and "cotangent(shapes, seed=0, draw=1)" in note
    assert "the worst of 3 checks" in note and "1 of which failed" in note


def test_the_backward_may_write_into_its_dout():
    def relu_layer(inputs):
        return np.maximum(inputs["x"], 0.0)

    x = np.random.default_rng(3).standard_normal((4, 6))

    def relu_backward(dout):
        dout[x <= 0] = 0.0  # in place, as many course solutions do
        return {"dx": dout}

    assert fc.check_vjp(relu_layer, {"x": x}, relu_backward).passed


# ---- outputs and cotangents: given, scalar, several -----------------------------------

def test_a_given_dout_with_the_gradients_it_gave():
    layer, inputs, _, backward = problem("affine")
    dout = np.random.default_rng(1).standard_normal((4, 5))
    dx, dw, db = backward(dout)
    res = fc.check_vjp(layer, inputs, {"dx": dx, "dw": dw, "db": db}, dout=dout)
    assert res.passed and not res.notes
    assert fc.check_vjp(layer, inputs, (dx, dw, db), dout=dout).passed
    assert fc.check_vjp(layer, inputs, backward, dout=dout).passed
    assert fc.check_vjp(layer, inputs, backward(dout * 2), dout=dout).suspects == ["x", "w", "b"]


@pytest.mark.parametrize("dout", [None, 1.0, np.array(1.0), np.ones(1)])
def test_a_scalar_output_takes_dout_one_or_none(dout):
    layer, inputs, grads, args, _ = vjp_args("softmax")
    assert fc.check_vjp(layer, inputs, grads, *args, dout=dout).passed
    assert fc.check_vjp(layer, inputs, lambda d: (grads[0] * d,), *args, dout=dout).passed


def test_a_scalar_outputs_cotangent_scales_its_gradient():
    layer, inputs, grads, args, _ = vjp_args("softmax")
    assert fc.check_vjp(layer, inputs, (grads[0] * 3,), *args, dout=3.0).passed
    assert not fc.check_vjp(layer, inputs, grads, *args, dout=3.0).passed


def test_several_outputs_take_a_tuple_of_douts():
    layer, inputs, _, backward = problem("lstm")
    rng = np.random.default_rng(2)
    dh, dc = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    grads = dict(zip(["dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"], backward(dh, dc)))
    assert fc.check_vjp(layer, inputs, grads, dout=(dh, dc)).passed
    # The cotangent of next_c matters: without it, dprev_c and the rest are wrong.
    res = fc.check_vjp(layer, inputs, backward(dh, 0 * dc), dout=(dh, dc))
    assert "prev_c" in res.suspects
    # One output (next_h, then next_c counts as cache) is a different layer.
    res = fc.check_vjp(layer, inputs, backward(dh, 0 * dc), dout=dh)
    assert res.passed, str(res)


def test_outputs_must_agree_with_the_layer_and_dout():
    layer, inputs, _, backward = problem("lstm")
    dh = np.ones((3, 5))
    with pytest.raises(OptionError, match="outputs=3 but dout is a tuple of 2"):
        fc.check_vjp(layer, inputs, backward, dout=(dh, dh), outputs=3)
    with pytest.raises(OptionError, match="outputs=2 takes a tuple of 2"):
        fc.check_vjp(layer, inputs, backward, dout=dh, outputs=2)
    with pytest.raises(OptionError, match="outputs=4, so f must return .* at least 4 arrays"):
        fc.check_vjp(layer, inputs, backward, outputs=4)
    affine, ainputs, _, abackward = problem("affine")
    with pytest.raises(OptionError, match="tuple of at least 2"):
        fc.check_vjp(lambda p: affine(p)[0], ainputs, abackward, outputs=2)
    # A tuple dout for a layer of one output: the message is about dout, not f.
    dout = np.ones((4, 5))
    with pytest.raises(OptionError, match=r"dout is a tuple of 2 cotangents, .*pass dout as "
                                          "one array, not a tuple"):
        fc.check_vjp(lambda p: affine(p)[0], ainputs, abackward, dout=(dout, dout))


def test_bad_cotangents_and_grads_are_errors_that_say_what_to_do():
    layer, inputs, _, backward = problem("affine")
    dout = np.ones((4, 5))
    with pytest.raises(OptionError, match="pass that dout"):
        fc.check_vjp(layer, inputs, backward(dout))
    with pytest.raises(OptionError, match=r"dout has shape \(5, 4\) but the output"):
        fc.check_vjp(layer, inputs, backward, dout=dout.T)
    with pytest.raises(OptionError, match="not finite"):
        fc.check_vjp(layer, inputs, backward, dout=dout * np.nan)
    with pytest.raises(OptionError, match="n=2 draws cotangents, but dout is given"):
        fc.check_vjp(layer, inputs, backward, dout=dout, n=2)
    for n in (0, 10**9, 2.0, True):
        with pytest.raises(OptionError, match=r"n must be an integer from 1 to 100 .*got"):
            fc.check_vjp(layer, inputs, backward, n=n)
    with pytest.raises(OptionError, match="seed must be a non-negative integer"):
        fc.check_vjp(layer, inputs, backward, seed=-1)
    with pytest.raises(InputTypeError, match="3 inputs"):
        fc.check_vjp(layer, inputs, lambda d: backward(d)[:2])
    with pytest.raises(CostError, match="output of f is a str"):
        fc.check_vjp(lambda p: "out", inputs, backward)
    with pytest.raises(CostError, match="f raised KeyError at the given inputs"):
        fc.check_vjp(lambda p: p["z"], inputs, backward)


@pytest.mark.parametrize("bad, error, match", [
    ([[1.0, 2.0], [3.0]], InputTypeError, r"inputs\['w'\] is not an array of numbers"),
    (np.array(["a", "b"]), InputTypeError, r"inputs\['w'\] has dtype <U1")])
# (A complex input is checked now, as z.real and z.imag: tests/test_complex_params.py.)
def test_a_bad_input_is_named_before_the_layer_runs(bad, error, match):
    layer, inputs, _, backward = problem("affine")
    calls = []

    def forward(p):
        calls.append(1)
        return layer(p)

    with pytest.raises(error, match=match):
        fc.check_vjp(forward, {**inputs, "w": bad}, backward)
    assert not calls  # named before f could fail on it and be blamed


# ---- only= and exclude= --------------------------------------------------------------

def quadratic(params):
    return float(np.sum(params["a"] ** 2) + np.sum(params["b"] ** 3) + np.sum(params["c"]))


QUAD = {"a": np.arange(1.0, 4.0), "b": np.full((2, 2), 0.5), "c": np.ones(5)}
QUAD_GRADS = {"a": 2 * QUAD["a"], "b": 3 * QUAD["b"] ** 2 * 1.1, "c": np.ones(5)}


def checked(res):
    return {row.name: row.checked for row in res.per_tensor}


@pytest.mark.parametrize("options, counts", [
    ({"only": "a"}, {"a": 3, "b": 0, "c": 0}),
    ({"only": ["a", "c"]}, {"a": 3, "b": 0, "c": 5}),
    ({"exclude": "b"}, {"a": 3, "b": 0, "c": 5}),
    ({"exclude": ("a",), "only": {"a", "b"}}, {"a": 0, "b": 4, "c": 0}),
    ({"only": "c", "sample": 2}, {"a": 0, "b": 0, "c": 2}),
    ({"exclude": "c", "sample": 0.5}, {"a": 2, "b": 2, "c": 0}),
])
def test_check_only_and_exclude_restrict_the_coordinates(options, counts):
    res = fc.check(quadratic, QUAD, QUAD_GRADS, engine="python", **options)
    assert checked(res) == counts
    assert res.passed == (counts["b"] == 0)  # b's gradient is the wrong one
    # Each wrong coordinate of b gets a closer look: 4 points, 2 of them the first
    # pass's J(theta +- h), kept by the Python engine and reused.
    assert res.evaluations == (2 * sum(counts.values()) + 3 + NOISE_EVALUATIONS
                               + 2 * counts["b"])


@pytest.mark.parametrize("options, message", [
    ({"only": "z"}, "only names 'z', which is not a tensor; the tensors are 'a', 'b', 'c'"),
    ({"exclude": ["a", "q", "r"]}, "exclude names 'q', 'r', which are not tensors"),
    ({"exclude": ["a", "b", "c"]}, "exclude= names every tensor"),
    ({"only": "a", "exclude": "a"}, "exclude= drops every tensor only= keeps"),
    ({"only": []}, "only= names no tensor"),
    ({"only": 3}, "only must be a tensor name or an iterable"),
    ({"exclude": [b"a"]}, "exclude takes tensor names"),
    ({"only": "a", "sample": 4}, "asks for 4 coordinates but there are only 3"),
])
def test_check_refuses_bad_only_and_exclude(options, message):
    with pytest.raises(OptionError, match=message):
        fc.check(quadratic, QUAD, QUAD_GRADS, **options)


def test_check_vjp_only_and_exclude():
    layer, inputs, grads, args, _ = vjp_args("conv", mistake=True)  # db is wrong
    res = fc.check_vjp(layer, inputs, grads, *args, only="x", engine="python")
    assert res.passed and checked(res) == {"x": 150, "w": 0, "b": 0}
    res = fc.check_vjp(layer, inputs, grads, *args, exclude=["x"], engine="python")
    assert res.suspects == ["b"] and checked(res) == {"x": 0, "w": 54, "b": 2}
    with pytest.raises(OptionError, match="'db', which is not a tensor; the tensors are 'x'"):
        fc.check_vjp(layer, inputs, grads, *args, only="db")


# ---- in a test suite ------------------------------------------------------------------

def test_assert_vjp_match_passes_and_returns_the_result():
    layer, inputs, grads, args, extra = vjp_args("lstm")
    res = assert_vjp_match(layer, inputs, grads, *args, n=2, **extra)
    assert isinstance(res, fc.CheckResult) and res.passed


def test_assert_vjp_match_fails_with_the_report():
    layer, inputs, grads, args, _ = vjp_args("maxpool", mistake=True)
    with pytest.raises(AssertionError) as failure:
        assert_vjp_match(layer, inputs, grads, *args)
    message = str(failure.value)
    assert "does not match" in message and "wrong gradient in: x" in message
    assert "dout drawn by fastcheck" in message


# ---- compiled (jit=True) -------------------------------------------------------------

@pytest.mark.parametrize("method", ["central", "complex"])
def test_jit_compiles_an_affine_layer(method):
    res = run("affine", jit=True, method=method)
    assert res.engine == "generic" and res.passed, str(res)
    assert run("affine", True, jit=True, method=method).suspects == ["w"]


@pytest.mark.slow  # a cold compile of the four loops takes about a minute here
def test_jit_compiles_a_loop_based_convolution():
    res = run("conv", jit=True)
    assert res.engine == "generic" and res.passed, str(res)
    assert run("conv", True, jit=True).suspects == ["b"]


def test_softmax_layer_with_keepdims_compiles():
    # np.max(x, axis=1, keepdims=True) compiles through fastcheck.compiler.shims.
    res = run("softmax", jit=True)
    assert res.engine == "generic" and res.passed



def test_a_compiled_layer_that_blows_up_numba_stops_within_the_budget(monkeypatch):
    """The Coursera RNN's forward appends tuples holding the parameters dict to a
    list, which sends Numba's type inference into minutes and gigabytes: with
    jit=True check_vjp's generated J compiles under fc.check's budget, and the
    refusal says why (the detail too)."""
    import time

    import coursecode
    from fastcheck.errors import CompileError

    monkeypatch.setenv("FASTCHECK_COMPILE_SECONDS", "3")
    rng = np.random.default_rng(8)
    n_x, n_a, n_y, m, T = 3, 5, 2, 4, 4
    inputs = {"Wax": rng.standard_normal((n_a, n_x)), "Waa": rng.standard_normal((n_a, n_a)),
              "Wya": rng.standard_normal((n_y, n_a)), "ba": rng.standard_normal((n_a, 1)),
              "by": rng.standard_normal(m)}  # a 1-D bias: only a literal dict types
    x, a0 = rng.standard_normal((n_x, m, T)), rng.standard_normal((n_a, m))

    def layer(inputs, x, a0):
        return coursecode.rnn_forward(x, a0, inputs)[0]

    tick = time.perf_counter()
    with pytest.raises(CompileError, match="FASTCHECK_COMPILE_SECONDS") as info:
        fc.check_vjp(layer, inputs, lambda dout: [np.zeros_like(v) for v in inputs.values()],
                     x, a0, jit=True)
    assert time.perf_counter() - tick < 120  # 3 s of CPU, on a loaded machine
    assert info.value.detail

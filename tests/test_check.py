"""fastcheck.check: engines, the result, and every error a user can cause."""

import hashlib
import json

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.compiler import is_cached
from fastcheck.errors import CompileError, CostError, OptionError
from naive import relative_difference_twin

# The running example: W (3, 4), b (3, 1), c () with data X (3, 4).
#   J = sum(sin(W) * X) + 0.5 * sum(b**2) + exp(c)
#   dJ/dW = cos(W) * X,  dJ/db = b,  dJ/dc = exp(c)


def example(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.uniform(-1.5, 1.5, (3, 4)), "b": rng.standard_normal((3, 1)),
              "c": np.array(0.3)}
    X = rng.standard_normal((3, 4))
    return params, X


def exact_grads(params, X):
    """The closed-form gradient, keyed the seed's way."""
    return {"dW": np.cos(params["W"]) * X, "db": params["b"].copy(),
            "dc": np.exp(params["c"])}


def py_cost(params, X):
    """The running example as a Python cost."""
    return float(np.sum(np.sin(params["W"]) * X) + 0.5 * np.sum(params["b"] ** 2)
                 + np.exp(params["c"]))


@fc.jit_cost
def jit_example(theta, X, Y):
    """The running example as a jit cost over theta = [W (12), b (3), c (1)]."""
    W = theta[0:12].reshape((3, 4))
    b = theta[12:15]
    return np.sum(np.sin(W) * X) + 0.5 * np.sum(b * b) + np.exp(theta[15])


@fc.jit_cost
def jit_nan_when_perturbed(theta, X, Y):
    """sum(theta^2), but NaN once theta[1] moves above its value X[0, 0]."""
    if theta[1] > X[0, 0]:
        return np.nan
    return np.sum(theta * theta)


def flat(grads):
    return np.concatenate([np.ravel(grads[k]) for k in ("dW", "db", "dc")])


# -- closed-form derivatives -------------------------------------------------------------

@pytest.mark.parametrize("cost, engine", [(py_cost, "auto"), (py_cost, "python"),
                                          (jit_example, "auto"), (jit_example, "python"),
                                          (jit_example, "generic")])
def test_check_matches_the_closed_form_gradient(cost, engine):
    """Every engine's gradapprox is the analytic gradient to ~1e-9; the check passes."""
    params, X = example()
    grads = exact_grads(params, X)
    # A plain Python cost this small is compiled by "auto" only when it is cached
    # already, and then only if this process holds it (a check this short looks
    # nothing up on disk): either engine then.
    cached = is_cached(py_cost, ["W", "b", "c"], [params[k].shape for k in "Wbc"], (X,))
    res = fc.check(cost, params, grads, X, engine=engine)
    if cost is py_cost and engine == "auto":
        assert res.engine in (("python", "generic") if cached else ("python",))
    else:
        assert res.engine == ("python" if engine == "python" else "generic")
    np.testing.assert_allclose(res.gradapprox_flat, flat(grads), rtol=1e-8, atol=1e-9)
    assert res.difference < 1e-9
    assert res.passed is True


def test_python_and_generic_engines_agree_on_the_same_cost():
    """Same jit cost, same steps: the two engines agree to 1e-12 relative."""
    params, X = example(1)
    grads = exact_grads(params, X)
    a = fc.check(jit_example, params, grads, X, engine="python")
    b = fc.check(jit_example, params, grads, X, engine="generic")
    assert (a.engine, b.engine) == ("python", "generic")
    np.testing.assert_allclose(b.gradapprox_flat, a.gradapprox_flat, rtol=1e-12, atol=0)
    assert relative_difference_twin(a.gradapprox_flat, b.gradapprox_flat) < 1e-12


def test_difference_is_the_seed_formula():
    """res.difference == ||grad - approx|| / (||grad|| + ||approx||), by np.linalg.norm."""
    params, X = example(2)
    grads = exact_grads(params, X)
    grads["dW"] = grads["dW"] * 1.01
    res = fc.check(py_cost, params, grads, X)
    expected = relative_difference_twin(flat(grads), res.gradapprox_flat)
    assert res.difference == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(res.grad_flat, flat(grads))


# -- the result ------------------------------------------------------------------------

def test_result_fields_have_the_params_layout():
    """gradapprox is a dict with params' keys and shapes; the flat vectors are (P,) float64."""
    params, X = example(3)
    grads = exact_grads(params, X)
    res = fc.check(py_cost, params, grads, X)
    assert list(res.gradapprox) == ["W", "b", "c"]
    for name in params:
        assert res.gradapprox[name].shape == np.shape(params[name])
    np.testing.assert_allclose(res.gradapprox["W"], grads["dW"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.gradapprox["c"], grads["dc"], rtol=1e-8)
    for vector in (res.gradapprox_flat, res.grad_flat):
        assert vector.shape == (16,) and vector.dtype == np.float64
    assert isinstance(res.difference, float)


def test_per_tensor_rows_match_an_independent_reduction():
    """Each row's difference, max abs error and worst index, recomputed here per tensor."""
    params, X = example(4)
    grads = exact_grads(params, X)
    grads["dW"][1, 2] += 0.5                               # plant the worst error at W[1, 2]
    grads["db"][2, 0] += 1e-3
    res = fc.check(py_cost, params, grads, X)
    approx = res.gradapprox
    assert [row.name for row in res.per_tensor] == ["W", "b", "c"]
    for row, key in zip(res.per_tensor, ("dW", "db", "dc")):
        name = key[1:]
        g, a = np.asarray(grads[key], dtype=float), approx[name]
        error = np.abs(g - a)
        assert row.shape == np.shape(params[name])
        assert row.difference == pytest.approx(relative_difference_twin(g, a), rel=1e-9)
        assert row.max_abs_error == pytest.approx(error.max(), rel=1e-12)
        worst = np.unravel_index(int(np.argmax(error)), np.shape(g)) if error.ndim else ()
        assert row.worst_index == tuple(int(j) for j in worst)
    assert res.per_tensor[0].worst_index == (1, 2)
    assert res.per_tensor[0].max_abs_error == pytest.approx(0.5, rel=1e-7)
    assert res.per_tensor[1].worst_index == (2, 0)
    assert res.per_tensor[2].worst_index == ()


def test_planted_wrong_gradient_is_named_as_the_suspect():
    """A wrong db makes b "WRONG" and the only suspect; W and c stay "ok"."""
    params, X = example(5)
    grads = exact_grads(params, X)
    grads["db"] = 3.0 * grads["db"]
    res = fc.check(py_cost, params, grads, X)
    assert not res.passed
    status = {row.name: row.status for row in res.per_tensor}
    assert status == {"W": "ok", "b": "WRONG", "c": "ok"}
    assert res.suspects == ["b"]


def test_str_names_every_tensor_and_the_verdict():
    """The report shows the verdict and one line per tensor."""
    params, X = example(6)
    grads = exact_grads(params, X)
    good = str(fc.check(py_cost, params, grads, X))
    grads["dW"] = -grads["dW"]
    bad = str(fc.check(py_cost, params, grads, X))
    assert "PASSED" in good and "FAILED" not in good
    assert "FAILED" in bad and "WRONG" in bad
    for text in (good, bad):
        for name in ("W", "b", "c"):
            assert any(line.split()[:1] == [name] for line in text.splitlines())


def test_to_dict_is_json_serialisable():
    """res.to_dict() goes through json.dumps and keeps the verdict."""
    params, X = example(7)
    grads = exact_grads(params, X)
    grads["db"] = grads["db"] + 1.0
    res = fc.check(py_cost, params, grads, X, eps=1e-6)
    back = json.loads(json.dumps(res.to_dict()))
    assert back["passed"] is False and back["suspects"] == ["b"]
    assert back["difference"] == res.difference
    assert [row["name"] for row in back["per_tensor"]] == ["W", "b", "c"]
    assert back["per_tensor"][0]["shape"] == [3, 4]
    assert back["eps"] == 1e-6


def test_tuple_returning_cost_uses_the_first_element():
    """cost -> (J, cache), as the seed's forward_propagation_n does."""
    params, X = example(8)
    grads = exact_grads(params, X)
    res = fc.check(lambda p, X: (py_cost(p, X), {"cache": 1.0e9}), params, grads, X)
    assert res.passed
    np.testing.assert_allclose(res.gradapprox_flat, flat(grads), rtol=1e-8, atol=1e-9)


# -- cost errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [np.array([1.0, 2.0]), None, "0.5", np.nan, np.inf, -np.inf,
                                   np.array([[np.nan]]), True],
                         ids=["shape2", "None", "string", "nan", "inf", "-inf", "1x1-nan", "bool"])
def test_cost_returning_a_non_scalar_or_non_finite_is_a_cost_error(value):
    """Only a finite real scalar (or an array holding one) is a cost."""
    params, X = example()
    with pytest.raises(CostError):
        fc.check(lambda p, X: value, params, exact_grads(params, X), X)


@pytest.mark.parametrize("shape", [(1, 1), (1,), ()])
def test_cost_returning_an_array_of_one_element_counts_as_that_element(shape):
    """np.sum(..., keepdims=True) or a (1, 1) product: the value is its one element."""
    params, X = example(3)
    grads = exact_grads(params, X)
    res = fc.check(lambda p, X: np.reshape(py_cost(p, X), shape), params, grads, X)
    ref = fc.check(py_cost, params, grads, X, engine="python")
    assert res.passed
    np.testing.assert_array_equal(res.gradapprox_flat, ref.gradapprox_flat)


def test_cost_non_finite_only_when_perturbed_names_the_coordinate():
    """NaN at W[2, 1] + h is reported against W[2, 1]."""
    params, X = example()
    w21 = float(params["W"][2, 1])

    def cost(p, X):
        return np.nan if p["W"][2, 1] > w21 else py_cost(p, X)

    with pytest.raises(CostError, match=r"W\[2, 1\]"):
        fc.check(cost, params, exact_grads(params, X), X)


def test_jit_cost_returning_nan_when_perturbed_is_a_cost_error():
    """The generic engine's NaN check names the coordinate."""
    theta = np.array([0.5, 2.0, -1.0])
    with pytest.raises(CostError, match=r"t\[1\]"):
        fc.check(jit_nan_when_perturbed, {"t": theta}, {"t": 2 * theta}, np.array([[2.0]]))


def test_cost_raising_is_a_cost_error_with_the_original_as_cause():
    """ZeroDivisionError inside the cost -> CostError, chained."""
    params, X = example()

    def cost(p, X):
        return 1 / 0

    with pytest.raises(CostError, match="ZeroDivisionError") as info:
        fc.check(cost, params, exact_grads(params, X), X)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


# -- the caller's arrays are never touched -------------------------------------------------

def fingerprint(arrays):
    """sha256 of the bytes, dtype, shape and flags of every array."""
    return {name: (hashlib.sha256(a.tobytes()).hexdigest(), a.dtype, a.shape,
                   a.flags.c_contiguous, a.flags.f_contiguous, a.flags.writeable,
                   a.flags.owndata)
            for name, a in arrays.items()}


def raising_at_b1(p, X):
    if p["b"][1, 0] != p["b"][1, 0].round(12):            # any perturbation of b[1]
        raise RuntimeError("refuse")
    return py_cost(p, X)


@pytest.mark.parametrize("case", ["pass", "fail", "raise", "jit-pass", "jit-fail", "jit-nan"])
def test_caller_arrays_are_bit_identical_after_the_check(case):
    """params, grads and data come back unchanged, whatever the check's outcome."""
    params, X = example(9)
    params["b"][1, 0] = 0.25                               # exactly representable, round(12)-stable
    params["W"] = np.asfortranarray(params["W"])            # flags must survive too
    grads = exact_grads(params, X)
    if case.endswith("fail"):
        grads["dW"][0, 0] += 1.0
    before = fingerprint({**{"p" + k: v for k, v in params.items()},
                          **{"g" + k: v for k, v in grads.items()}, "X": X})
    if case in ("pass", "fail"):
        res = fc.check(py_cost, params, grads, X)
        assert res.passed is (case == "pass")
    elif case == "raise":
        with pytest.raises(CostError):
            fc.check(raising_at_b1, params, grads, X)
    elif case in ("jit-pass", "jit-fail"):
        res = fc.check(jit_example, params, grads, X)
        assert res.passed is (case == "jit-pass")
    else:
        with pytest.raises(CostError):
            fc.check(jit_nan_when_perturbed, {"t": params["W"]}, {"t": grads["dW"]},
                     np.full((1, 1), params["W"].ravel()[1]))
    after = fingerprint({**{"p" + k: v for k, v in params.items()},
                         **{"g" + k: v for k, v in grads.items()}, "X": X})
    for name in after:
        assert after[name] == before[name], name


def test_cost_writing_into_its_params_gets_a_cost_error():
    """An in-place write into the parameters is caught after the call, as a CostError,
    and the caller's arrays are untouched."""
    params, X = example(10)
    saved = {k: v.copy() for k, v in params.items()}

    def vandal(p, X):
        p["W"][0, 0] = 99.0
        return py_cost(p, X)

    with pytest.raises(CostError, match="wrote into its parameters"):
        fc.check(vandal, params, exact_grads(params, X), X)
    for name in params:
        np.testing.assert_array_equal(params[name], saved[name])


class Net:
    """The natural wrapper: the model keeps the parameter arrays it was last given."""

    def __init__(self, params):
        self.params = params

    def loss(self, X):
        return py_cost(self.params, X)


def test_arrays_a_cost_keeps_stay_usable_after_the_check():
    """``net.params = p`` inside the cost: afterwards the model holds writable arrays with
    theta's values, so the user's next SGD step works (it raised 'assignment destination
    is read-only' when the cost saw read-only views)."""
    params, X = example(11)
    grads = exact_grads(params, X)
    net = Net({k: v.copy() for k, v in params.items()})

    def cost(p, X):
        net.params = p
        return net.loss(X)

    res = fc.check(cost, params, grads, X)
    assert res.passed
    np.testing.assert_allclose(res.gradapprox_flat, flat(grads), rtol=1e-8, atol=1e-9)
    for name, value in params.items():
        np.testing.assert_array_equal(net.params[name], value)
        net.params[name] -= 0.1 * grads["d" + name]          # an SGD step
        np.testing.assert_allclose(net.params[name], value - 0.1 * grads["d" + name])


# -- options ---------------------------------------------------------------------------

def test_generic_engine_compiles_a_python_cost_or_says_which_line_it_cannot():
    """engine="generic" compiles a plain Python cost (the same numbers as Python, to
    rounding); for a cost Numba cannot compile it is a CompileError naming the line."""
    params, X = example()
    grads = exact_grads(params, X)
    compiled = fc.check(py_cost, params, grads, X, engine="generic")
    python = fc.check(py_cost, params, grads, X, engine="python")
    assert compiled.engine == "generic" and compiled.passed
    np.testing.assert_allclose(compiled.gradapprox_flat, python.gradapprox_flat, rtol=1e-7)

    def with_einsum(p, X):
        return (np.einsum("ij,ij,ij", np.sin(p["W"]), X, np.ones_like(X))
                + 0.5 * np.sum(p["b"] ** 2) + np.exp(p["c"]))

    with pytest.raises(CompileError, match=r"test_check.py:\d+: .*einsum"):
        fc.check(with_einsum, params, grads, X, engine="generic")
    res = fc.check(with_einsum, params, grads, X, jit=None, engine="auto")
    assert res.engine == "python" and res.passed


@pytest.mark.parametrize("cost", [py_cost, jit_example], ids=["python", "jit"])
def test_unknown_engine_is_an_option_error(cost):
    """engine="nope" is refused, for any kind of cost."""
    params, X = example()
    with pytest.raises(OptionError, match="nope"):
        fc.check(cost, params, exact_grads(params, X), X, engine="nope")


@pytest.mark.parametrize("threads", [0, -1, True, 1.0, 10_000])
def test_bad_threads_is_an_option_error(threads):
    """threads must be an int from 1 to NUMBA_NUM_THREADS (not a bool or float)."""
    params, X = example()
    with pytest.raises(OptionError, match="threads"):
        fc.check(py_cost, params, exact_grads(params, X), X, threads=threads)


@pytest.mark.parametrize("threshold", [0, 0.0, -1e-7, float("nan"), "1e-7"])
def test_bad_threshold_is_an_option_error(threshold):
    """threshold must be a positive finite number."""
    params, X = example()
    with pytest.raises(OptionError, match="threshold"):
        fc.check(py_cost, params, exact_grads(params, X), X, threshold=threshold)


def test_threshold_decides_passed():
    """passed is difference < threshold, with the threshold the caller gave."""
    params, X = example(12)
    grads = exact_grads(params, X)
    grads["db"] = grads["db"] * (1 + 1e-4)
    loose = fc.check(py_cost, params, grads, X, threshold=1e-3)
    strict = fc.check(py_cost, params, grads, X)
    assert loose.threshold == 1e-3 and strict.threshold == 1e-7
    assert 1e-7 < strict.difference < 1e-3
    assert loose.passed and not strict.passed


# -- dtypes ----------------------------------------------------------------------------

def test_float32_params_are_checked_in_float64_with_a_note():
    """float32 params give the float64 result for the same values, and a note saying so."""
    params, X = example(13)
    params32 = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    params64 = {k: v.astype(np.float64) for k, v in params32.items()}
    res32 = fc.check(py_cost, params32, exact_grads(params64, X), X)
    res64 = fc.check(py_cost, params64, exact_grads(params64, X), X)
    np.testing.assert_allclose(res32.gradapprox_flat, res64.gradapprox_flat, rtol=1e-12, atol=0)
    assert res32.difference == pytest.approx(res64.difference, rel=1e-6, abs=1e-15)
    assert res32.passed
    assert any("float64" in note for note in res32.notes)
    assert res64.notes == []


def test_int_params_are_promoted_to_float():
    """Integer params are checked as floats: the cost sees float64, the steps are real."""
    params = {"w": np.array([1, -2, 3]), "k": 2}
    seen = set()

    def cost(p):
        seen.update(str(v.dtype) for v in p.values())
        return float(np.sum(p["w"] ** 3) / 3.0 + p["k"] ** 2)

    res = fc.check(cost, params, {"w": np.array([1, 4, 9]), "k": 4})
    assert seen == {"float64"}
    np.testing.assert_allclose(res.gradapprox["w"], [1.0, 4.0, 9.0], rtol=1e-9)
    assert float(res.gradapprox["k"]) == pytest.approx(4.0, rel=1e-9)
    assert res.passed

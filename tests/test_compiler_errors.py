"""What fastcheck.compiler says about costs and arguments Numba cannot take.

Every failure is a CompileError whose one-line message names the user's file,
line and source text, and the cause; Numba's own text stays as ``detail``, not
chained (an uncaught error prints one message, not Numba's traceback).
"""

import inspect

import numpy as np
import pytest

from fastcheck.compiler import compile_cost
from fastcheck.errors import CompileError, SignatureError

import usercosts as u


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("fastcheck-cache")))
        yield


def line_of(func, text):
    """The line number of the first line of ``func`` containing ``text``."""
    lines, first = inspect.getsourcelines(func)
    return first + next(i for i, line in enumerate(lines) if text in line)


def assert_names_line(exc, func, text, cause):
    message = str(exc)
    assert "\n" not in message and "nopython" not in message
    assert f"usercosts.py:{line_of(func, text)}: " in message
    assert text in message
    assert cause in message


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))


@pytest.mark.parametrize("func, text, cause", [
    (u.bad_einsum, "np.einsum('ij,jk', params[\"W\"], X)", "Numba cannot compile np.einsum"),
    (u.bad_generator, "sum(float(z) ** 2 for z in Z.ravel())", "generator"),
    (u.bad_object, "LAYER.forward(", "LAYER is a usercosts.Layer"),
    (u.bad_library, "scipy.special.expit(", "Numba cannot compile scipy.special.expit"),
])
def test_unsupported_construct(func, text, cause):
    with pytest.raises(CompileError) as info:
        compile_cost(func, ["W"], [(2, 3)], (X,))
    assert_names_line(info.value, func, text, cause)
    assert isinstance(info.value, SignatureError)
    assert "nopython" in info.value.detail  # Numba's full text, kept
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_key_computed_at_run_time_with_mixed_ndims():
    names, shapes = ["W1", "b1", "W2", "b2"], [(3, 3), (3,), (2, 3), (2,)]
    with pytest.raises(CompileError) as info:
        compile_cost(u.bad_dynamic_key, names, shapes, (X,))
    assert_names_line(info.value, u.bad_dynamic_key, 'params["W" + str(l)]',
                      "computed at run time")
    assert "W1 2-D, b1 1-D" in str(info.value)


@pytest.mark.parametrize("extra, cause", [
    ([X, X[:1]], "is a list that is not of numbers or of arrays of one shape"),
    ("labels.csv", "is a str"),
    (X.astype(np.complex128), "complex128 array"),
    ({"a": "text"}, "['a'] is a str"),
    ({"a": {"b": 1}}, "is a dict inside a dict"),
])
def test_argument_of_an_unsupported_kind(extra, cause):
    with pytest.raises(CompileError) as info:
        compile_cost(u.any_args, ["W"], [(2, 3)], (X, extra))
    assert_names_line(info.value, u.any_args, "def any_args(params, X, extra):", cause)
    assert "argument 'extra'" in str(info.value)


def test_wrong_number_of_arguments():
    with pytest.raises(CompileError, match="takes params and then \\(X, extra\\)"):
        compile_cost(u.any_args, ["W"], [(2, 3)], (X,))


def test_not_a_function():
    with pytest.raises(CompileError, match="not a plain Python function"):
        compile_cost(u.LAYER.forward, ["W"], [(2, 3)], (X,))


def test_comparison_cannot_run_complex():
    """A cost that compares its values compiles in real arithmetic, not in complex."""
    W = RNG.standard_normal((2, 3))
    real = compile_cost(u.relu_compare, ["W"], [(2, 3)], (X,))
    assert real.function(W.ravel(), real.fdata, real.idata) == pytest.approx(
        u.relu_compare({"W": W}, X), rel=1e-12)
    with pytest.raises(CompileError) as info:
        compile_cost(u.relu_compare, ["W"], [(2, 3)], (X,), complex_step=True)
    assert_names_line(info.value, u.relu_compare, "np.where(Z > 0, Z, 0.0)",
                      "gt(complex128, Literal[int](0)); this cost cannot run in complex")

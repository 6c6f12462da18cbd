"""fastcheck.compiler.shims against NumPy itself, on random shapes, dtypes and axes.

Each shim is called from a small Numba function with its ``axis``/``keepdims``
written as constants, the way user code writes them; the reference is the
NumPy function of the same name on the same array. Shapes and dtypes must be
NumPy's exactly, integer values exactly, float values to rounding (a loop sum
against NumPy's pairwise one).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from fastcheck.compiler import shims

#: Each draw of a new (axis, keepdims, dtype, ndim) compiles; keep the count modest.
EXAMPLES = 6
DTYPES = [np.float64, np.float32, np.int64, np.int32, np.bool_]
_COMPILED = {}


def compiled(call, wrap=True):
    """A Numba function ``f(x)`` returning ``call`` (source text over ``x`` and ``shims``),
    wrapped in ``np.asarray`` so that a scalar keeps the dtype it has in compiled code
    (returned to Python it would become a Python float or int)."""
    if (call, wrap) not in _COMPILED:
        scope = {"shims": shims, "np": np}
        body = f"np.asarray({call})" if wrap else call
        exec(f"def f(x):\n    return {body}\n", scope)  # noqa: S102 (test's own text)
        _COMPILED[call, wrap] = njit(fastmath=False)(scope["f"])
    return _COMPILED[call, wrap]


@st.composite
def arrays(draw, dtypes=DTYPES, min_side=1):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(min_side, 4), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**16))
    values = np.random.default_rng(seed).standard_normal(shape) * 10
    array = values.astype(dtype) if dtype is not np.bool_ else values > 0
    if draw(st.booleans()) and ndim > 1:
        array = array.T  # a non-contiguous view, as x.T in user code
    return array


def assert_same(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if expected.dtype.kind == "f":
        rtol = 1e-5 if expected.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * 1e-3)
    else:
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=EXAMPLES * 2)
@given(st.sampled_from(["sum", "max", "min", "mean", "var", "std", "argmax"]),
       arrays(), st.data())
def test_reductions_match_numpy(name, x, data):
    axis = data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
    keepdims = data.draw(st.booleans())
    if name in ("var", "std") and x.dtype == np.bool_:
        x = x.astype(np.int64)  # NumPy refuses to subtract booleans
    call = f"shims.{name}(x, axis={axis}, keepdims={keepdims})"
    assert_same(compiled(call)(x), getattr(np, name)(x, axis=axis, keepdims=keepdims))


@settings(max_examples=EXAMPLES)
@given(st.sampled_from(["var", "std"]), arrays(dtypes=[np.float64]), st.data())
def test_ddof_matches_numpy(name, x, data):
    axis = data.draw(st.sampled_from([None, 0, -1]))
    if (x.size if axis is None else x.shape[axis]) < 2:
        x = np.concatenate([x, x], axis=axis or 0)
    call = f"shims.{name}(x, axis={axis}, ddof=1)"
    assert_same(compiled(call)(x), getattr(np, name)(x, axis=axis, ddof=1))


@settings(max_examples=EXAMPLES)
@given(arrays(dtypes=[np.float64, np.float32]), st.data())
def test_norm_matches_numpy(x, data):
    axis = data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
    keepdims = data.draw(st.booleans())
    call = f"shims.norm(x, axis={axis}, keepdims={keepdims})"
    assert_same(compiled(call)(x), np.linalg.norm(
        x if axis is not None else x.ravel(), axis=axis, keepdims=keepdims)
        if axis is not None or not keepdims else np.linalg.norm(x, keepdims=True)
        if x.ndim <= 2 else np.linalg.norm(x.ravel()).reshape((1,) * x.ndim))


@settings(max_examples=EXAMPLES)
@given(arrays(dtypes=[np.float64, np.int64, np.float32]), st.data())
def test_pad_matches_numpy(x, data):
    ndim = x.ndim
    form = data.draw(st.sampled_from(["int", "pair", "per_axis"]))
    widths = [(data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(ndim)]
    width = {"int": widths[0][0], "pair": widths[0], "per_axis": tuple(widths)}[form]
    values = data.draw(st.sampled_from(["0", "3", "(1, -2)"]))
    call = f"shims.pad(x, {width!r}, mode='constant', constant_values={values})"
    expected = np.pad(x, width, mode="constant", constant_values=eval(values))  # noqa: S307
    assert_same(compiled(call)(x), expected)


def test_pad_width_from_variables_as_the_course_writes_it():
    @njit
    def zero_pad(X, pad):
        return shims.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant",
                         constant_values=(0, 0))

    x = np.random.default_rng(1).standard_normal((2, 3, 3, 2))
    expected = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="constant",
                      constant_values=(0, 0))
    assert_same(zero_pad(x, 2), expected)
    with pytest.raises(ValueError, match="negative"):
        zero_pad(x, -1)


@settings(max_examples=EXAMPLES)
@given(arrays(dtypes=[np.float64, np.int64]), st.data())
def test_squeeze_with_axis_matches_numpy(x, data):
    ones = [d for d in range(x.ndim) if x.shape[d] == 1]
    x = x.reshape(x.shape + (1,)) if not ones else x
    ones = ones or [x.ndim - 1]
    axis = data.draw(st.sampled_from(ones))
    assert_same(compiled(f"shims.squeeze(x, axis={axis})")(x), np.squeeze(x, axis=axis))


@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1), ()])
def test_squeeze_of_one_element_matches_numpy(shape):
    x = np.full(shape, 2.5)
    assert_same(compiled("shims.squeeze(x)")(x), np.squeeze(x))


def test_squeeze_of_a_number_and_of_many_elements():
    assert_same(compiled("shims.squeeze(x.sum())")(np.ones((2, 2))), np.squeeze(4.0))
    with pytest.raises(ValueError, match="one element"):
        compiled("shims.squeeze(x)")(np.ones((1, 3)))
    with pytest.raises(ValueError, match="size not equal to one"):
        compiled("shims.squeeze(x, axis=1)")(np.ones((1, 3)))


@pytest.mark.parametrize("x", [np.array(1.5), np.array([[-2.0]]), np.array([7]), 3])
def test_float_of_one_element(x):
    got = compiled("shims.to_float(x)", wrap=False)(x)
    assert type(got) is float and got == np.asarray(x).item()


def test_float_of_many_elements_refused():
    with pytest.raises(TypeError, match="one element"):
        compiled("shims.to_float(x)", wrap=False)(np.ones(2))


def test_sum_keeps_what_numba_compiled_before_the_shim():
    """An axis computed at run time and ``dtype=``: Numba's own np.sum, unchanged."""
    @njit
    def sums(x, axis):
        return shims.sum(x, axis=axis), shims.sum(x, dtype=np.float32)

    x = np.random.default_rng(2).standard_normal((3, 4))
    by_axis, as_float32 = sums(x, 1)
    assert_same(by_axis, np.sum(x, axis=1))
    assert as_float32 == pytest.approx(float(np.sum(x, dtype=np.float32)), rel=1e-6)


def test_a_variable_keepdims_is_refused_with_the_reason():
    from numba.core.errors import TypingError

    @njit
    def kept(x, flag):
        return shims.max(x, axis=0, keepdims=flag)

    with pytest.raises(TypingError, match="keepdims= as a constant"):
        kept(np.ones((2, 2)), True)

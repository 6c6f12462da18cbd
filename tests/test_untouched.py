"""Nothing of the caller's changes: params, grads and data are bit-identical after
any check, whether it passes, fails or raises.

Hypothesis draws the shapes, the values and the way each array is held (C or
Fortran order, a strided view of a bigger buffer, negative strides, read-only,
float32 or integer dtype), for the python engine (a Python cost), the generic
engine (a jit cost), the layered and generic engines on a built-in model,
``check_directions`` and ``naive_check``. A fingerprint records every array's
bytes (sha256), dtype, shape, strides, flags and the bytes of the buffer a
view looks into, and each mapping's keys, order and value objects.
"""

import hashlib
import math

import numba
import numpy as np
import pytest
from hypothesis import given, note, strategies as st
from hypothesis.extra import numpy as hnp

import fastcheck as fc
from fastcheck.errors import CostError, DataError, FastcheckError
from fastcheck.models import MLP

LAYOUTS = ("C", "F", "strided", "negative", "readonly", "strided-readonly")
DTYPES = ("float64", "float32", "int64")


def hold(values, layout, dtype):
    """``values`` as an array of ``dtype`` held the way ``layout`` says."""
    a = np.asarray(values, dtype=np.float64)
    if dtype == "int64":
        a = np.round(a)
    a = np.array(a, dtype=dtype)
    if layout == "F" and a.ndim:                      # asfortranarray makes 0-d 1-d
        return np.asfortranarray(a)
    if layout in ("strided", "strided-readonly") and a.ndim:
        big = np.full(tuple(2 * n + 1 for n in a.shape), 99, dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        a = view
    if layout == "negative" and a.ndim:
        a = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
        a = a[(slice(None, None, -1),) * a.ndim]
    if layout in ("readonly", "strided-readonly"):
        a.flags.writeable = False
    return a


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def fingerprint(value):
    """Everything observable about one value, to compare before and after."""
    if not isinstance(value, np.ndarray):
        return ("object", type(value).__name__, repr(value))
    base = value.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return ("array", _sha(value), value.dtype.str, value.shape, value.strides,
            value.flags.writeable, value.flags.c_contiguous, value.flags.f_contiguous,
            value.flags.owndata, _sha(base) if isinstance(base, np.ndarray) else None)


def snapshot(*things):
    """Fingerprints of mappings (keys, order, value identity and contents) and arrays."""
    out = []
    for thing in things:
        if isinstance(thing, dict):
            out.append(("dict", list(thing), [id(v) for v in thing.values()],
                        [fingerprint(v) for v in thing.values()]))
        else:
            out.append(fingerprint(thing))
    return out


def run_and_compare(call, *things):
    """Run ``call``; the fingerprints of ``things`` must not change, raise or not.

    Returns the result, or the fastcheck error the call raised.
    """
    before = snapshot(*things)
    try:
        outcome = call()
    except FastcheckError as exc:
        outcome = exc
    after = snapshot(*things)
    assert after == before
    return outcome


layouts = st.sampled_from(LAYOUTS)
finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def tensors(draw, max_tensors=3):
    """(values dict of float64 arrays, params dict as held, names)."""
    count = draw(st.integers(1, max_tensors))
    values, held = {}, {}
    for k in range(count):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        v = draw(hnp.arrays(np.float64, shape, elements=finite))
        dtype = draw(st.sampled_from(DTYPES))
        held[f"p{k}"] = hold(v, draw(layouts), dtype)
        # The values the check sees are those of the held array, as float64.
        values[f"p{k}"] = np.asarray(held[f"p{k}"], dtype=np.float64)
    return values, held


def held_grads(draw, values, outcome, dtypes=("float64", "float32")):
    """Gradients w cos(p) (of J = w sum sin(p)), wrong ones for "fail", held any way."""
    grads = {}
    for name, v in values.items():
        g = np.cos(v) * WEIGHT
        if outcome == "fail":
            g = 2.0 * g + 0.5
        grads["d" + name] = hold(g, draw(layouts), draw(st.sampled_from(dtypes)))
    return grads


# -- the python engine --------------------------------------------------------------------

WEIGHT = 1.25


def python_cost_factory(raise_at=None):
    """J = w * sum_k sum(sin(p_k)), w = mean(X) (X is WEIGHT everywhere), raising at
    evaluation number ``raise_at`` if given."""
    calls = [0]

    def cost(p, X):
        calls[0] += 1
        if raise_at is not None and calls[0] >= raise_at:
            raise RuntimeError("the forward pass broke")
        return float(np.mean(X) * sum(np.sum(np.sin(v)) for v in p.values()))
    return cost


@given(data=st.data(), drawn=tensors(), outcome=st.sampled_from(("pass", "fail", "raise")),
       x_layout=layouts, method=st.sampled_from(("central", "richardson")))
def test_python_engine_leaves_every_input_untouched(data, drawn, outcome, x_layout, method):
    values, params = drawn
    grads = held_grads(data.draw, values, outcome)
    grads["dZ_extra"] = hold(np.arange(6.0).reshape(2, 3), data.draw(layouts), "float64")
    X = hold(np.full((2, 3), WEIGHT), x_layout, "float64")
    P = sum(v.size for v in values.values())
    raise_at = data.draw(st.integers(1, 2 * P + 1)) if outcome == "raise" else None
    res = run_and_compare(
        lambda: fc.check(python_cost_factory(raise_at), params, grads, X, method=method),
        params, grads, X)
    if outcome == "raise":
        assert isinstance(res, CostError) and "RuntimeError" in str(res)
    else:
        assert res.passed is (outcome == "pass"), str(res)


# -- the generic engine --------------------------------------------------------------------

@fc.jit_cost
def jit_weighted_sin(theta, X, Y):
    """J = sum_i sin(theta_i) * (X[0, i] - 0.5 X[1, i]); raises once theta[i] > limit,
    (limit, i) = Y[0], if Y is not empty."""
    if Y.shape[1] == 2 and theta[int(Y[0, 1])].real > Y[0, 0]:
        raise ValueError("cost undefined here")
    total = 0.0
    for i in range(theta.shape[0]):
        total += np.sin(theta[i]) * (X[0, i] - 0.5 * X[1, i])
    return total


@given(data=st.data(), drawn=tensors(), outcome=st.sampled_from(("pass", "fail", "raise")),
       x_layout=layouts, threads=st.sampled_from((1, 2)),
       method=st.sampled_from(("central", "richardson", "complex")))
def test_generic_engine_leaves_every_input_untouched(data, drawn, outcome, x_layout, threads,
                                                     method):
    values, params = drawn
    theta = np.concatenate([v.ravel() for v in values.values()])
    P = theta.size
    Xv = data.draw(hnp.arrays(np.float64, (2, P), elements=finite))
    X = hold(Xv, x_layout, "float64")
    Xf = np.asarray(X, dtype=np.float64)
    weights = Xf[0] - 0.5 * Xf[1]
    grads, start = {}, 0
    for name, v in values.items():
        g = (np.cos(v.ravel()) * weights[start:start + v.size]).reshape(v.shape)
        start += v.size
        if outcome == "fail":
            g = g + 1.0
        grads["d" + name] = hold(g, data.draw(layouts), "float64")
    args = (params, grads, X)
    if outcome == "raise":
        i = data.draw(st.integers(0, P - 1))
        Y = hold(np.array([[theta[i], float(i)]]), data.draw(layouts), "float64")
        args += (Y,)
    threads = min(threads, numba.config.NUMBA_NUM_THREADS)
    res = run_and_compare(lambda: fc.check(jit_weighted_sin, *args, method=method,
                                           threads=threads), *args)
    if outcome == "raise" and method != "complex":
        assert isinstance(res, CostError), res
    elif outcome == "raise":
        # The complex step moves only the imaginary part: theta[i] > limit stays false,
        # unless a closer look probes the coordinate with real steps: then the cost's
        # error names it.
        assert (isinstance(res, CostError) and "perturbed by" in str(res)) \
            or correct_judged(res), str(res)
    elif outcome == "pass":
        assert correct_judged(res), str(res)
    else:
        assert not res.passed, str(res)


def correct_judged(res):
    """A correct gradient passes, or, when X draws weights so small that the
    gradient is below what the check can detect (2.9e-10 against 3.7e-9 found by
    shrinking), is ``unsure``: never blamed."""
    return res.passed or (res.verdict == "unsure" and not res.suspects)


# -- built-in models: layered and generic engines ------------------------------------------

HEADS = (("sigmoid", "bce"), ("softmax", "ce"), ("linear", "mse"))


@st.composite
def models(draw):
    sizes = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    hidden = [draw(st.sampled_from(("relu", "leaky_relu", "tanh", "sigmoid", "linear")))
              for _ in sizes[2:]]
    output, loss = draw(st.sampled_from(HEADS))
    return MLP(sizes, hidden=hidden, output=output, loss=loss,
               l2=draw(st.sampled_from((0.0, 0.7))))


def targets(model, m, rng):
    n_out = int(model.sizes[-1])
    if model.loss == "bce":
        return rng.integers(0, 2, size=(n_out, m)).astype(float)
    if model.loss == "ce":
        return rng.integers(0, n_out, size=m)
    return rng.normal(size=(n_out, m))


@given(data=st.data(), model=models(), m=st.integers(1, 5), seed=st.integers(0, 2 ** 16),
       outcome=st.sampled_from(("pass", "fail", "raise")),
       engine=st.sampled_from(("layered", "generic")),
       method=st.sampled_from(("central", "richardson", "complex")))
def test_model_engines_leave_every_input_untouched(data, model, m, seed, outcome, engine,
                                                   method):
    rng = np.random.default_rng(seed)
    values = model.init_params(seed=seed)
    params = {k: hold(v, data.draw(layouts), data.draw(st.sampled_from(("float64", "float32"))))
              for k, v in values.items()}
    Xv = rng.normal(size=(int(model.sizes[0]), m))
    Yv = targets(model, m, rng)
    exact = model.backward(params, Xv, Yv)
    grads = {k: hold(v * (3.0 if outcome == "fail" else 1.0) + (0.1 if outcome == "fail"
                                                                 else 0.0),
                     data.draw(layouts), "float64") for k, v in exact.items()}
    X = hold(Xv, data.draw(layouts), data.draw(st.sampled_from(("float64", "float32"))))
    if outcome == "raise":
        # Targets out of range: refused after params and grads were read and flattened.
        Yv = np.full(m, int(model.sizes[-1])) if model.loss == "ce" else np.full_like(
            np.asarray(Yv, dtype=float), 2.0 if model.loss == "bce" else np.nan)
    Y = Yv if np.ndim(Yv) == 1 else hold(Yv, data.draw(layouts), "float64")
    note(f"{model!r}, m={m}, engine={engine}, method={method}")
    res = run_and_compare(lambda: fc.check(model, params, grads, X, Y, engine=engine,
                                           method=method), params, grads, X, Y)
    if outcome == "raise":
        assert isinstance(res, DataError), res
    elif outcome == "fail":
        assert not res.passed, str(res)
    else:
        assert not isinstance(res, Exception), res


# -- check_directions and naive_check ------------------------------------------------------

@given(data=st.data(), drawn=tensors(), outcome=st.sampled_from(("pass", "fail", "raise")),
       x_layout=layouts, n=st.integers(1, 6), seed=st.integers(0, 1000))
def test_check_directions_leaves_every_input_untouched(data, drawn, outcome, x_layout, n,
                                                       seed):
    values, params = drawn
    grads = held_grads(data.draw, values, outcome, dtypes=("float64",))
    X = hold(np.full((2, 3), WEIGHT), x_layout, "float64")
    raise_at = data.draw(st.integers(1, 2 * n + 1)) if outcome == "raise" else None
    # A direction nearly orthogonal to the gradient has a tiny grad . v, whose estimate
    # carries the cost's rounding: the threshold leaves room for it (the point here is
    # the inputs, not the verdict).
    res = run_and_compare(
        lambda: fc.check_directions(python_cost_factory(raise_at), params, grads, X, n=n,
                                    seed=seed, threshold=1e-5),
        params, grads, X)
    if outcome == "raise":
        assert isinstance(res, CostError)
    elif outcome == "pass":
        assert res.passed, str(res)


@given(data=st.data(), drawn=tensors(max_tensors=2),
       outcome=st.sampled_from(("pass", "fail", "raise")), x_layout=layouts,
       compiled=st.booleans())
def test_naive_check_leaves_every_input_untouched(data, drawn, outcome, x_layout, compiled):
    values, params = drawn
    P = sum(v.size for v in values.values())
    if compiled:
        X = hold(np.vstack([np.full(P, WEIGHT), np.zeros(P)]), x_layout, "float64")
        cost, args = jit_weighted_sin, (X,)
        if outcome == "raise":
            theta = np.concatenate([v.ravel() for v in values.values()])
            i = data.draw(st.integers(0, P - 1))
            args += (hold(np.array([[theta[i], float(i)]]), data.draw(layouts), "float64"),)
    else:
        X = hold(np.full((2, 3), WEIGHT), x_layout, "float64")
        raise_at = data.draw(st.integers(1, 2 * P + 1)) if outcome == "raise" else None
        cost, args = python_cost_factory(raise_at), (X,)
    grads = held_grads(data.draw, values, outcome, dtypes=("float64",))
    res = run_and_compare(lambda: fc.naive_check(cost, params, grads, *args, eps=1e-6),
                          params, grads, *args)
    if outcome == "raise":
        assert isinstance(res, CostError)
    else:
        assert math.isfinite(res.difference)
        assert res.passed is (outcome == "pass"), str(res)


def test_fingerprint_sees_a_change_in_a_strided_views_gaps():
    """The fingerprint is sharp: a write into the hidden gap of a strided view shows."""
    view = hold(np.arange(6.0).reshape(2, 3), "strided", "float64")
    before = snapshot(view)
    view.base[0, 0] = -1.0                              # outside the view's elements
    assert snapshot(view) != before
    flags = hold(np.arange(3.0), "C", "float64")
    before = snapshot(flags)
    flags.flags.writeable = False
    assert snapshot(flags) != before
    mapping = {"a": flags}
    before = snapshot(mapping)
    mapping["a"] = flags.copy()
    assert snapshot(mapping) != before


@pytest.mark.parametrize("engine", ["layered", "generic"])
def test_a_model_check_that_passes_with_read_only_fortran_inputs(engine):
    """A fixed example of the property above, readable without hypothesis."""
    model = MLP([3, 4, 2], hidden="relu", output="softmax", loss="ce", l2=0.7)
    params = {k: hold(v, "strided-readonly", "float64")
              for k, v in model.init_params(seed=1).items()}
    X = hold(np.random.default_rng(2).normal(size=(3, 5)), "F", "float32")
    Y = np.array([0, 1, 1, 0, 1])
    grads = {k: hold(v, "negative", "float64") for k, v in model.backward(params, X, Y).items()}
    res = run_and_compare(lambda: fc.check(model, params, grads, X, Y, engine=engine),
                          params, grads, X, Y)
    assert res.passed, str(res)

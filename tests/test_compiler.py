"""fastcheck.compiler on costs written the way users write them.

The reference is always the user's Python cost itself, run on views of the
same theta: the compiled value must equal it to 1e-12 relative.
"""

import numpy as np
import pytest

from fastcheck.compiler import compile_cost, is_cached
from fastcheck.compiler.returns import to_cost
from fastcheck.app.exercises import gradient_check_n_test_case

import usercosts as u

RTOL = 1e-12


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("fastcheck-cache")
        mp.setenv("FASTCHECK_CACHE_DIR", str(path))
        yield path


def views(theta, names, shapes):
    params, offset = {}, 0
    for name, shape in zip(names, shapes):
        size = int(np.prod(shape))
        params[name] = theta[offset:offset + size].reshape(shape)
        offset += size
    return params


def python_value(func, names, shapes, theta, args):
    return float(to_cost(func(views(theta, names, shapes), *args)))


def random_params(rng, spec):
    names = list(spec)
    shapes = [spec[n] for n in names]
    theta = rng.standard_normal(sum(int(np.prod(s)) for s in shapes))
    return names, shapes, theta


class Case:
    """A compiled user cost with its layout and data, checked at several thetas."""

    def __init__(self, func, names, shapes, theta, args, **options):
        self.func, self.names, self.shapes, self.theta, self.args = func, names, shapes, theta, args
        self.cc = compile_cost(func, names, shapes, args, **options)

    def assert_matches(self, theta=None, args=None, fdata=None, idata=None):
        theta = self.theta if theta is None else theta
        args = self.args if args is None else args
        fdata = self.cc.fdata if fdata is None else fdata
        idata = self.cc.idata if idata is None else idata
        got = self.cc.function(theta, fdata, idata)
        want = python_value(self.func, self.names, self.shapes, theta, args)
        assert np.isfinite(want)
        assert got == pytest.approx(want, rel=RTOL, abs=0)


@pytest.fixture(scope="module")
def seed():
    x, y, p = gradient_check_n_test_case()
    names = list(p)
    shapes = [p[k].shape for k in names]
    theta = np.concatenate([p[k].ravel() for k in names])
    return Case(u.forward_propagation_n, names, shapes, theta, (x, y))


def test_seed_forward_propagation_n(seed):
    assert seed.args[1].dtype.kind == "i"  # Y = np.array([1, 1, 0]) stays an int array
    seed.assert_matches()
    assert seed.cc.variant == "literal"
    rng = np.random.default_rng(1)
    for _ in range(3):
        seed.assert_matches(theta=seed.theta + 0.1 * rng.standard_normal(seed.theta.size))


def test_seed_public_fields(seed):
    cc = seed.cc
    assert cc.function.nopython_signatures and len(cc.function.nopython_signatures) == 1
    assert str(cc.function.nopython_signatures[0]) == (
        "(Array(float64, 1, 'C', False, aligned=True), Array(float64, 1, 'C', False, "
        "aligned=True), Array(int64, 1, 'C', False, aligned=True)) -> float64")
    assert cc.fdata.dtype == np.float64 and cc.fdata.flags.c_contiguous
    assert cc.idata.dtype == np.int64 and cc.idata.flags.c_contiguous
    assert len(cc.key) == 64 and cc.seconds > 0 and cc.notes == []
    assert is_cached(seed.func, seed.names, seed.shapes, seed.args)


def test_seed_other_batch_reuses_the_compiled_cost(seed):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 7))
    Y = (rng.random(7) > 0.5).astype(np.int32)  # int32: values preserved as int64
    again = compile_cost(seed.func, seed.names, seed.shapes, (X, Y))
    assert again.key == seed.cc.key and again.cached
    fdata, idata = seed.cc.pack((X, Y))
    seed.assert_matches(args=(X, Y), fdata=fdata, idata=idata)


@pytest.mark.parametrize("lambd", [0.0, 0.7])
def test_mlp_keys_built_at_run_time_and_lambda_argument(lambd):
    rng = np.random.default_rng(3)
    names, shapes, theta = random_params(rng, {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5),
                                                "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)})
    X = rng.standard_normal((4, 6))
    Y = (rng.random((1, 6)) > 0.5).astype(np.int64)
    case = Case(u.mlp_l2, names, shapes, theta, (X, Y, lambd))
    assert case.cc.variant == "typed"  # params["W" + str(l)] needs a typed dict
    case.assert_matches()


@pytest.fixture(scope="module")
def mlp_global():
    rng = np.random.default_rng(4)
    names, shapes, theta = random_params(rng, {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5),
                                                "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)})
    X = rng.standard_normal((4, 6))
    Y = (rng.random((1, 6)) > 0.5).astype(float)
    return Case(u.mlp_l2_global, names, shapes, theta, (X, Y))


def test_mlp_lambda_module_global(mlp_global):
    mlp_global.assert_matches()


def test_changed_global_recompiles(mlp_global, monkeypatch):
    monkeypatch.setattr(u, "LAMBD", 0.1)
    case = Case(u.mlp_l2_global, mlp_global.names, mlp_global.shapes, mlp_global.theta,
                mlp_global.args)
    assert case.cc.key != mlp_global.cc.key and not case.cc.cached
    case.assert_matches()
    assert case.cc.function(case.theta, case.cc.fdata, case.cc.idata) != pytest.approx(
        mlp_global.cc.function(case.theta, case.cc.fdata, case.cc.idata), rel=1e-6)


def test_softmax_integer_labels():
    rng = np.random.default_rng(5)
    names, shapes, theta = random_params(rng, {"W": (4, 3), "b": (4,)})
    X = rng.standard_normal((3, 8))
    y = rng.integers(0, 4, size=8)
    case = Case(u.softmax_cost, names, shapes, theta, (X, y))
    assert case.cc.variant == "literal"
    case.assert_matches()


def test_cnn_on_a_4d_batch_with_float32_images():
    rng = np.random.default_rng(6)
    names, shapes, theta = random_params(rng, {"K": (2, 3, 3, 3), "c": (2,), "V": (3, 8),
                                                "d": (3,)})
    images = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    labels = np.array([2, 0], dtype=np.int32)
    case = Case(u.cnn_cost, names, shapes, theta, (images, labels))
    assert case.cc.notes == ["extra argument 1 is a float32 array; the compiled cost "
                             "computes in float64"]
    # The honest reference for float32 data computed in float64:
    float64_args = (images.astype(np.float64), labels)
    case.assert_matches(args=float64_args)


def test_lstm_unrolled():
    rng = np.random.default_rng(7)
    n_h, n_x = 3, 2
    names, shapes, theta = random_params(rng, {g: (n_h, n_h + n_x) for g in
                                               ("Wf", "Wi", "Wo", "Wc")})
    xs = rng.standard_normal((4, n_x))
    target = rng.standard_normal(n_h)
    Case(u.lstm_cost, names, shapes, theta, (xs, target)).assert_matches()


def test_closure_cost():
    rng = np.random.default_rng(8)
    names, shapes, theta = random_params(rng, {"W": (2, 3)})
    X = rng.standard_normal((3, 5))
    first = Case(u.make_closure_cost(0.5), names, shapes, theta, (X,))
    first.assert_matches()
    # Another closure value is another key: cells are frozen like globals.
    second = Case(u.make_closure_cost(2.0), names, shapes, theta, (X,))
    assert second.cc.key != first.cc.key
    second.assert_matches()


def test_helpers_from_another_module_and_njit_helpers():
    rng = np.random.default_rng(14)
    names, shapes, theta = random_params(rng, {"W": (2, 3)})
    X = rng.standard_normal((3, 5))
    Case(u.cross_module_cost, names, shapes, theta, (X,)).assert_matches()


def test_cost_returning_a_1x1_array():
    rng = np.random.default_rng(9)
    names, shapes, theta = random_params(rng, {"w": (3, 1)})
    X = rng.standard_normal((3, 4))
    case = Case(u.cost_11, names, shapes, theta, (X,))
    assert np.shape(u.cost_11(views(theta, names, shapes), X)) == (1, 1)
    case.assert_matches()


def test_cost_returning_a_tuple_and_scalar_arguments():
    rng = np.random.default_rng(10)
    names, shapes, theta = random_params(rng, {"W": (2, 3)})
    X = rng.standard_normal((3, 4))
    Case(u.cost_tuple, names, shapes, theta, (X,)).assert_matches()


@pytest.mark.parametrize("square", [False, True])
def test_scalar_bool_none_and_bool_array_arguments(square):
    rng = np.random.default_rng(13)
    names, shapes, theta = random_params(rng, {"W": (3, 4)})
    X = rng.standard_normal((4, 6))
    args = (X, 5, 1.5, square, None, np.array([True, False, True]))
    Case(u.scalars_cost, names, shapes, theta, args).assert_matches()


def test_flat_form():
    rng = np.random.default_rng(11)
    X, Y = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    case = Case(u.flat_cost, ["W"], [(2, 3)], rng.standard_normal(6), (X, Y), flat=True)
    got = case.cc.function(case.theta, case.cc.fdata, case.cc.idata)
    assert got == pytest.approx(u.flat_cost(case.theta, X, Y), rel=RTOL, abs=0)


def assert_complex_step_matches_central(case, cx, h=1e-20):
    real = case.cc
    for i in range(case.theta.size):
        step = case.theta.astype(np.complex128)
        step[i] += 1j * h
        value = cx.function(step, cx.fdata, cx.idata)
        assert value.real == pytest.approx(real.function(case.theta, real.fdata, real.idata),
                                           rel=RTOL)
        e = np.zeros_like(case.theta)
        e[i] = 1e-6
        central = (real.function(case.theta + e, real.fdata, real.idata)
                   - real.function(case.theta - e, real.fdata, real.idata)) / 2e-6
        assert value.imag / h == pytest.approx(central, rel=1e-6, abs=1e-9)


def test_seed_complex_step_through_relu(seed):
    """np.maximum(0, z) compiles on complex z and orders by the real part first,
    as NumPy does, so the complex step differentiates ReLU away from its kink."""
    cx = compile_cost(seed.func, seed.names, seed.shapes, seed.args, complex_step=True)
    assert_complex_step_matches_central(seed, cx)


def test_tanh_mlp_complex_step_matches_central_difference():
    rng = np.random.default_rng(12)
    names, shapes, theta = random_params(rng, {"W1": (4, 3), "b1": (4, 1), "W2": (2, 4),
                                                "b2": (2, 1)})
    X, Y = rng.standard_normal((3, 5)), rng.standard_normal((2, 5))
    real = Case(u.tanh_mlp, names, shapes, theta, (X, Y))
    real.assert_matches()
    cx = compile_cost(u.tanh_mlp, names, shapes, (X, Y), complex_step=True)
    assert cx.fdata.dtype == np.complex128 and cx.key != real.cc.key
    assert str(cx.function.nopython_signatures[0]).endswith("-> complex128")
    assert_complex_step_matches_central(real, cx)


def _mean_cost(params, X):
    return np.mean(np.tanh(params["W"] @ X))


def _sum_cost(params, X):
    return np.sum(np.tanh(params["W"] @ X))


def test_costs_compiled_in_separate_children_keep_their_own_code():
    """Each cold compile runs in a fresh interpreter, and this process loads what
    each wrote. Fresh interpreters number Numba's functions alike, and the typing
    shims of np.mean and np.sum share a name: the second cost loaded ran the
    first one's mean (1/10 of the sum over these 10 elements) until every
    process numbered its functions from a random start (runtime.numba_symbols)."""
    rng = np.random.default_rng(21)
    names, shapes, theta = random_params(rng, {"W": (2, 3)})
    X = rng.standard_normal((3, 5))
    for func in (_mean_cost, _sum_cost):
        case = Case(func, names, shapes, theta, (X,))
        assert not case.cc.cached
        case.assert_matches()

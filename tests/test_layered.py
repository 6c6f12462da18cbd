"""The layered engine against the generic engine: every model combination of
the models issue, both methods it shares with it, and the work it skips; its
grouped kernels against their pieces' libm forms and the per-coordinate path."""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.kernels import layered as K
from fastcheck.kernels import layered_coordinate as C
from fastcheck.kernels import layered_loss as LL
from fastcheck.kernels.mlp import BCE, CE, MSE, layer_offsets
from fastcheck.engines.layered import LayeredEngine
from fastcheck.models import MLP
from fastcheck.app.registry import random_problem
from fastcheck.planning.step import default_steps

from test_models import COMBOS


def relative(a, b):
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


@pytest.mark.parametrize("hidden,head,l2", COMBOS)
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_layered_agrees_with_generic_on_every_combination(hidden, head, l2, method):
    """Relative difference of the two engines' gradapprox <= 1e-8, same verdicts,
    for the exact backward and for one with a planted mistake."""
    output, loss = head
    model = MLP([5, 6, 4, 3], hidden=hidden, output=output, loss=loss, l2=l2)
    params, X, Y = random_problem(model, 7, seed=11)
    grads = model.backward(params, X, Y)
    wrong = dict(grads, dW2=grads["dW2"] * 1.5)
    for g in (grads, wrong):
        layered = fc.check(model, params, g, X, Y, method=method)
        generic = fc.check(model, params, g, X, Y, method=method, engine="generic")
        assert layered.engine == "layered" and generic.engine == "generic"
        assert relative(layered.gradapprox_flat, generic.gradapprox_flat) <= 1e-8
        assert layered.verdict == generic.verdict
        assert layered.suspects == generic.suspects


def test_complex_step_agrees_across_engines():
    model = MLP([4, 5, 3, 2], hidden=["relu", "tanh"], output="softmax", loss="ce", l2=0.7)
    params, X, Y = random_problem(model, 6, seed=2)
    grads = model.backward(params, X, Y)
    layered = fc.check(model, params, grads, X, Y, method="complex")
    generic = fc.check(model, params, grads, X, Y, method="complex", engine="generic")
    # No subtraction in either: they agree to rounding, and with the exact gradient.
    assert relative(layered.gradapprox_flat, generic.gradapprox_flat) <= 1e-14
    assert relative(layered.gradapprox_flat, layered.grad_flat) <= 1e-14


def test_units_that_stay_off_and_zero_inputs_change_nothing_downstream():
    """A dead ReLU unit and an all-zero input row: their coordinates' estimates
    are exactly zero (the skipped work is skipped exactly), like the gradient."""
    model = MLP([3, 4, 1], hidden="relu")
    params, X, Y = random_problem(model, 5, seed=3)
    X[1] = 0.0                       # input 1 is zero in every example
    params["b1"][2, 0] = -50.0       # unit 2 is off for every example
    grads = model.backward(params, X, Y)
    res = fc.check(model, params, grads, X, Y)
    assert res.passed
    approx = res.gradapprox
    assert (approx["W1"][:, 1] == 0.0).all() and (grads["dW1"][:, 1] == 0.0).all()
    assert (approx["W1"][2] == 0.0).all() and approx["b1"][2, 0] == 0.0
    assert approx["W2"][0, 2] == 0.0 and grads["dW2"][0, 2] == 0.0


# --- The grouped kernels: their pieces, their flags, and any block of coordinates.



@pytest.mark.parametrize("poly,libm,bound", [
    (LL.expm1_tiny, np.expm1, LL.TINY), (LL.expm1_small, np.expm1, LL.SMALL),
    (LL.log1p_tiny, np.log1p, 1.01 * LL.TINY), (LL.log1p_small, np.log1p, 2 * LL.SMALL)])
def test_polynomial_transcendentals_match_libm_to_rounding(poly, libm, bound):
    x = np.concatenate([np.linspace(-bound, bound, 20001),
                        bound * np.logspace(-12, 0, 2001), -bound * np.logspace(-12, 0, 2001)])
    got = np.array([poly(v) for v in x])
    assert np.all(np.abs(got - libm(x)) <= 4 * np.finfo(float).eps * np.abs(libm(x)))


@pytest.mark.parametrize("loss", [BCE, CE, MSE])
@pytest.mark.parametrize("scale", [1e-6, 3e-3, 0.2])  # the three tiers
def test_loss_differences_match_the_libm_forms(loss, scale):
    """``example_deltas`` (the vectorized loops) against ``row_delta`` (libm,
    per example), and both against the difference of two losses computed in
    long double where that is accurate enough to tell."""
    rng = np.random.default_rng(5)
    n, Q = 7, 40
    z = rng.normal(size=n) * 4
    if loss == CE:
        Y = np.eye(n)[2] if scale != 3e-3 else np.full(n, 1 / n)  # one-hot and soft
        AL = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    else:
        Y = rng.integers(0, 2, size=n).astype(float)
        Y[0] = 0.3  # a soft label
        AL = 1 / (1 + np.exp(-z)) if loss == BCE else z
    CT = LL.complement_table(z[None], Y[None], loss)[0]
    v = rng.normal(size=n)
    v[3] = 0.0
    d = rng.normal(size=Q) * scale
    acc = np.zeros(Q)
    LL.example_deltas(AL, CT, Y, v, d, acc, np.zeros(Q), loss)
    ref = np.array([LL.row_delta(AL, CT, Y, dq * v, loss) for dq in d])
    assert np.allclose(acc, ref, rtol=1e-13, atol=0)


def _engine(sizes, hidden, head, m, seed, method="central"):
    output, loss = head
    model = MLP(sizes, hidden=hidden, output=output, loss=loss, l2=0.3)
    params, X, Y = random_problem(model, m, seed=seed)
    theta = model.layout.flatten(params)
    return LayeredEngine(model, theta, *model.data(X, Y), 2, method), model


def _per_coordinate(engine, model, idx, h, method):
    """Estimates and kink flags of the per-coordinate path (the old engine's)."""
    sizes, theta = model.sizes, engine.theta
    offsets = layer_offsets(sizes)
    m = engine.X.shape[1]
    work = np.empty(C.coordinate_width(sizes, m))
    cols = np.empty(m, dtype=np.int64)
    caches = (engine.X, engine.WT, engine.wt_off, engine.ZT, engine.AT, engine.z_off,
              engine.YT, engine.base_example, engine.base_logit)
    out, kinks = np.empty(len(idx)), np.zeros(len(idx), dtype=bool)
    for k, (i, step) in enumerate(zip(idx, h)):
        l, r, c = C.locate(i, sizes, offsets)
        estimates = []
        for s in ([step, 0.5 * step] if method == "richardson" else [step]):
            s0 = theta[i]
            dp, kp = C.delta_loss(l, r, c, (s0 + s) - s0, sizes, model.acts, model.loss_code,
                                  *caches, work, cols)
            dm, km = C.delta_loss(l, r, c, (s0 - s) - s0, sizes, model.acts, model.loss_code,
                                  *caches, work, cols)
            value = (dp - dm) / m
            if c >= 0:
                value += model.l2 / (2 * m) * ((s0 + s) ** 2 - (s0 - s) ** 2)
            estimates.append(value / (2 * s))
            kinks[k] |= kp or km
        out[k] = estimates[0] if len(estimates) == 1 else (4 * estimates[1] - estimates[0]) / 3
    return out, kinks


@pytest.mark.parametrize("hidden", [["relu", "relu"], ["leaky_relu", "relu"],
                                    ["relu", "tanh"], ["sigmoid", "leaky_relu"],
                                    ["linear", "relu"]])
@pytest.mark.parametrize("head", [("sigmoid", "bce"), ("softmax", "ce"), ("linear", "mse")])
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_grouped_kernel_matches_the_per_coordinate_path_and_its_kinks(hidden, head, method):
    """Large steps cross many kinks, downstream too (the dense path for pairs
    outside the sign-change interval): the flags are those of the
    per-coordinate path, and the estimates agree to 1e-10."""
    engine, model = _engine([6, 9, 7, 3], hidden, head, 23, seed=4, method=method)
    idx = np.arange(model.n_params, dtype=np.int64)
    h = np.full(idx.size, 0.2)
    block = engine.block(idx, h)
    out, flagged = block.out, block.kinks
    ref, ref_kinks = _per_coordinate(engine, model, idx, h, method)
    assert ref_kinks.sum() > 10 or "relu" not in " ".join(hidden)
    assert (flagged == ref_kinks).all()
    assert np.linalg.norm(out - ref) <= 1e-10 * np.linalg.norm(ref)


@pytest.mark.parametrize("sizes,hidden,head", [
    ([30, 40, 8, 3], "relu", ("sigmoid", "bce")),
    ([6, 5, 4, 3], "relu", ("softmax", "ce")),
    ([12, 9, 7, 4], "tanh", ("softmax", "ce")),
    ([12, 9, 7, 4], "leaky_relu", ("linear", "mse")),
])
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_any_block_of_coordinates_gives_the_same_bits(sizes, hidden, head, method):
    """Blocks of any size (one coordinate each, too), starting mid-row, and
    scattered samples: each coordinate's estimate does not depend on which
    others share its block. Drivers size blocks by time, so anything else makes
    the same check differ in its last bits from run to run (and between a
    local run and a Dask one: tests/test_dask.py)."""
    engine, model = _engine(sizes, hidden, head, 9, seed=1, method=method)
    P = model.n_params
    idx = np.arange(P, dtype=np.int64)
    rng = np.random.default_rng(0)
    # Steps from the default up to the largest a fitted step takes (5e-3 relative),
    # so that neighbours' steps fall into different tiers of the loss kernels.
    h = default_steps(engine.theta) * 10.0 ** rng.uniform(0.0, 3.0, P)
    full = engine.block(idx, h).out
    cuts = np.sort(rng.choice(np.arange(1, P), size=min(40, P // 2), replace=False))
    for bounds in (np.r_[0, cuts, P], np.arange(P + 1)):
        pieces = np.full(P, np.nan)
        for a, b in zip(bounds[:-1], bounds[1:]):
            pieces[a:b] = engine.block(idx[a:b], h[a:b]).out
        assert (pieces == full).all(), np.flatnonzero(pieces != full)
    sample = np.sort(rng.choice(P, size=min(200, P // 2), replace=False))
    scattered = engine.block(sample, h[sample]).out
    assert (scattered == full[sample]).all()


def test_smooth_layers_below_go_densely_in_batches():
    """Rows with more (example, step) pairs than one dense batch holds."""
    model = MLP([30, 8, 6, 3], hidden="tanh", output="softmax", loss="ce")
    params, X, Y = random_problem(model, 40, seed=2)
    assert 2 * 30 * 40 > K.pair_rows(40)
    grads = model.backward(params, X, Y)
    layered = fc.check(model, params, grads, X, Y)
    generic = fc.check(model, params, grads, X, Y, engine="generic")
    assert relative(layered.gradapprox_flat, generic.gradapprox_flat) <= 1e-8


def test_scratch_widths_cover_the_complex_path():
    sizes = np.array([784, 1024, 256, 10])
    assert K.work_width(sizes, 32) >= C.coordinate_width(sizes, 32)
    assert K.int_width(sizes, 32) >= 32


def test_a_single_softmax_output_has_exactly_zero_differences():
    """softmax of one logit is 1 whatever it is: the cost is constant, and the
    estimates are exactly 0, not rounding noise (the one-hot CE form)."""
    model = MLP([1, 1], hidden=[], output="softmax", loss="ce")
    params = {"W1": np.array([[0.17780938]]), "b1": np.array([[-0.00132105]])}
    X, Y = np.array([[0.10296768]]), np.array([[1.0]])
    res = fc.check(model, params, model.backward(params, X, Y), X, Y)
    assert (res.gradapprox_flat == 0.0).all()

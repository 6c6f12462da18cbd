"""fastcheck.kernels.central: the generic kernel, against its twin in tests/naive.py.

The kernel is ``sweep()(cost, offsets, weights, divisor, idx, h, fdata, idata, scratch,
out)``, the method's stencil first,
with the cost adapted to the fixed type ``(theta, fdata, idata)`` by the jit
cost's trampoline; ``run_kernel`` is the one place that calls it.
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError
from fastcheck.costs.jit import JitCostAdapter
from fastcheck.kernels.central import sweep
from fastcheck.planning.methods import METHODS
from naive import central_difference_twin, relative_difference_twin

P = 7


# Module-level jit costs, so Numba caches them between test runs.
# X has shape (1 + P, P): row 0 holds weights, rows 1..P a matrix A.

@fc.jit_cost
def sin_cost(theta, X, Y):
    """J = sum(sin(theta) * X[0, :P]); dJ/dtheta = cos(theta) * X[0, :P]."""
    total = 0.0
    for j in range(theta.shape[0]):
        total += math.sin(theta[j]) * X[0, j]
    return total


@fc.jit_cost
def quadratic_cost(theta, X, Y):
    """J = 0.5 theta^T A theta with A = X[1:, :]; dJ/dtheta = 0.5 (A + A^T) theta."""
    n = theta.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            total += theta[i] * X[1 + i, j] * theta[j]
    return 0.5 * total


@fc.jit_cost
def raising_cost(theta, X, Y):
    """sum(theta^2), but raises when theta[b] > limit, b = int(Y[0, 1]), limit = Y[0, 0]."""
    b = int(Y[0, 1])
    if theta[b] > Y[0, 0]:
        raise ValueError("cost undefined here")
    return np.sum(theta * theta)


def data(seed=0):
    """theta (P,), X (1 + P, P), Y (1, 2) unused by the smooth costs."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-2.0, 2.0, P)
    X = rng.standard_normal((1 + P, P))
    Y = np.zeros((1, 2))
    return theta, X, Y


def run_kernel(cost, theta, idx, h, X, Y, rows, method="central", scratch=None, out=None):
    """Call the kernel with ``method``'s stencil, a (rows, P) scratch and NaN
    output; return (out, scratch).

    ``scratch`` and ``out`` may be passed in to inspect them after a failing call.
    """
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    h = np.array(np.broadcast_to(h, idx.shape), dtype=np.float64, order="C")
    if scratch is None:
        scratch = np.repeat(theta[None, :], rows, axis=0)
    if out is None:
        out = np.full(idx.shape[0], np.nan)
    engine = JitCostAdapter(cost, {"t": theta}, (X, Y)).build("generic", "central", rows)
    sweep()(engine.function, *METHODS[method].stencil.arrays(), idx, h, engine.fdata,
            engine.idata, scratch, out)
    return out, scratch


COSTS = {
    "sin": (sin_cost, lambda theta, X: np.cos(theta) * X[0, :P]),
    "quadratic": (quadratic_cost, lambda theta, X: 0.5 * (X[1:] + X[1:].T) @ theta),
}


@pytest.mark.parametrize("name", list(COSTS))
@pytest.mark.parametrize("rows", [1, 2])
def test_kernel_matches_twin_bitwise(name, rows):
    """Kernel output == the twin's plain loop over the same compiled cost, bit for bit."""
    cost, _ = COSTS[name]
    theta, X, Y = data()
    idx = np.arange(P)
    h = np.linspace(1e-6, 1e-4, P)
    out, _ = run_kernel(cost, theta, idx, h, X, Y, rows)
    twin = central_difference_twin(lambda t: cost(t, X, Y), theta, idx, h)
    assert out.tobytes() == twin.tobytes()


@pytest.mark.parametrize("name", list(COSTS))
def test_kernel_matches_closed_form_gradient(name):
    """With a good step the estimate is the analytic gradient to ~1e-9."""
    cost, gradient = COSTS[name]
    theta, X, Y = data(1)
    out, _ = run_kernel(cost, theta, np.arange(P), 6e-6, X, Y, 2)
    exact = gradient(theta, X)
    assert relative_difference_twin(exact, out) < 1e-9
    np.testing.assert_allclose(out, exact, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_scratch_rows_equal_theta_after_the_call(rows):
    """Each scratch row is restored by writing back the saved value, exactly."""
    theta, X, Y = data(2)
    theta[0], theta[3] = 1e-3, 1.0 / 3.0
    h = np.full(P, 0.1)
    # The premise: undoing the step arithmetically would not restore some entries.
    assert (theta[0] + 0.1) - 0.1 != theta[0] or (theta[0] - 0.1) + 0.1 != theta[0]
    assert (theta[3] + 0.1) - 0.1 != theta[3]
    _, scratch = run_kernel(sin_cost, theta, np.arange(P), h, X, Y, rows)
    for r in range(rows):
        assert scratch[r].tobytes() == theta.tobytes()


def test_idx_subset_in_arbitrary_order():
    """out[k] belongs to idx[k], whatever the order or subset of coordinates."""
    theta, X, Y = data(3)
    idx = np.array([5, 0, 3, 6])
    h = np.array([1e-5, 2e-6, 3e-5, 4e-6])
    out, _ = run_kernel(quadratic_cost, theta, idx, h, X, Y, 2)
    twin = central_difference_twin(lambda t: quadratic_cost(t, X, Y), theta, idx, h)
    assert out.tobytes() == twin.tobytes()
    full, _ = run_kernel(quadratic_cost, theta, np.arange(P), np.full(P, 3e-5), X, Y, 1)
    assert out[2] == full[3]                              # same coordinate, same step


def test_one_and_two_scratch_rows_give_identical_output():
    """How the coordinates are spread over rows does not change a single bit."""
    theta, X, Y = data(4)
    idx = np.array([6, 1, 2, 4, 0, 5, 3])
    one, _ = run_kernel(sin_cost, theta, idx, 1e-6, X, Y, 1)
    two, _ = run_kernel(sin_cost, theta, idx, 1e-6, X, Y, 2)
    assert not np.isnan(one).any()
    assert one.tobytes() == two.tobytes()


@pytest.mark.parametrize("rows", [1, 2])
def test_richardson_is_the_twin_at_h_and_h_over_2_combined(rows):
    """Richardson's stencil: out = (4 D(h/2) - D(h)) / 3, bit for bit."""
    theta, X, Y = data(7)
    idx = np.array([3, 0, 6, 2])
    h = np.array([7e-4, 1e-3, 5e-4, 2e-3])
    out, scratch = run_kernel(sin_cost, theta, idx, h, X, Y, rows, method="richardson")
    coarse = central_difference_twin(lambda t: sin_cost(t, X, Y), theta, idx, h)
    fine = central_difference_twin(lambda t: sin_cost(t, X, Y), theta, idx, 0.5 * h)
    assert out.tobytes() == ((4.0 * fine - coarse) / 3.0).tobytes()
    assert all(row.tobytes() == theta.tobytes() for row in scratch)
    exact = np.cos(theta[idx]) * X[0, idx]
    np.testing.assert_allclose(out, exact, rtol=1e-9, atol=1e-11)


def raising_setup(bad):
    """theta with theta[bad] just under the limit: only its +h evaluation raises."""
    theta, X, _ = data(5)
    theta[bad] = 1.0
    Y = np.array([[1.0 + 1e-7, float(bad)]])
    return theta, X, Y


@pytest.mark.parametrize("rows, bad", [(1, 2), (2, 2), (2, 3)],
                         ids=["1row", "2rows-row0", "2rows-row1"])
def test_kernel_leaves_nan_where_the_cost_raised(rows, bad):
    """A cost that raises leaves NaN for that coordinate; rows that did not raise are exact.

    The kernel may also hand the error to its caller (it does on the calling
    thread's row); the facade must turn that into a CostError, see the next test.
    """
    theta, X, Y = raising_setup(bad)
    idx = np.arange(P, dtype=np.int64)
    h = np.full(P, 1e-6)
    out = np.full(P, np.nan)
    try:
        run_kernel(raising_cost, theta, idx, h, X, Y, rows, out=out)
    except Exception:  # noqa: BLE001 - the kernel's contract is about out, checked below
        pass
    assert np.isnan(out[bad])
    twin = central_difference_twin(lambda t: float(np.sum(t * t)), theta, idx, h)
    for k in range(P):
        other_row = k % rows != bad % rows
        before_in_row = k < bad
        if other_row or before_in_row:
            assert out[k] == pytest.approx(twin[k], rel=1e-12, abs=0.0)
        else:
            assert np.isnan(out[k])


@pytest.mark.parametrize("threads, bad", [(1, 2), (2, 2), (2, 3)],
                         ids=["1thread", "2threads-row0", "2threads-row1"])
def test_check_reports_a_raising_jit_cost_as_cost_error(threads, bad):
    """fc.check with a jit cost that raises when perturbed: CostError naming t[bad]."""
    theta, X, Y = raising_setup(bad)
    with pytest.raises(CostError, match=rf"t\[{bad}\]"):
        fc.check(raising_cost, {"t": theta}, {"t": 2 * theta}, X, Y, eps=1e-6,
                 threads=threads)


def test_check_reports_a_raising_jit_cost_as_cost_error_python_engine():
    """The Python engine turns the same compiled cost's exception into a CostError."""
    theta, X, Y = raising_setup(2)
    with pytest.raises(CostError, match=r"t\[2\]") as info:
        fc.check(raising_cost, {"t": theta}, {"t": 2 * theta}, X, Y, eps=1e-6,
                 engine="python")
    assert isinstance(info.value.__cause__, ValueError)


def test_one_compiled_kernel_serves_every_jit_cost():
    """After checking two different jit costs, the kernel still has one signature."""
    theta, X, Y = data(6)
    a = fc.check(sin_cost, {"t": theta}, {"t": np.cos(theta) * X[0]}, X, Y)
    b = fc.check(quadratic_cost, {"t": theta}, {"t": 0.5 * (X[1:] + X[1:].T) @ theta}, X, Y)
    assert a.engine == b.engine == "generic"
    assert a.passed and b.passed


CACHE_SCRIPT = textwrap.dedent("""
    import numpy as np
    import fastcheck as fc
    from fastcheck.kernels.central import sweep

    @fc.jit_cost
    def cost(theta, X, Y):
        return np.sum(theta * theta * X[0, :theta.shape[0]])

    t = np.array([1.0, -2.0, 3.0])
    X = np.array([[1.0, 2.0, 0.5]])
    res = fc.check(cost, {"t": t}, {"t": 2 * t * X[0]}, X, engine="generic")
    assert res.passed, res.difference
    stats = sweep().stats
    print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), stats.cache_path)
""")


def test_kernel_is_loaded_from_the_disk_cache_in_a_fresh_process(tmp_path):
    """Two fresh processes sharing NUMBA_CACHE_DIR: the first compiles, the second only loads."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CACHE_SCRIPT], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        hits, misses, path = done.stdout.split()
        runs.append((int(hits), int(misses), path))
    (hits1, misses1, path1), (hits2, misses2, path2) = runs
    assert path1 == path2 and path1.startswith(str(tmp_path))
    assert misses1 >= 1 and hits1 == 0                    # a fresh cache directory
    assert hits2 >= 1 and misses2 == 0

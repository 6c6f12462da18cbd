"""Networks too big to check in full: sampled and directional checks, progress,
interruption, threads and memory."""

import signal
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import exercises as ex
from fastcheck.errors import MemoryBudgetError, OptionError
from fastcheck.models import MLP
from fastcheck.planning.noise import EVALUATIONS as NOISE_EVALUATIONS
from fastcheck.planning.sampling import per_tensor_counts


@pytest.fixture(scope="module")
def net():
    model = MLP([20, 30, 10, 3], hidden="tanh", output="softmax", loss="ce")
    params = model.init_params(seed=4)
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(20, 12)), rng.integers(0, 3, size=12)
    return model, params, model.backward(params, X, Y), X, Y


def test_per_tensor_counts_keep_every_tensor_and_add_up():
    sizes = [600, 30, 300, 10, 30, 3]
    counts = per_tensor_counts(sizes, 100)
    assert counts.sum() == 100
    k = 100 // (2 * len(sizes))
    assert all(c >= min(k, s) for c, s in zip(counts, sizes))
    assert all(c <= s for c, s in zip(counts, sizes))
    # The rest goes in proportion to size: the largest tensor gets the most.
    assert counts[0] == counts.max()


@pytest.mark.parametrize("engine", ["layered", "generic", "python"])
def test_sampled_check_visits_a_stratified_seeded_sample(net, engine):
    model, params, grads, X, Y = net
    full = fc.check(model, params, grads, X, Y, engine=engine)
    res = fc.check(model, params, grads, X, Y, sample=60, seed=7, engine=engine)
    again = fc.check(model, params, grads, X, Y, sample=60, seed=7, engine=engine)
    other = fc.check(model, params, grads, X, Y, sample=60, seed=8, engine=engine)
    assert res.checked == 60 and res.passed
    np.testing.assert_array_equal(res.indices, again.indices)
    assert not np.array_equal(res.indices, other.indices)
    assert all(row.checked >= 1 for row in res.per_tensor)
    assert sum(row.checked for row in res.per_tensor) == 60
    # The sampled entries are the full check's entries; the rest are NaN.
    np.testing.assert_array_equal(res.gradapprox_flat[res.indices],
                                  full.gradapprox_flat[res.indices])
    skipped = np.setdiff1d(np.arange(model.n_params), res.indices)
    assert np.isnan(res.gradapprox_flat[skipped]).all()
    assert "60 of" in str(res)


def test_sample_as_a_fraction_and_a_planted_mistake(net):
    model, params, grads, X, Y = net
    bad = dict(grads, db2=grads["db2"] * 1.5)
    res = fc.check(model, params, bad, X, Y, sample=0.1)
    assert res.checked == int(np.ceil(0.1 * model.n_params))
    assert not res.passed and res.suspects == ["b2"]


@pytest.mark.parametrize("sample", [0, -3, 1.5, 10**9, True, "10"])
def test_bad_samples_are_refused(net, sample):
    model, params, grads, X, Y = net
    with pytest.raises(OptionError, match="sample"):
        fc.check(model, params, grads, X, Y, sample=sample)


@pytest.fixture(scope="module")
def seed_case():
    X, Y, params = ex.gradient_check_n_test_case()
    _, cache = ex.forward_propagation_n(params, X, Y)
    return X, Y, params, ex.backward_propagation_n(X, Y, cache, fixed=True)


@pytest.mark.parametrize("mistake", [{"dW2": 2.0}, {"db1": 4.0}])
def test_three_directions_catch_each_planted_mistake(seed_case, mistake):
    X, Y, params, fixed = seed_case
    assert fc.check_directions(ex.forward_propagation_n, params, fixed, X, Y, n=3).passed
    (key, factor), = mistake.items()
    bad = dict(fixed, **{key: fixed[key] * factor})
    res = fc.check_directions(ex.forward_propagation_n, params, bad, X, Y, n=3)
    assert not res.passed and res.difference > 1e-3
    # J(theta) and its determinism repeat, 2 per direction, and the noise line
    # (fastcheck.planning.noise).
    assert res.evaluations == 9 + NOISE_EVALUATIONS and not hasattr(res, "per_tensor")
    # Each direction's expected value is grad . v for an independent v of the same seed.
    rng = np.random.default_rng(0)
    grad = np.concatenate([bad["d" + name].ravel() for name in params])
    for k in range(3):
        v = rng.standard_normal(grad.size)
        assert res.expected[k] == pytest.approx(grad @ (v / np.linalg.norm(v)),
                                                              rel=1e-12)
    assert "directions mix all tensors" in str(res)


def test_directions_are_reproducible_and_work_on_models(net):
    model, params, grads, X, Y = net
    a = fc.check_directions(model, params, grads, X, Y, n=4, seed=3)
    b = fc.check_directions(model, params, grads, X, Y, n=4, seed=3)
    c = fc.check_directions(model, params, grads, X, Y, n=4, seed=4)
    assert a.passed
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert not np.array_equal(a.estimate, c.estimate)
    with pytest.raises(OptionError, match="n must be"):
        fc.check_directions(model, params, grads, X, Y, n=0)


def test_progress_bar_on_request_and_silence_otherwise(net, capfd):
    model, params, grads, X, Y = net
    fc.check(model, params, grads, X, Y, progress=True)
    assert "fastcheck layered" in capfd.readouterr().err
    fc.check(model, params, grads, X, Y, progress=False)
    fc.check(model, params, grads, X, Y)  # stderr is not a terminal here
    assert capfd.readouterr().err == ""


def test_threads_apply_to_the_call_only_and_do_not_change_results(net):
    model, params, grads, X, Y = net
    before = numba.get_num_threads()
    one = fc.check(model, params, grads, X, Y, engine="generic", threads=1)
    assert numba.get_num_threads() == before
    two = fc.check(model, params, grads, X, Y, engine="generic", threads=2)
    np.testing.assert_array_equal(one.gradapprox_flat, two.gradapprox_flat)


def test_a_check_that_cannot_fit_is_refused_before_allocating(net, monkeypatch):
    model, params, grads, X, Y = net
    import fastcheck.costs.model as adapter
    import fastcheck.runtime.memory as memory

    def no_engine(*args, **kwargs):
        raise AssertionError("an engine was built despite the memory check")

    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    monkeypatch.setattr(memory, "SMALL_BYTES", 0)  # this net's scratch is small
    monkeypatch.setattr(adapter.ModelAdapter, "build", no_engine)
    with pytest.raises(MemoryBudgetError, match="needs about .* of scratch.*sample="):
        fc.check(model, params, grads, X, Y, engine="generic")


def test_the_report_states_the_scratch_size(net):
    model, params, grads, X, Y = net
    res = fc.check(model, params, grads, X, Y, engine="generic", threads=1)
    # One private copy of theta, plus the layered kink watcher's caches (tanh: none).
    assert res.scratch_bytes == model.n_params * 8
    assert "scratch" in str(res)


INTERRUPT_SCRIPT = textwrap.dedent("""
    import hashlib, sys, time
    import numpy as np
    import fastcheck as fc

    @fc.jit_cost
    def slow_cost(theta, X, Y):
        total = 0.0
        for repeat in range(50):  # about a millisecond per evaluation
            total += np.sum(theta * theta) * 1e-9
        return total + np.sum(theta * X[0])

    def digest(arrays):
        return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()

    theta = np.linspace(-1.0, 1.0, 20_000)
    grads = 2e-9 * 50 * theta + 1.0
    X = np.ones((1, theta.size))
    mine = [theta, grads, X]
    before = digest(mine)
    slow_cost(theta, X, X)  # compile outside the timed part
    print("STARTED", flush=True)
    try:
        fc.check(slow_cost, {"theta": theta}, {"dtheta": grads}, X, engine=sys.argv[1],
                 progress=False)
        print("FINISHED")
    except KeyboardInterrupt:
        print("INTERRUPTED", time.perf_counter(), digest(mine) == before, flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["generic", "python"])
def test_ctrl_c_stops_a_long_check_and_leaves_the_arrays_alone(tmp_path, engine):
    """SIGINT to a check that would run for 20 s or more: KeyboardInterrupt soon after,
    the caller's arrays bit-identical. Slow: it runs a subprocess for seconds."""
    script = tmp_path / "long_check.py"
    script.write_text(INTERRUPT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), engine], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "STARTED"
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    words = out.split()
    assert words[0] == "INTERRUPTED", out
    # The full check would take 20 s or more: interrupted, not finished (the order of
    # events, not seconds: the machine is shared), the arrays bit-identical.
    assert words[2] == "True"


BIG_SCRIPT = textwrap.dedent("""
    import gc, time
    import numpy as np
    import fastcheck as fc

    model = fc.models.MLP([784, 4096, 2048, 10])
    params = model.init_params(seed=0)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(784, 32)); Y = rng.integers(0, 2, size=(10, 32))
    grads = model.backward(params, X, Y)
    gc.collect()

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field))

    # Reset the peak to the current RSS, so that the setup's own peak does not count.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS:")
    start = time.perf_counter()
    res = fc.check(model, params, grads, X, Y, sample=10_000, progress=False)
    seconds = time.perf_counter() - start
    print(model.n_params, res.checked, res.passed, status("VmHWM:") - base, seconds)
""")


@pytest.mark.slow
def test_ten_million_parameters_sampled_in_seconds_and_under_a_gigabyte(tmp_path):
    """MLP [784, 4096, 2048, 10] (11.6M parameters), sample=10_000: passes, and
    the check's peak memory beyond parameters, gradients and data is < 1 GB.
    Slow: it builds and differentiates an 11.6M-parameter network first."""
    script = tmp_path / "big.py"
    script.write_text(BIG_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    P, checked, passed, grew, _ = done.stdout.split()
    assert int(P) > 10_000_000 and int(checked) == 10_000 and passed == "True"
    assert int(grew) < 2**30

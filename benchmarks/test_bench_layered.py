"""The layered engine against the naive loop, SciPy's ``approx_derivative``
and the generic engine, on the networks of the layered-engine issues (16: the
layered engine at the machine's limit): full checks of every parameter, relu
hidden layers, sigmoid output, binary cross-entropy. In one run, warm (every
kernel compiles in a first, sampled check), BLAS on one thread (conftest).

Per network (one benchmark group each), on the same parameters and data:

- ``layered``: ``fastcheck.check(model, ...)``, every coordinate;
- ``naive``: the exercise's loop over the model's cost, on a sample, its time
  extrapolated to all P (``extra_info["full_seconds_estimate"]``);
- ``scipy``: ``scipy.optimize.approx_derivative`` (3-point, central) of the
  compiled cost over a sample of coordinates, extrapolated;
- ``generic``: two full compiled forward passes per coordinate, every
  coordinate on the smallest network; on the larger ones a stratified sample of
  coordinates, its time extrapolated to all P (``extra_info["extrapolated"]``).

Every row checks its estimates: each check passes (or fails only at kinks),
and each engine agrees with the layered engine on the same coordinates to 1e-7
(the generic engine's full forward passes through 784-wide layers round at
about 1e-8; the layered engine's differences of per-example losses do not).
In the default smoke run (benchmarks disabled), the layered engine too checks
a sample on the large networks, and every sample is smaller, so that the suite
stays quick (about 15 s here).
"""

import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from scipy.optimize._numdiff import approx_derivative  # SciPy exports it nowhere public

import fastcheck as fc
from fastcheck.planning.sampling import coordinates
from fastcheck.app.registry import random_problem

# (sizes, examples, coordinates the slow engines are timed on)
NETWORKS = {
    "784-64-10 x32": ([784, 64, 10], 32, None),
    "784-256-128-10 x64": ([784, 256, 128, 10], 64, 2000),
    "784-1024-256-10 x32": ([784, 1024, 256, 10], 32, 2000),
}
NAIVE_SAMPLE = 300
SCIPY_SAMPLE = 300
#: The samples of the smoke run (benchmarks disabled): the timings are not kept.
SMOKE_SAMPLE = 60


@pytest.fixture(scope="module", params=list(NETWORKS))
def network(request):
    sizes, batch, generic_sample = NETWORKS[request.param]
    model = fc.models.MLP(sizes, hidden="relu", output="sigmoid", loss="bce")
    params, X, Y = random_problem(model, batch, seed=0)
    grads = model.backward(params, X, Y)
    return dict(name=request.param, model=model, params=params, X=X, Y=Y, grads=grads,
                generic_sample=generic_sample)


def layered(network, **options):
    """The layered check of ``network``: the reference the other engines meet."""
    return fc.check(network["model"], network["params"], network["grads"], network["X"],
                    network["Y"], progress=False, **options)


def group(benchmark, network, engine, **info):
    benchmark.group = network["name"]
    benchmark.extra_info.update(engine=engine, parameters=network["model"].n_params, **info)


def assert_sound(res, reference=None, rtol=1e-7):
    """``res`` passes, or fails only at kinks, and agrees with ``reference``
    (another check) on ``res``'s coordinates."""
    assert res.verdict in ("pass", "kinks"), str(res)
    assert res.difference_without_kinks < res.threshold
    if reference is not None:
        idx = res.indices
        ref = reference.gradapprox_flat[idx]
        assert np.linalg.norm(res.gradapprox_flat[idx] - ref) <= rtol * np.linalg.norm(ref)


def test_layered(benchmark, network):
    model = network["model"]
    # Smoke runs (benchmarks disabled) check a sample: a full check is what is timed.
    sample = 2000 if benchmark.disabled and model.n_params > 100_000 else None
    layered(network, sample=2000)  # warm: every kernel compiled and loaded
    group(benchmark, network, "layered", threads=numba.get_num_threads())
    res = benchmark.pedantic(layered, args=(network,), kwargs=dict(sample=sample), rounds=5,
                             iterations=1)
    benchmark.extra_info["scratch_bytes"] = res.scratch_bytes
    assert_sound(res)


def test_generic(benchmark, network):
    model, n = network["model"], network["generic_sample"]
    if benchmark.disabled and n:
        n = SMOKE_SAMPLE
    group(benchmark, network, "generic", extrapolated=n is not None,
          timed_coordinates=n or model.n_params)
    res = benchmark.pedantic(layered, args=(network,), kwargs=dict(engine="generic", sample=n),
                             rounds=1 if n else 3, iterations=1)
    # The same sample (same size, same seed) through the layered engine.
    assert_sound(res, layered(network, sample=n))
    if n:  # report the time of a full check, extrapolated from the sample
        scale = model.n_params / res.checked
        benchmark.extra_info["full_seconds_estimate"] = benchmark.stats.stats.median * scale \
            if not benchmark.disabled else None


def test_naive(benchmark, network):
    model = network["model"]
    n = SMOKE_SAMPLE if benchmark.disabled else NAIVE_SAMPLE
    idx = coordinates(model.layout, n, seed=0)
    group(benchmark, network, "naive", extrapolated=True, timed_coordinates=n)
    res = benchmark.pedantic(fc.naive_check, args=(model, network["params"],
                                                   network["grads"], network["X"],
                                                   network["Y"]),
                             kwargs=dict(eps=1e-6, indices=idx), rounds=1, iterations=1)
    # The naive loop's fixed eps = 1e-6 is not the default step: agree to 1e-5.
    assert_sound(res, layered(network, sample=n), rtol=1e-5)
    if not benchmark.disabled:
        benchmark.extra_info["full_seconds_estimate"] = \
            benchmark.stats.stats.median * model.n_params / n


def test_scipy(benchmark, network):
    """SciPy's central differences of the compiled cost, on a sample of coordinates."""
    model, params = network["model"], network["params"]
    n = SMOKE_SAMPLE if benchmark.disabled else SCIPY_SAMPLE
    idx = coordinates(model.layout, n, seed=0)
    theta = model.layout.flatten(params)
    X, Y = model.data(network["X"], network["Y"])

    def cost(sub):
        row = theta.copy()
        row[idx] = sub
        return model.cost_flat(row, X, Y)

    group(benchmark, network, "scipy approx_derivative", extrapolated=True,
          timed_coordinates=n)
    approx = benchmark.pedantic(approx_derivative, args=(cost, theta[idx]),
                                kwargs=dict(method="3-point"), rounds=1, iterations=1)
    # SciPy's relative step (about 6e-6 |theta_i|) is not fastcheck's: agree to 1e-5.
    ref = layered(network, sample=n).gradapprox_flat[idx]
    assert np.linalg.norm(approx - ref) <= 1e-5 * np.linalg.norm(ref)
    if not benchmark.disabled:
        benchmark.extra_info["full_seconds_estimate"] = \
            benchmark.stats.stats.median * model.n_params / n


PEAK_SCRIPT = textwrap.dedent("""
    import gc, sys
    import fastcheck as fc
    from fastcheck.app.registry import random_problem
    model = fc.models.MLP([784, 1024, 256, 10])
    params, X, Y = random_problem(model, 32, seed=0)
    grads = model.backward(params, X, Y)
    gc.collect()

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field))

    # Reset the peak to the current RSS, so that the setup's own peak does not count.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS:")
    res = fc.check(model, params, grads, X, Y, progress=False, sample=int(sys.argv[1]) or None)
    print(model.n_params, status("VmHWM:") - base, res.scratch_bytes)
""")


def test_peak_memory_is_linear_in_parameters(benchmark, tmp_path):
    """Peak memory of a full layered check of [784, 1024, 256, 10] beyond the
    parameters, gradients and data: O(P + threads x activations), never O(P^2)."""
    script = tmp_path / "peak.py"
    script.write_text(PEAK_SCRIPT)
    sample = "5000" if benchmark.disabled else "0"

    def measure():
        done = subprocess.run([sys.executable, str(script), sample], capture_output=True,
                              text=True, check=True, timeout=600)
        return [int(word) for word in done.stdout.split()]

    benchmark.group = "memory"
    P, grew, scratch = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(engine="layered peak memory", parameters=P,
                                peak_bytes_beyond_inputs=grew, scratch_bytes=scratch)
    # theta, grad, gradapprox and W^T are four P-vectors; allow twice that plus 200 MB.
    assert grew < 8 * 8 * P + 200 * 2**20

"""Engines against the naive loop, on the same work: every coordinate of a network.

One group per network (``benchmarks/networks.py``), four ways to the same
gradapprox, each labelled in ``extra_info["engine"]`` for ``report.py``:

- ``naive``: ``fastcheck.naive_check``, the seed's Python loop (the baseline);
- ``python``: ``fastcheck.check(..., engine="python")`` with the NumPy cost;
- ``generic``: ``fastcheck.check`` with the jit cost, the whole facade call;
- ``generic kernel``: ``sweep`` (central differences) alone, over
  arrays built once.

Everything is timed warm; ``test_compile_time`` reports compilation apart.
Each benchmark asserts that it found the planted mistakes with the naive
loop's difference, so the default run (one call each, pyproject's
``--benchmark-disable``) proves the suite computes the right thing.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import fastcheck
from fastcheck.runtime.blas import single_threaded_blas
from fastcheck.costs.jit import JitCostAdapter
from fastcheck.kernels.central import sweep
from fastcheck.planning.methods import CENTRAL_METHOD

from fastcheck.app import registry as networks

NETWORKS = [pytest.param(name, id=name, marks=pytest.mark.benchmark(group=name))
            for name in networks.WORKLOADS]


@pytest.fixture(scope="module", params=NETWORKS)
def workload(request):
    return networks.WORKLOADS[request.param]()


@pytest.fixture(scope="module")
def reference(workload):
    """The naive loop's result, which every engine must reproduce."""
    return fastcheck.naive_check(workload.py_cost, workload.params, workload.grads,
                                 *workload.args, eps=workload.eps)


def assert_found_planted(workload, res, reference):
    """``res`` names the planted tensors, with the naive loop's difference to 1e-9."""
    assert sorted(res.suspects) == sorted(workload.planted), str(res)
    assert res.difference == pytest.approx(reference.difference, rel=1e-9)


def test_naive(benchmark, workload):
    benchmark.extra_info.update(engine="naive", parameters=workload.size)
    res = benchmark(fastcheck.naive_check, workload.py_cost, workload.params,
                    workload.grads, *workload.args, eps=workload.eps)
    assert sorted(res.suspects) == sorted(workload.planted), str(res)
    # Checked against the exact gradients, not another engine: the loop is the reference.
    assert res.difference == pytest.approx(workload.expected_difference, rel=1e-6)


def test_python_engine(benchmark, workload, reference):
    benchmark.extra_info.update(engine="python", parameters=workload.size)
    res = benchmark(fastcheck.check, workload.py_cost, workload.params, workload.grads,
                    *workload.args, eps=workload.eps, engine="python")
    assert_found_planted(workload, res, reference)


def test_generic_check(benchmark, workload, reference):
    benchmark.extra_info.update(engine="generic", parameters=workload.size)
    run = functools.partial(fastcheck.check, workload.jit_cost, workload.params,
                            workload.grads, *workload.args, eps=workload.eps,
                            engine="generic")
    run()  # untimed: the first call loads Numba's threads and threadpoolctl's scan
    assert_found_planted(workload, benchmark(run), reference)


@pytest.fixture
def kernel_call(workload):
    """``run()`` -> gradapprox (P,): the bare kernel over all P coordinates.

    Its inputs are built here, as the facade would build them, so only the
    kernel is timed; BLAS is single-threaded throughout, as under the facade.
    """
    adapter = JitCostAdapter(workload.jit_cost, workload.params, workload.args)
    layout, theta = adapter.layout, adapter.theta
    engine = adapter.build("generic", "central", numba.get_num_threads())
    kernel = sweep()
    idx = np.arange(layout.size, dtype=np.int64)
    h = np.full(layout.size, workload.eps)
    scratch = engine.scratch
    out = np.full(layout.size, np.nan)
    stencil = CENTRAL_METHOD.stencil.arrays()

    def run():
        kernel(engine.function, *stencil, idx, h, engine.fdata, engine.idata, scratch, out)
        return out

    with single_threaded_blas():
        run()  # untimed warm-up
        yield run
    # The kernel must leave every scratch row equal to theta, bit for bit.
    assert np.array_equal(scratch, np.broadcast_to(theta, scratch.shape))


def test_generic_kernel(benchmark, workload, reference, kernel_call):
    benchmark.extra_info.update(engine="generic kernel", parameters=workload.size)
    gradapprox = benchmark(kernel_call)
    difference = fastcheck.relative_difference(reference.grad_flat, gradapprox)
    assert difference == pytest.approx(reference.difference, rel=1e-9)


#: Run in a fresh interpreter (cwd: this directory); prints the seconds each
#: step took as JSON. Nothing compiles at import: the kernels compile (or load
#: from Numba's cache) on the first check.
FIRST_CALL = """
import json, time
clock = [time.perf_counter()]
import numba, numpy, scipy.linalg, threadpoolctl, tqdm
clock.append(time.perf_counter())
import fastcheck
clock.append(time.perf_counter())
from fastcheck.app import exercises
clock.append(time.perf_counter())
from fastcheck.app import registry as networks
clock.append(time.perf_counter())
w = networks.seed_workload()
for _ in range(2):
    fastcheck.check(w.jit_cost, w.params, w.grads, *w.args, eps=w.eps, engine="generic")
    clock.append(time.perf_counter())
steps = ["import_dependencies", "import_fastcheck", "compile_seed_cost",
         "compile_mlp_cost", "first_seed_check", "second_seed_check"]
print(json.dumps(dict(zip(steps, numpy.diff(clock).tolist()))))
"""


def first_call(cache_dir):
    """Seconds per step of ``FIRST_CALL`` with Numba's cache in ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, cwd=Path(__file__).parent,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.benchmark(group="compile")
def test_compile_time(benchmark, tmp_path):
    """A fresh process with an empty Numba cache, then again with the cache it filled.

    The timing is the cold process end to end; ``extra_info`` splits both
    runs into steps. Reported, never asserted: it depends on the machine.
    """
    benchmark.extra_info["engine"] = "cold process: import, compile, first check"
    cold = benchmark.pedantic(first_call, args=(tmp_path,), rounds=1, iterations=1)
    cached = first_call(tmp_path)
    benchmark.extra_info.update({"empty cache": cold, "filled cache": cached})
    assert any(tmp_path.rglob("*.nbi")), "Numba wrote no cache index to NUMBA_CACHE_DIR"

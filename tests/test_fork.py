"""Checks in forked, forkserver'd and spawned children of a process that already
ran a parallel check, and concurrent checks from threads of one process.

Each multiprocessing scenario runs as its own script in a fresh interpreter (so
the parent's threading layer is the one ``import fastcheck`` chose) and in its
own process group, killed after ``TIMEOUT`` seconds: a child killed by GNU
OpenMP breaks a ``ProcessPoolExecutor`` at once, but hangs a
``multiprocessing.Pool`` forever, and a hang must fail, not stall CI.
"""

import concurrent.futures as cf
import importlib.metadata
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.runtime import numba_setup

TIMEOUT = 400  # a hang, not slowness: the machine may be shared

PROBLEM = textwrap.dedent("""
    import numba
    import numpy as np
    import fastcheck as fc

    MODEL = fc.models.MLP([4, 6, 3, 1], hidden="tanh", output="sigmoid", loss="bce")

    def run_check(job):
        seed, engine = job
        params = MODEL.init_params(seed=seed)
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((4, 30))
        Y = (rng.random((1, 30)) > 0.5).astype(float)
        grads = MODEL.backward(params, X, Y)
        # threads=2: a parallel region however small the check is
        res = fc.check(MODEL, params, grads, X, Y, engine=engine, threads=2)
        return numba.threading_layer(), res.gradapprox_flat.tobytes()

    JOBS = [(seed, engine) for seed in (1, 2) for engine in ("layered", "generic")]
""")

POOLS = PROBLEM + textwrap.dedent("""
    import concurrent.futures as cf
    import multiprocessing
    import sys

    if __name__ == "__main__":
        method = sys.argv[1]
        parent = [run_check(job) for job in JOBS]  # the parent runs parallel kernels first
        layer = parent[0][0]
        context = multiprocessing.get_context(method)
        with cf.ProcessPoolExecutor(2, mp_context=context) as pool:
            children = list(pool.map(run_check, JOBS))
        assert [c[1] for c in children] == [p[1] for p in parent], "children differ"
        if method == "fork":  # where a killed child used to hang the Pool
            with context.Pool(2) as pool:
                children = pool.map(run_check, JOBS)
            assert [c[1] for c in children] == [p[1] for p in parent], "children differ"
        print("ok", layer, children[0][0])
""")


def run_script(tmp_path, source, *args, env=None):
    """Run ``source`` as a script in a new process group; kill the group after
    TIMEOUT seconds and fail. Returns the completed run."""
    script = tmp_path / "script.py"
    script.write_text(source)
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung for {TIMEOUT} s (a pool waiting for a killed child?)\n{err}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err


def tbb_installed():
    try:
        importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_checks_in_children_of_a_parallel_parent(tmp_path, method):
    """A ProcessPoolExecutor of each start method (and a multiprocessing.Pool of
    forked workers) runs checks after the parent ran its own: they finish, with
    the parent's bits."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} on this platform")
    returncode, out, err = run_script(tmp_path, POOLS, method)
    assert returncode == 0, f"{method}: exit {returncode}\n{err[-3000:]}"
    assert out.startswith("ok"), out
    assert "GNU OpenMP" not in err, err


@pytest.mark.skipif(not tbb_installed(), reason="the tbb wheel is not installed")
def test_tbb_is_chosen_when_installed():
    """pip's tbb lands where a venv's loader does not look: fastcheck finds it."""
    code = "import fastcheck, numba; fastcheck.check; print(numba.config.THREADING_LAYER)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=TIMEOUT, env={k: v for k, v in os.environ.items()
                                               if k != "NUMBA_THREADING_LAYER"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["tbb"]


FALLBACK = PROBLEM + textwrap.dedent("""
    import os
    from numba import njit, prange
    from fastcheck.runtime import numba_setup

    @njit(parallel=True)
    def total(x):
        s = 0.0
        for i in prange(x.shape[0]):
            s += x[i] * x[i]
        return s

    if __name__ == "__main__":
        parent = run_check(JOBS[0])
        assert parent[0] == "omp", parent[0]
        x = np.arange(100.0)
        expected = total(x)
        assert numba_setup.parallel_safe()
        pid = os.fork()
        if pid == 0:  # a child of a GNU OpenMP parent: kernels only in serial form
            ok = (not numba_setup.parallel_safe()) and numba_setup.kernel_for(total)(x) == expected
            grandchild = os.fork()
            if grandchild == 0:
                os._exit(0 if not numba_setup.parallel_safe() else 3)
            _, status = os.waitpid(grandchild, 0)
            os._exit(0 if ok and status == 0 else 2)
        _, status = os.waitpid(pid, 0)
        assert status == 0, f"child status {status}"
        assert numba_setup.kernel_for(total) is total
        print("ok")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GNU OpenMP is Linux's")
def test_without_tbb_forked_children_run_kernels_serially(tmp_path):
    """On OpenMP (no TBB, or the user's choice) a forked child, and its own
    children, are told not to launch parallel kernels, and their serial form works."""
    returncode, out, err = run_script(tmp_path, FALLBACK, env={"NUMBA_THREADING_LAYER": "omp"})
    assert returncode == 0, f"exit {returncode}\n{err[-3000:]}"
    assert out.strip() == "ok"


def test_configure_threading_keeps_numba_default_without_tbb(monkeypatch):
    monkeypatch.setattr(numba_setup, "running_layer", lambda: None)
    monkeypatch.setattr(numba_setup, "tbb_available", lambda: False)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "default")
    assert numba_setup.configure_threading() == "default"
    assert numba.config.THREADING_LAYER == "default"


def test_configure_threading_keeps_the_users_choice(monkeypatch):
    monkeypatch.setattr(numba_setup, "running_layer", lambda: None)
    monkeypatch.setattr(numba_setup, "tbb_available", lambda: True)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "workqueue")
    assert numba_setup.configure_threading() == "workqueue"
    assert numba.config.THREADING_LAYER == "workqueue"


def test_configure_threading_picks_tbb_when_it_loads(monkeypatch):
    monkeypatch.setattr(numba_setup, "running_layer", lambda: None)
    monkeypatch.setattr(numba_setup, "tbb_available", lambda: True)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "default")
    assert numba_setup.configure_threading() == "tbb"


def test_concurrent_checks_from_threads_match_serial():
    """63 checks at once from a thread pool: the layer must be thread-safe
    (workqueue would abort the process) and every result bit-identical."""
    model = fc.models.MLP([4, 6, 3, 1], hidden="tanh", output="sigmoid", loss="bce")

    def run(job):
        seed, engine = job
        params = model.init_params(seed=seed % 7)
        rng = np.random.default_rng(seed % 7)
        X = rng.standard_normal((4, 30))
        Y = (rng.random((1, 30)) > 0.5).astype(float)
        grads = model.backward(params, X, Y)
        res = fc.check(model, params, grads, X, Y, engine=engine, threads=2)
        return res.gradapprox_flat.tobytes()

    jobs = [(seed, ("layered", "generic")[seed % 2]) for seed in range(63)]
    serial = [run(job) for job in jobs]
    with cf.ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(run, jobs, timeout=TIMEOUT))
    assert concurrent == serial

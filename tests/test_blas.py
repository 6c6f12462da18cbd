"""single_threaded_blas: one BLAS thread while any check runs, the original after the last."""

import threading

import pytest
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the compiled checks limit: loaded first,
import threadpoolctl             # so that the fixture sees and sets it too)
from threadpoolctl import ThreadpoolController, threadpool_info

from fastcheck.runtime.blas import single_threaded_blas

#: A hang (a lost Event) fails the test instead of stalling CI.
TIMEOUT = 30.0


def blas_threads():
    """The thread counts of every loaded BLAS, as a sorted list."""
    return sorted(info["num_threads"] for info in threadpool_info()
                  if info["user_api"] == "blas")


def release_control():
    """Give back threadpoolctl's claim on OpenBLAS (3.6+), so other threads can set it."""
    clear = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear()


@pytest.fixture
def two_blas_threads():
    """BLAS at two threads around the test, so a limit of one is visible.

    Not ``with threadpool_limits(2)``: that would hold threadpoolctl's claim on
    OpenBLAS in this thread for the whole test, and the checks' threads could
    not set anything.
    """
    limiter = ThreadpoolController().limit(limits=2, user_api="blas")
    release_control()
    try:
        before = blas_threads()
        assert before and set(before) == {2}, f"cannot set BLAS to 2 threads: {before}"
        yield before
    finally:
        limiter.restore_original_limits()
        release_control()


def wait(event):
    assert event.wait(TIMEOUT), "the other check never got there"


def run_check(entered, may_leave, left, seen=None, seen_event=None):
    """A stand-in for a check: enter, signal, wait for its cue, leave."""
    try:
        with single_threaded_blas():
            entered.set()
            wait(may_leave)
            if seen is not None:
                seen.extend(blas_threads())
                seen_event.set()
    finally:
        left.set()


@pytest.mark.parametrize("last_out", ["B", "A"])
def test_overlapping_checks_keep_the_limit_and_restore_it(two_blas_threads, last_out):
    """A in, B in (another thread), the first one out, then the other. "B" last out
    is the A-B-A-B interleaving: A set the limit, B must keep it after A leaves and
    restore the original when it leaves. "A" last out nests B inside A."""
    first_out = "A" if last_out == "B" else "B"
    entered = {name: threading.Event() for name in "AB"}
    may_leave = {name: threading.Event() for name in "AB"}
    left = {name: threading.Event() for name in "AB"}
    errors = []

    def worker(name):
        try:
            if name == "B":
                wait(entered["A"])
            run_check(entered[name], may_leave[name], left[name])
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
            for event in (*entered.values(), *left.values()):
                event.set()

    threads = [threading.Thread(target=worker, args=(name,), daemon=True) for name in "AB"]
    for thread in threads:
        thread.start()
    wait(entered["A"])
    wait(entered["B"])
    assert blas_threads() == [1] * len(two_blas_threads), "both checks in: one thread"

    may_leave[first_out].set()
    wait(left[first_out])
    assert set(blas_threads()) == {1}, \
        f"{first_out} left while {last_out} runs: BLAS must stay at one thread"

    may_leave[last_out].set()
    wait(left[last_out])
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors, errors
    assert blas_threads() == two_blas_threads, "the last check out restores the original"


def test_one_check_limits_and_restores(two_blas_threads):
    with single_threaded_blas():
        assert set(blas_threads()) == {1}
    assert blas_threads() == two_blas_threads


def test_a_raising_body_still_restores(two_blas_threads):
    with pytest.raises(RuntimeError):
        with single_threaded_blas():
            raise RuntimeError("the check failed")
    assert blas_threads() == two_blas_threads


def test_sequential_checks_from_different_threads_restore(two_blas_threads):
    """Each check alone, from a new thread each time: nothing leaks between them."""
    for _ in range(3):
        seen, done = [], threading.Event()
        entered, may_leave, left = threading.Event(), threading.Event(), threading.Event()
        may_leave.set()
        thread = threading.Thread(target=run_check,
                                  args=(entered, may_leave, left, seen, done), daemon=True)
        thread.start()
        wait(left)
        thread.join(TIMEOUT)
        assert set(seen) == {1}
        assert blas_threads() == two_blas_threads


def numpy_blas_threads():
    """NumPy's BLAS's thread count (the one a Python cost's products run on)."""
    import numpy.linalg  # noqa: F401

    return [info["num_threads"] for info in threadpool_info()
            if info["user_api"] == "blas" and "numpy" in info["filepath"]]


def test_a_python_check_runs_its_cost_on_one_blas_thread(two_blas_threads):
    """On the python engine too, every evaluation (the baseline's, the estimates',
    the one at theta at the end) runs with one BLAS thread; the original after."""
    import numpy as np

    import fastcheck as fc

    seen = []
    X = np.random.default_rng(0).standard_normal((8, 5))

    def cost(p):
        seen.extend(numpy_blas_threads())
        return float(np.sum((X @ p["W"]) ** 2))

    W = np.ones((5, 2))
    res = fc.check(cost, {"W": W}, {"W": 2 * X.T @ (X @ W)}, jit=False)
    assert res.passed and numpy_blas_threads() == [2]
    assert len(seen) == res.evaluations and set(seen) == {1}

"""The compile budget (``fastcheck.compiler.budget``): a compile that takes too long or
too much memory is stopped in its child process and refused with the reason."""

import os
import threading
import time

import numpy as np
import pytest

from fastcheck.compiler import budget, compile_cost
from fastcheck.errors import CompileError, OptionError


def test_a_compile_within_budget_finishes(tmp_path):
    marker = tmp_path / "done"
    assert budget.over_budget(lambda: marker.write_text("yes"), seconds=60) is None
    assert marker.read_text() == "yes"  # it ran, in the child


def spin():
    while True:
        pass


def test_a_compile_past_its_cpu_time_is_stopped(monkeypatch):
    monkeypatch.setattr(budget, "WALL_FACTOR", 1000)  # a busy machine gives the child little CPU
    reason = budget.over_budget(spin, seconds=1)
    assert "after 1 s of CPU time" in reason and "FASTCHECK_COMPILE_SECONDS" in reason


def test_a_stuck_compile_is_stopped_by_the_wall_clock(monkeypatch):
    monkeypatch.setattr(budget, "WALL_FACTOR", 2)
    reason = budget.over_budget(lambda: time.sleep(60), seconds=1)
    assert "after 2 s" in reason and "wall time" in reason


def test_a_compile_past_its_memory_is_stopped():
    def hog():
        blocks = []
        while True:
            blocks.append(np.ones(2**24))  # 128 MiB at a time

    reason = budget.over_budget(hog, seconds=120, memory=2**29)
    assert "0.5 GiB" in reason and "FASTCHECK_COMPILE_MEMORY" in reason


def test_a_failed_compile_comes_back_with_numbas_text():
    def fails():
        try:
            raise ValueError("Numba's long text")
        except ValueError as exc:
            raise CompileError("cost.py:3: the reason") from exc

    with pytest.raises(CompileError, match="cost.py:3: the reason") as info:
        budget.over_budget(fails, seconds=60)
    # Numba's text is kept for whoever needs it, not chained into the traceback.
    assert "Numba's long text" in info.value.detail and info.value.__cause__ is None


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("FASTCHECK_COMPILE_SECONDS", "12")
    monkeypatch.setenv("FASTCHECK_COMPILE_MEMORY", "1e9")
    assert budget.limits() == (12.0, 10**9)


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf"])
def test_a_bad_limit_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("FASTCHECK_COMPILE_SECONDS", value)
    with pytest.raises(OptionError, match="FASTCHECK_COMPILE_SECONDS"):
        budget.limits()


def _no_fork(*args, **kwargs):
    raise AssertionError("fastcheck forked a process that runs threads")


def test_a_process_running_threads_compiles_without_forking(monkeypatch, tmp_path):
    """JAX, PyTorch (and Numba's own workers) run threads: forking such a process
    can deadlock the copy, so the budget's child is a fresh interpreter."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    monkeypatch.setattr(os, "fork", _no_fork)
    monkeypatch.setattr(os, "forkpty", _no_fork)
    try:
        # A constant no other run has compiled: a cold compile, in the child.
        scale = float(np.random.default_rng().integers(1, 2**40))

        def cost(params, X):
            return np.sum(np.tanh(params["W"] @ X)) * scale

        W, X = np.ones((3, 4)) / 7, np.arange(8.0).reshape(4, 2)
        children = []
        start = budget.start
        monkeypatch.setattr(budget, "start", lambda *a, **k: children.append(1) or start(*a, **k))
        cc = compile_cost(cost, ["W"], [W.shape], (X,))
    finally:
        stop.set()
    assert children and not cc.cached  # compiled by a child, then loaded here
    assert cc.function(W.ravel().copy(), cc.fdata, cc.idata) == pytest.approx(cost({"W": W}, X))



def _opt_level(path):
    from numba.core import config
    path.write_text(str(int(config.OPT)))


def test_the_child_compiles_at_the_level_set_for_it(monkeypatch, tmp_path):
    """-O2 unless the user sets NUMBA_OPT (see ``budget.COMPILE_OPT``)."""
    level = tmp_path / "opt"
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    assert budget.over_budget(lambda: _opt_level(level), seconds=60) is None
    assert level.read_text() == "2"
    monkeypatch.setenv("NUMBA_OPT", "1")
    assert budget.over_budget(lambda: _opt_level(level), seconds=60) is None
    assert level.read_text() == "1"

"""Tiered runs: the local driver's blocks move to a faster engine between blocks."""

import inspect
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.compiler import budget, memo, store
from fastcheck.compiler.cache import module_name
from fastcheck.costs import python as python_costs
from fastcheck.drivers.blocks import run_blocks
from fastcheck.engines.base import Block
from fastcheck.engines.passes import pass_record


class Fixed:
    """An engine whose estimate at coordinate i is i + offset (offset 0 for both,
    as a compiled cost agrees with Python's)."""

    parallel = False

    def __init__(self, name):
        self.name, self.calls = name, 0

    def block(self, idx, h):
        self.calls += 1
        return Block(idx.astype(float), np.zeros(idx.size, dtype=bool))


def test_blocks_move_to_the_faster_engine_and_count_where_items_ran():
    slow, fast = Fixed("python"), Fixed("generic")
    asked = []

    def switch(remaining):
        assert remaining >= 0
        asked.append(1)
        return fast if len(asked) == 3 else None  # asked before block 1, ready after block 2

    n = 200
    tally = {}
    out, kinks, done = run_blocks(slow, pass_record("block"), (np.arange(n), np.ones(n)),
                                  describe=str, first=4, switch=switch, tally=tally)
    assert done == n and np.array_equal(out, np.arange(n))  # the same values, either engine
    assert slow.calls == 2 and fast.calls >= 1
    assert tally["python"] == 4 + 16 and tally["python"] + tally["generic"] == n


def test_no_switch_keeps_one_engine():
    slow = Fixed("python")
    tally = {}
    run_blocks(slow, pass_record("block"), (np.arange(10), np.ones(10)), describe=str,
               first=4, switch=lambda remaining: None, tally=tally)
    assert tally == {"python": 10}


# ---- end to end: a default check of a user's cost moves to the compiled cost ----------

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def rnn_cost(params, X, y):
    """A many-to-one RNN as tutorials write it: a helper, a loop over time, (n, 1) biases."""
    h = np.zeros((params["Wh"].shape[0], 1))
    for t in range(X.shape[1]):
        h = np.tanh(params["Wx"] @ X[:, t:t + 1] + params["Wh"] @ h + params["bh"])
    p = sigmoid(params["Wy"] @ h + params["by"])
    return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))


def rnn_problem(n_h=40, n_x=8, T=6):
    rng = np.random.default_rng(7)
    params = {"Wx": 0.3 * rng.standard_normal((n_h, n_x)),
              "Wh": 0.3 * rng.standard_normal((n_h, n_h)),
              "bh": 0.1 * rng.standard_normal((n_h, 1)),
              "Wy": 0.3 * rng.standard_normal((1, n_h)),
              "by": np.zeros((1, 1))}
    return params, (rng.standard_normal((n_x, T)), np.array([[1.0]]))


@pytest.fixture
def compile_done_at_first_poll(monkeypatch, tmp_path):
    """A cold cache, and the compile child as if it always finished during the
    check's first block: the first poll (before the first block) starts the real
    child (its compile, in a fresh interpreter under the budget), and the next
    waits for it instead of finding it still running. The order of events is
    then fixed: one block in Python, the rest compiled. No wall-clock time is
    asserted. The child starts however short the check (``START_SECONDS`` 0)."""
    monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(python_costs, "START_SECONDS", 0.0)
    monkeypatch.setattr(python_costs, "SWITCH_SECONDS", 0.0)  # taken up however late
    # At the check's own priority: an idle-priority child (a short check's) is
    # starved while the suite's workers fill both cores, and this waits for it.
    monkeypatch.setattr(python_costs, "SHARE_SECONDS", 0.0)
    done = budget.Child.done
    polls = []

    def done_when_finished(child):
        polls.append(child)
        if len(polls) == 1:
            return done(child)
        while not done(child):
            time.sleep(0.05)
        return True

    monkeypatch.setattr(budget.Child, "done", done_when_finished)
    return polls


def test_a_default_check_starts_in_python_and_ends_compiled(compile_done_at_first_poll):
    params, args = rnn_problem()
    python = fc.check(rnn_cost, params, {k: np.zeros_like(v) for k, v in params.items()},
                      *args, jit=False)
    assert python.engines == {"python": python.checked} and python.compile_seconds == 0.0
    grads = python.gradapprox  # what a correct backward pass would give, to its rounding
    res = fc.check(rnn_cost, params, grads, *args)
    assert compile_done_at_first_poll, "no compile ran beside the check"
    # In order: the first block in Python, every later one on the compiled cost.
    assert list(res.engines) == ["python", "generic"]
    assert res.engines["python"] > 0 and res.engines["generic"] > 0
    assert sum(res.engines.values()) == res.checked == python.checked
    assert res.engine == "generic" and res.compile_beside > 0
    assert res.compile_seconds >= res.compile_beside
    assert "compiled beside the check" in str(res)
    # The same estimates as Python's, within the check's own error estimates.
    a, b = res.gradapprox_flat, python.gradapprox_flat
    assert np.all(np.abs(a - b) <= np.maximum(res.error_flat, python.error_flat))
    assert res.passed and not python.passed  # python was given zeros
    # The cost now in memory is used from the first block of the next check.
    again = fc.check(rnn_cost, params, grads, *args)
    assert again.engines == {"generic": again.checked}
    # A new process (nothing in memory) loads it from the disk cache from the first
    # block, and remembers how long that took, by the cost's identity.
    identity = python_costs.PythonCostAdapter(rnn_cost, params, args).identity(False)
    assert store.load_seconds(identity) is None  # compiled, not loaded, so far
    forget_compiled_costs()
    loaded = fc.check(rnn_cost, params, grads, *args)
    assert loaded.engines == {"generic": loaded.checked} and loaded.passed
    assert store.load_seconds(identity) > 0
    # A load remembered as longer than the check takes in Python is not made: the
    # check runs in Python, and says why; one remembered as quick is made.
    for seconds, engine in ((1e6, "python"), (1e-6, "generic")):
        store.remember_load_seconds(identity, seconds)
        forget_compiled_costs()
        res = fc.check(rnn_cost, params, grads, *args)
        assert res.engines == {engine: res.checked} and res.passed
        assert ("loading its compiled cost" in res.engine_reason) == (engine == "python")
        np.testing.assert_allclose(res.gradapprox_flat, python.gradapprox_flat,
                                   atol=float(np.max(python.error_flat)))


def forget_compiled_costs():
    """As a new process finds them: no compiled cost in memory, none looked up."""
    for key in list(memo._COMPILED):
        memo.forget(key)
        sys.modules.pop(module_name(key), None)
    python_costs._LOOKED_UP.clear()


def test_jit_false_never_compiles_and_jit_true_waits(compile_done_at_first_poll):
    params, args = rnn_problem(n_h=6, T=3)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    fc.check(rnn_cost, params, grads, *args, jit=False)
    assert compile_done_at_first_poll == []
    res = fc.check(rnn_cost, params, grads, *args, jit=True)
    assert res.engines == {"generic": res.checked} and res.compile_beside == 0.0


def test_a_check_too_short_for_a_compile_starts_none(compile_done_at_first_poll, monkeypatch):
    monkeypatch.setattr(python_costs, "START_SECONDS", float("inf"))
    params, args = rnn_problem(n_h=12)  # a layout not compiled by the tests above
    res = fc.check(rnn_cost, params, {k: np.zeros_like(v) for k, v in params.items()}, *args)
    assert compile_done_at_first_poll == []  # no child was started, or polled
    assert res.engines == {"python": res.checked} and res.compile_seconds == 0.0


def dense_tanh(inputs):
    """A layer's forward as a course writes it: (N, D) @ (D, M) + (M,), then tanh."""
    return np.tanh(inputs["x"] @ inputs["W"] + inputs["b"])


def test_check_vjp_by_default_starts_in_python_and_ends_compiled(compile_done_at_first_poll):
    rng = np.random.default_rng(3)
    inputs = {"x": rng.standard_normal((64, 100)), "W": 0.1 * rng.standard_normal((100, 64)),
              "b": 0.1 * rng.standard_normal(64)}
    dout = rng.standard_normal((64, 64))
    da = dout * (1 - dense_tanh(inputs) ** 2)  # the hand-written backward pass
    grads = {"x": da @ inputs["W"].T, "W": inputs["x"].T @ da, "b": da.sum(axis=0)}
    python = fc.check_vjp(dense_tanh, inputs, grads, dout=dout, jit=False)
    res = fc.check_vjp(dense_tanh, inputs, grads, dout=dout)
    assert python.engines == {"python": python.checked}
    assert list(res.engines) == ["python", "generic"] and res.compile_beside > 0
    assert sum(res.engines.values()) == res.checked == python.checked
    a, b = res.gradapprox_flat, python.gradapprox_flat
    assert np.all(np.abs(a - b) <= np.maximum(res.error_flat, python.error_flat))
    assert res.passed and python.passed
    grads["b"] = grads["b"] * 1.01  # a wrong bias gradient is seen on either engine
    assert fc.check_vjp(dense_tanh, inputs, grads, dout=dout).suspects == ["b"]


def test_locate_by_default_moves_to_the_compiled_cost(compile_done_at_first_poll):
    params, args = rnn_problem(n_h=24)
    grads = fc.check(rnn_cost, params, {k: np.zeros_like(v) for k, v in params.items()},
                     *args, jit=False).gradapprox
    grads["Wh"][3, 5] += 0.05  # one wrong coordinate
    python = fc.locate(rnn_cost, params, grads, *args, jit=False)
    assert compile_done_at_first_poll == []
    res = fc.locate(rnn_cost, params, grads, *args)
    assert len(compile_done_at_first_poll) >= 2  # started, then taken up
    assert res.check.engine == "generic"  # the confirmation runs compiled
    assert [(w.tensor, w.index) for w in res.located] == \
        [(w.tensor, w.index) for w in python.located] == [("Wh", (3, 5))]


# -- short checks look nothing up; a slow cached load is not taken ------------------------

def quadratic(params, A):
    """0.5 w^T A w + sum(b^2): gradient A w (A symmetric) and 2 b, in closed form."""
    w = params["w"]
    return 0.5 * float(w @ A @ w) + float(np.sum(params["b"] ** 2))


def quadratic_problem():
    rng = np.random.default_rng(11)
    M = rng.standard_normal((6, 6))
    A = M @ M.T
    params = {"w": rng.standard_normal(6), "b": rng.standard_normal((1, 3))}
    return params, {"w": A @ params["w"], "b": 2 * params["b"]}, A


def test_a_short_default_check_never_imports_the_compiler(tmp_path):
    """In a fresh process: the default check of a cost predicted far shorter than
    START_SECONDS neither imports the compiler nor reads the cost's code, and
    its verdicts go both ways."""
    script = "\n".join([
        "import sys", "import numpy as np", "import fastcheck as fc",
        inspect.getsource(quadratic), inspect.getsource(quadratic_problem),
        "params, grads, A = quadratic_problem()",
        "good = fc.check(quadratic, params, grads, A)",
        "grads['b'] = 2.02 * params['b']",
        "bad = fc.check(quadratic, params, grads, A)",
        "print(good.passed, bad.suspects, good.engine, 'fastcheck.compiler' in sys.modules)"])
    env = dict(os.environ, FASTCHECK_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True ['b'] python False", done.stdout


class Refused:
    """A stand-in for ``pending_compile``: counts its calls, and its compile is refused."""

    def __init__(self):
        self.calls = 0

    def __call__(self, adapter, complex_step):
        from fastcheck.compiler.route import Pending
        from fastcheck.errors import CompileError
        self.calls += 1

        def steps():
            raise CompileError("refused by the test")
            yield  # a generator, as Pending takes

        pending = Pending(steps())
        pending.complex_step = complex_step
        return pending


def test_a_check_longer_than_predicted_looks_its_compile_up_late(monkeypatch):
    """Predicted short, no look-up; once its seconds so far and left reach the
    threshold (forced here), the compile is looked up between blocks; a refusal
    leaves the check in Python with the same numbers."""
    params, grads, A = quadratic_problem()
    stub = Refused()
    monkeypatch.setattr(python_costs.PythonCostAdapter, "pending_compile",
                        lambda adapter, complex_step: stub(adapter, complex_step))
    monkeypatch.setattr(python_costs, "_LOOKED_UP", set())
    python = fc.check(quadratic, params, grads, A, jit=False)
    short = fc.check(quadratic, params, grads, A)
    assert stub.calls == 0 and short.engines == {"python": short.checked}
    monkeypatch.setattr(python_costs.Deferred, "due", lambda self, cs, remaining: True)
    late = fc.check(quadratic, params, grads, A)
    assert stub.calls == 1 and late.engines == {"python": late.checked}
    for res in (short, late):
        assert res.passed and np.array_equal(res.gradapprox_flat, python.gradapprox_flat)
    # Refused once in this process: the next check asks at once, and says why.
    again = fc.check(quadratic, params, grads, A)
    assert stub.calls == 2 and "refused by the test" in again.engine_reason


class Unfinished:
    """A stand-in for ``pending_compile`` whose compile asks for a child; the child
    never finishes (``finish`` None), or has finished from the ``finish``-th time
    it is polled on, and the compile is then refused. ``started`` counts the
    children started (``Pending.poll``), ``priorities`` the priority each was
    started at."""

    def __init__(self, finish=None):
        self.started, self.priorities, self.finish, self.polls = 0, [], finish, 0

    def __call__(self, adapter, complex_step):
        from fastcheck.compiler.route import Pending
        from fastcheck.errors import CompileError
        outer = self

        class Child:
            def done(self):
                outer.polls += 1
                return outer.finish is not None and outer.polls >= outer.finish

            def kill(self):
                pass

        class Task:
            child = None

            def start(self, background=False):
                if self.child is None:
                    outer.started += 1
                    outer.priorities.append(background)
                    self.child = Child()
                return self.child

        def steps():
            yield Task()
            raise CompileError("refused by the test")

        pending = Pending(steps())
        pending.complex_step = complex_step
        return pending


@pytest.mark.parametrize("share", [False, True])
def test_a_compile_beside_a_check_of_seconds_runs_on_idle_cpu_time_only(monkeypatch, share):
    """A child beside a check with less than ``SHARE_SECONDS`` in Python ahead
    runs at idle priority (it takes nothing from the check on a busy machine);
    beside a longer one, at a lowered priority that still gets a share."""
    params, grads, A = quadratic_problem()
    stub = Unfinished()
    monkeypatch.setattr(python_costs.PythonCostAdapter, "pending_compile",
                        lambda adapter, complex_step: stub(adapter, complex_step))
    monkeypatch.setattr(python_costs, "START_SECONDS", 0.0)
    monkeypatch.setattr(python_costs, "SHARE_SECONDS", 0.0 if share else float("inf"))
    res = fc.check(quadratic, params, grads, A)
    assert stub.started == 1 and stub.priorities == [True if share else budget.IDLE]
    assert res.passed and res.engines == {"python": res.checked}


def _write_policy(path):
    with open(path, "w") as handle:
        handle.write(str(os.sched_getscheduler(0)))


def test_the_idle_priority_is_what_the_child_runs_at(tmp_path):
    """``budget.IDLE``: the child's scheduling policy is Linux's SCHED_IDLE."""
    import functools

    path = tmp_path / "policy"
    task = functools.partial(_write_policy, str(path))
    assert budget.start(task, background=budget.IDLE).result() is None
    assert int(path.read_text()) == os.SCHED_IDLE


@pytest.mark.parametrize("late", [False, True])
def test_a_compile_ready_too_late_for_the_pass_is_not_taken_up(monkeypatch, late):
    """The child has finished when the check looks after its first block: with
    less than ``SWITCH_SECONDS`` of Python left (``late``: forced here) the next
    step (here a refusal, seen in the report) is not run; otherwise it is."""
    from fastcheck.drivers import blocks

    params, grads, A = quadratic_problem()
    stub = Unfinished(finish=2)  # running when started, finished after a block
    monkeypatch.setattr(python_costs.PythonCostAdapter, "pending_compile",
                        lambda adapter, complex_step: stub(adapter, complex_step))
    monkeypatch.setattr(python_costs, "START_SECONDS", 0.0)
    monkeypatch.setattr(blocks, "FIRST_BLOCK_SECONDS", 0.0)  # blocks of 1, 4, 4 items
    monkeypatch.setattr(python_costs, "SWITCH_SECONDS", float("inf") if late else 0.0)
    res = fc.check(quadratic, params, grads, A)
    assert stub.started == 1 and res.passed and res.engines == {"python": res.checked}
    assert ("refused by the test" in str(res)) == (not late), str(res)

"""Ctrl-C during a cost's first compile (a cold cache, ``jit=True``): a prompt
``KeyboardInterrupt``, and a cache the next run can use.

Numba lost a ``KeyboardInterrupt`` raised inside LLVM's ctypes callbacks: the
check then ran to the end, or failed with a ``CompileError`` blaming the user's
``def`` line. Slow: each run compiles in a fresh process with empty caches.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import fastcheck as fc

    def helper(z):
        return np.tanh(z) * np.exp(-z * z)

    def cost(params, X, Y):
        A = helper(params["W1"] @ X + params["b1"])
        B = helper(params["W2"] @ A + params["b2"])
        return float(np.mean((B - Y) ** 2))

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 6)), rng.standard_normal((2, 6))
    params = {"W1": rng.standard_normal((5, 4)), "b1": np.zeros((5, 1)),
              "W2": rng.standard_normal((2, 5)), "b2": np.zeros((2, 1))}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    print("STARTED", flush=True)
    try:
        res = fc.check(cost, params, grads, X, Y, jit=True, progress=False)
        print("FINISHED", res.engine, flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
""")


def compiled_costs(tmp_path):
    """Numba's index files of compiled costs under the test's caches."""
    return sorted(p.name for p in tmp_path.rglob("fastcheck_cost_*.nbi"))


def run(script, env, interrupt_after=None):
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "STARTED"
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=900)
    return out.split(), err, None


@pytest.mark.slow
@pytest.mark.parametrize("after", [1.0, 2.5])
def test_ctrl_c_during_a_first_compile_interrupts_and_the_next_run_works(tmp_path, after):
    script = tmp_path / "cold.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, FASTCHECK_CACHE_DIR=str(tmp_path / "fc-cache"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    words, err, _ = run(script, env, interrupt_after=after)
    assert words and words[0] == "INTERRUPTED", (words, err[-2000:])
    # The order of events, not seconds (the machine is shared): the interrupt
    # landed during the compile, which therefore never finished: Numba writes
    # a function's index only when its compile is done.
    assert not compiled_costs(tmp_path), compiled_costs(tmp_path)
    assert "Exception ignored" not in err and "CompileError" not in err, err[-2000:]
    partial = [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert not partial
    words, err, _ = run(script, env)
    assert words[:2] == ["FINISHED", "generic"], (words, err[-2000:])
    assert compiled_costs(tmp_path)  # what the first run's assertion looks for

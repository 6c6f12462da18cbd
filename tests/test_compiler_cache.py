"""The compiled-cost cache: keyed by everything, reused by a fresh process.

The regression this pins: ``@fc.jit_cost`` compiled with Numba's cache=True,
which freezes a global's value, so a script run with ``LAMBD = 0.7`` and then
with ``LAMBD = 0.1`` silently used 0.7 from the disk cache.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastcheck.compiler import compile_cost, is_cached
from fastcheck.compiler.store import _ensure

import usercosts as u

SCRIPT = textwrap.dedent('''
    import json
    import numpy as np
    from fastcheck.compiler import compile_cost, is_cached

    LAMBD = {lambd}

    def relu(z):
        return np.maximum(0, z)

    def cost(params, X, Y):
        A = relu(params["W1"] @ X + params["b1"])
        return np.sum((params["W2"] @ A - Y) ** 2) + LAMBD * np.sum(params["W1"] ** 2)

    def flat_cost(theta, X, Y):
        W = theta[0:6].reshape((2, 3))
        return np.sum((W @ X - Y) ** 2) + LAMBD * np.sum(W ** 2)

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 5)), rng.standard_normal((1, 5))
    theta = rng.standard_normal(13)
    params = {{"W1": theta[0:6].reshape((2, 3)), "b1": theta[6:8].reshape((2, 1)),
              "W2": theta[8:10].reshape((1, 2))}}
    runs = {{}}
    for name, func, names, shapes, flat, reference in [
            ("dict", cost, ["W1", "b1", "W2"], [(2, 3), (2, 1), (1, 2)], False,
             cost(params, X, Y)),
            ("flat", flat_cost, ["W"], [(2, 3)], True, flat_cost(theta[:6], X, Y))]:
        before = is_cached(func, names, shapes, (X, Y), flat=flat)
        cc = compile_cost(func, names, shapes, (X, Y), flat=flat)
        t = theta if not flat else theta[:6].copy()
        runs[name] = dict(compiled=cc.function(t, cc.fdata, cc.idata), python=float(reference),
                          cached=cc.cached, was_cached=before, key=cc.key, seconds=cc.seconds)
    print(json.dumps(runs))
''')


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three fresh processes sharing one cache: LAMBD 0.7, then 0.1, then 0.1 again."""
    root = tmp_path_factory.mktemp("stale")
    env = dict(os.environ, FASTCHECK_CACHE_DIR=str(root / "fastcheck"),
               NUMBA_CACHE_DIR=str(root / "numba"))
    results = []
    for lambd in (0.7, 0.1, 0.1):
        script = root / "train.py"  # the same file each run, edited as a user would
        script.write_text(SCRIPT.format(lambd=lambd))
        done = subprocess.run([sys.executable, str(script)], env=env, cwd=root,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("form", ["dict", "flat"])
def test_changed_global_is_never_served_stale(runs, form):
    first, second, _ = (run[form] for run in runs)
    for run in (first, second):
        assert run["compiled"] == pytest.approx(run["python"], rel=1e-12, abs=0)
    assert first["python"] != pytest.approx(second["python"], rel=1e-6)
    assert first["key"] != second["key"]
    assert not first["cached"] and not second["cached"]


@pytest.mark.slow
@pytest.mark.parametrize("form", ["dict", "flat"])
def test_fresh_process_loads_from_disk_cache(runs, form):
    second, third = runs[1][form], runs[2][form]
    assert third["was_cached"] and not second["was_cached"]
    assert third["cached"] and third["key"] == second["key"]
    assert third["compiled"] == pytest.approx(third["python"], rel=1e-12, abs=0)


def test_changed_layer_size_is_a_new_key(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 5)), rng.standard_normal((2, 5))
    keys = []
    # Sizes no other test compiles: is_cached is also True for a key compiled
    # earlier in this process, whatever the cache directory.
    for hidden in (6, 7):
        names = ["W1", "b1", "W2", "b2"]
        shapes = [(hidden, 3), (hidden, 1), (2, hidden), (2, 1)]
        assert not is_cached(u.tanh_mlp, names, shapes, (X, Y))
        cc = compile_cost(u.tanh_mlp, names, shapes, (X, Y))
        assert is_cached(u.tanh_mlp, names, shapes, (X, Y))
        theta = rng.standard_normal(sum(int(np.prod(s)) for s in shapes))
        params, offset = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = theta[offset:offset + int(np.prod(shape))].reshape(shape)
            offset += int(np.prod(shape))
        assert cc.function(theta, cc.fdata, cc.idata) == pytest.approx(
            u.tanh_mlp(params, X, Y), rel=1e-12, abs=0)
        keys.append(cc.key)
    assert keys[0] != keys[1]


def test_a_correct_generated_file_is_never_touched(tmp_path):
    """Numba's index checks the source's mtime: rewriting would drop its cache."""
    path = tmp_path / "m.py"
    _ensure(path, "x = 1\n")
    stamp = path.stat().st_mtime_ns
    _ensure(path, "x = 1\n")
    assert path.read_text() == "x = 1\n" and path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]  # no temporary left behind

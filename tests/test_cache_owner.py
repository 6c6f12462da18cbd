"""A cache another user can write is never loaded from (issue: planted code ran as root).

Numba's cache index is a pickle, and unpickling can run any code: a file planted
in a shared cache directory ran as whoever checked next. These tests plant such
a pickle (it creates a marker file when unpickled) where fastcheck would read
it, as another user (uid 65534, "nobody") or in a directory others can write,
and check that it is never unpickled, that one warning names the directory, and
that the answer is still right. The tests run as root, who can ``chown``.
"""

import importlib.util
import os
import pickle
import stat
import sys
import textwrap
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.compiler import memo, store
from fastcheck.runtime import numba_cache, owned
from fastcheck.runtime.numba_cache import UnsafeCacheWarning

NOBODY = 65534
COST = textwrap.dedent("""
    import numpy as np

    def cost(params, X):
        return float(np.sum(np.tanh(X @ params["W"]) ** 2))
""")
KERNEL = textwrap.dedent("""
    from numba import njit

    @njit(cache=True)
    def plus_one(x):
        return x + 1.0
""")
X = np.random.default_rng(0).standard_normal((5, 3))
W = np.random.default_rng(1).standard_normal((3, 2))


class Planted:
    """Unpickling this runs ``touch <marker>``: what an attacker would plant."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def load(path, source, name):
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plant(folder, marker, owner=NOBODY):
    """Replace every Numba index under ``folder`` with a pickle that touches ``marker``."""
    planted = 0
    for index in folder.rglob("*.nbi"):
        index.write_bytes(pickle.dumps(Planted(marker)))
        os.chown(index, owner, owner)
        planted += 1
    assert planted, "nothing was cached to plant over"
    return planted


@pytest.fixture
def warned_afresh(monkeypatch):
    monkeypatch.setattr(numba_cache, "_warned", set())


def check_cost(tmp_path, name):
    """A compiled check of the cost in ``tmp_path/name.py``, loaded as a new module."""
    cost = load(tmp_path / f"{name}.py", COST, name).cost
    grads = {"W": np.zeros_like(W)}
    return fc.check(cost, {"W": W}, grads, X, jit=True, progress=False)


def expected_gradapprox():
    """Central differences by hand, h = 1e-7 (the estimate fastcheck must agree with)."""
    flat, h, out = W.ravel().copy(), 1e-7, []
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        out.append((np.sum(np.tanh(X @ up.reshape(W.shape)) ** 2)
                    - np.sum(np.tanh(X @ down.reshape(W.shape)) ** 2)) / (2 * h))
    return np.array(out)


def test_new_cache_directories_are_private(tmp_path, monkeypatch, warned_afresh):
    folder = tmp_path / "new" / "cache"
    monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(folder))
    res = check_cost(tmp_path, "private_cost")
    assert res.engine == "generic"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    generated = list(folder.glob("fastcheck_cost_*.py"))
    assert generated and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in generated)


@pytest.mark.parametrize("attack", ["shared directory", "file of another user"])
def test_a_planted_index_is_never_loaded(tmp_path, monkeypatch, warned_afresh, attack):
    folder = tmp_path / "cache"
    marker = tmp_path / "PWNED"
    monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(folder))
    first = check_cost(tmp_path, "shared_cost")  # compiles and fills the cache
    if attack == "shared directory":
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                os.chmod(path, 0o777)
        plant(folder, marker, owner=os.geteuid())
    else:
        plant(folder, marker)
    for name in [n for n in sys.modules if n.startswith(store.PREFIX)]:
        memo.forget(name[len(store.PREFIX):])  # as a new process would find it
        del sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = check_cost(tmp_path, "shared_cost")
    assert not marker.exists(), "a planted cache index was unpickled"
    unsafe = [w for w in caught if issubclass(w.category, UnsafeCacheWarning)]
    assert len(unsafe) == 1 and str(folder) in str(unsafe[0].message)
    assert second.engine == "generic"
    np.testing.assert_allclose(second.gradapprox["W"].ravel(), expected_gradapprox(), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(second.gradapprox["W"], first.gradapprox["W"])


def test_numbas_own_cache_of_any_function_is_guarded(tmp_path, warned_afresh):
    """Numba's cache of a function outside fastcheck's cache directory (fastcheck's
    kernels, the user's own ``cache=True`` functions) is guarded the same way."""
    folder = tmp_path / "mods"
    folder.mkdir()
    marker = tmp_path / "PWNED"
    assert load(folder / "kern.py", KERNEL, "kern_first").plus_one(1.0) == 2.0
    plant(folder, marker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load(folder / "kern.py", KERNEL, "kern_second").plus_one(2.0)
    assert again == 3.0 and not marker.exists()
    assert [w.category for w in caught] == [UnsafeCacheWarning]
    assert "another user (uid 65534)" in str(caught[0].message)


@pytest.mark.parametrize("mode, owner, safe", [
    (0o700, "me", True), (0o755, "me", True), (0o775, "me", False), (0o757, "me", False),
    (0o1777, "root", True), (0o755, "nobody", False), (0o700, "root", True)])
def test_who_may_have_written_a_directory(tmp_path, mode, owner, safe):
    folder = tmp_path / "d"
    folder.mkdir()
    uid = {"me": os.geteuid(), "root": 0, "nobody": NOBODY}[owner]
    os.chown(folder, uid, uid)
    os.chmod(folder, mode)
    assert (owned.unsafe(folder) is None) == safe

"""A damaged Numba cache file is a miss: the function recompiles and the run goes on.

One sandbox with its own ``NUMBA_CACHE_DIR`` and three fresh interpreters:
the first compiles and caches a ``prange`` kernel per kind of damage (and
fastcheck's own kernels); then each kernel's index (.nbi) or data file (.nbc)
is truncated, emptied or overwritten with garbage, and so are two of
fastcheck's, which it loads at import; the second run must import fastcheck,
give the right answers, recompile exactly the damaged functions and name each
file it dropped; the third must load all of them from the cache again.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TIMEOUT = 120
KINDS = ("nbi", "nbc")
DAMAGE = ("truncated", "empty", "garbage")
VARIANTS = [f"{kind}_{how}" for kind in KINDS for how in DAMAGE]

KERNEL = textwrap.dedent("""
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def total(x):
        s = 0.0
        for i in prange(x.shape[0]):
            s += x[i] * x[i]
        return s
""")

SCRIPT = textwrap.dedent("""
    import importlib
    import json
    import warnings

    warnings.simplefilter("always")
    import fastcheck  # makes damaged cache files misses; loads its kernels' cache
    import numpy as np
    from fastcheck.kernels import central

    def counts(dispatcher):
        stats = dispatcher.stats
        return {"hits": sum(stats.cache_hits.values()),
                "misses": sum(stats.cache_misses.values())}

    x = np.arange(1000.0)
    report = {"fastcheck": {"sweep": counts(central.sweep()),
                            "complex_sweep": counts(central.complex_sweep())}}
    for name in %r:
        total = importlib.import_module("kern_" + name).total
        ok = total(x) == float((x * x).sum())
        report[name] = dict(counts(total), ok=bool(ok))
    print(json.dumps(report))
""") % (VARIANTS,)


def run(root, cache):
    """One fresh interpreter in the sandbox: (its report, its stderr)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(root / "script.py")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"the run failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def only(cache, pattern):
    found = sorted(cache.rglob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {cache}, found {found}"
    return found[0]


def damage(path, how):
    data = path.read_bytes()
    assert data, f"{path} is empty before the damage"
    if how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:  # garbage of the same size, the same every run
        path.write_bytes(np.random.default_rng(7).bytes(len(data)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"first", "damaged", "again"}: the reports of the three runs, plus
    "stderr" of the damaged run and "files": the file each variant damaged."""
    root = tmp_path_factory.mktemp("cache_recovery")
    cache = root / "numba_cache"
    cache.mkdir()
    for name in VARIANTS:
        (root / f"kern_{name}.py").write_text(KERNEL)
    (root / "script.py").write_text(SCRIPT)

    first, _ = run(root, cache)
    files = {name: only(cache, f"kern_{name}.total-*.{name.split('_')[0]}")
             for name in VARIANTS}
    files["sweep"] = only(cache, "central._sweep-*.nbi")
    files["complex_sweep"] = only(cache, "central._complex_sweep-*.nbc")
    for name in VARIANTS:
        damage(files[name], name.split("_")[1])
    damage(files["sweep"], "truncated")
    damage(files["complex_sweep"], "garbage")
    damaged, stderr = run(root, cache)
    again, _ = run(root, cache)
    return {"first": first, "damaged": damaged, "again": again, "stderr": stderr,
            "files": files}


@pytest.mark.parametrize("name", VARIANTS)
def test_a_damaged_file_recompiles(runs, name):
    assert runs["first"][name] == {"ok": True, "hits": 0, "misses": 1}
    assert runs["damaged"][name] == {"ok": True, "hits": 0, "misses": 1}, \
        "the damaged entry was not recompiled"
    assert "DamagedCacheWarning" in runs["stderr"]
    assert str(runs["files"][name]) in runs["stderr"], "the warning does not name the file"
    assert runs["again"][name] == {"ok": True, "hits": 1, "misses": 0}, \
        "the recompiled kernel was not cached again"


@pytest.mark.parametrize("kernel", ["sweep", "complex_sweep"])
def test_fastcheck_survives_its_own_damaged_kernels(runs, kernel):
    """fastcheck's generic kernels load their cache on first use: a damaged index of
    one and data file of the other must read as misses and recompile."""
    assert runs["damaged"]["fastcheck"][kernel] == {"hits": 0, "misses": 1}
    assert str(runs["files"][kernel]) in runs["stderr"]
    assert runs["again"]["fastcheck"][kernel] == {"hits": 1, "misses": 0}


def test_an_unremovable_damaged_file_is_named(tmp_path, monkeypatch):
    """When the file cannot be removed the warning says to delete it by hand."""
    from fastcheck.runtime import numba_cache

    def refuse(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(numba_cache.os, "remove", refuse)
    path = tmp_path / "f-1.py311.nbi"
    with pytest.warns(numba_cache.DamagedCacheWarning, match="delete it by hand"):
        numba_cache._discard(str(path), EOFError("Ran out of input"))


def test_install_is_idempotent():
    from numba.core.caching import IndexDataCacheFile

    from fastcheck.runtime import numba_cache

    before = IndexDataCacheFile._load_index, IndexDataCacheFile._load_data
    assert all(getattr(reader, "_fastcheck_recovers", False) for reader in before), \
        "import fastcheck did not install the recovery"
    assert numba_cache.install()
    assert (IndexDataCacheFile._load_index, IndexDataCacheFile._load_data) == before

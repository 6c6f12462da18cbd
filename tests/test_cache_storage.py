"""Where compiled costs are stored, tested with real files: a backslash in the cost's
file name, generated files cut short or emptied, a read-only file system, a full
one, an unwritable HOME at import, the size cap and ``fastcheck cache``.

Read-only and full file systems are small tmpfs mounts (the tests run as root,
who can write through file permissions but not to a file system mounted ``ro``
or full); each is unmounted in a ``finally``.
"""

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.runtime import numba_cache
from fastcheck.compiler import build, cache, compile_cost, memo, store
from fastcheck.runtime.numba_cache import CacheUnavailableWarning, DamagedCacheWarning

ROOT = Path(__file__).resolve().parents[1]
COST_SOURCE = textwrap.dedent("""
    import numpy as np

    def cost(params, X):
        return np.sum(np.tanh(X @ params["W"]) ** 2) * {scale}
""")
X = np.random.default_rng(0).standard_normal((5, 3))
W = np.random.default_rng(1).standard_normal((3, 2))


def reference(scale):
    return float(np.sum(np.tanh(X @ W) ** 2) * scale)


def compiled_value(cc):
    return cc.function(W.ravel().copy(), cc.fdata, cc.idata)


def load_cost(path, scale):
    """The cost of ``COST_SOURCE`` from a real file at ``path`` (a new module)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(COST_SOURCE.format(scale=scale))
    spec = importlib.util.spec_from_file_location(f"usercost_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cost


def compile_fresh(cost):
    """``compile_cost`` of ``cost`` over W, as a new process would: nothing in memory."""
    plan = build._Plan(cost, ["W"], [W.shape], (X,), False, False)
    memo.forget(plan.key)
    sys.modules.pop(plan.name, None)
    return compile_cost(cost, ["W"], [W.shape], (X,))


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """Its own cache directory, and every once-per-process warning not yet given."""
    monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(numba_cache, "_warned", set())
    return tmp_path / "cache"


@contextlib.contextmanager
def tmpfs(path, size="64k", readonly=False):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)
    try:
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path, leave):
    """Fill the file system of ``path`` with ``path``, then free ``leave`` bytes of it."""
    with open(path, "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 512)
    if leave:
        os.truncate(path, max(0, path.stat().st_size - leave))
    return path


# ---- 1. user strings in generated source ------------------------------------------

@pytest.mark.parametrize("folder", ["proj\\Users", "C:\\Users\\N\\x"])
def test_a_backslash_in_the_costs_file_name_compiles_and_checks(fresh, tmp_path, folder):
    cost = load_cost(tmp_path / folder / "net.py", 1.5)
    cc = compile_fresh(cost)
    assert compiled_value(cc) == pytest.approx(reference(1.5), rel=1e-12)
    assert "\\" in Path(cc.path).read_text()  # the name is there, escaped
    res = fc.check(cost, {"W": W}, {"W": np.zeros_like(W)}, X, jit=True)
    assert not res.passed and res.suspects == ["W"]  # a zero gradient is wrong here


def test_exec_code_whose_file_name_has_escapes_and_quotes(fresh):
    scope = {}
    exec(compile(COST_SOURCE.format(scale=2.0), 'C:\\Users\\N\\""" x\n.py', "exec"), scope)
    cc = compile_fresh(scope["cost"])
    assert compiled_value(cc) == pytest.approx(reference(2.0), rel=1e-12)


# ---- 2. damaged generated files ----------------------------------------------------

@pytest.mark.parametrize("damage", ["cut", "emptied", "edited"])
def test_a_damaged_generated_file_is_a_miss_rewritten_with_one_warning(fresh, tmp_path,
                                                                       damage):
    cost = load_cost(tmp_path / "user" / f"damaged_{damage}.py", 3.0)
    first = compile_fresh(cost)
    path = Path(first.path)
    text = path.read_text()
    broken = {"cut": text[:len(text) // 2], "emptied": "",
              "edited": text.replace("def trampoline_", "def nothing_")}[damage]
    path.write_text(broken)
    with pytest.warns(DamagedCacheWarning, match=str(path).replace("\\", "\\\\")):
        again = compile_fresh(cost)
    assert compiled_value(again) == pytest.approx(reference(3.0), rel=1e-12)
    assert path.read_text() == text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compiled_value(compile_fresh(cost)) == pytest.approx(reference(3.0), rel=1e-12)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


# ---- 3, 4. no writable cache -------------------------------------------------------

def test_a_read_only_cache_compiles_in_memory_and_warns_once(monkeypatch, tmp_path):
    monkeypatch.setattr(numba_cache, "_warned", set())
    with tmpfs(tmp_path / "ro", readonly=True) as ro:
        monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(ro / "fastcheck"))
        with pytest.warns(CacheUnavailableWarning, match="cannot write compiled costs") as got:
            for scale in (4.0, 5.0):
                cost = load_cost(tmp_path / "user" / f"ro_{scale}.py", scale)
                cc = compile_fresh(cost)
                assert compiled_value(cc) == pytest.approx(reference(scale), rel=1e-12)
        assert len([w for w in got if w.category is CacheUnavailableWarning]) == 1
        assert list(ro.iterdir()) == []


def test_a_full_disk_compiles_in_memory_and_leaves_no_partial_file(monkeypatch, tmp_path):
    monkeypatch.setattr(numba_cache, "_warned", set())
    with tmpfs(tmp_path / "full", size="64k") as full:
        # Room for the generated file, none for Numba's object code (tens of KB).
        filler = fill(full / "filler", leave=16 * 1024)
        monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(full / "fastcheck"))
        cost = load_cost(tmp_path / "user" / "full.py", 6.0)
        with pytest.warns(CacheUnavailableWarning, match="No space left"):
            cc = compile_fresh(cost)
        assert compiled_value(cc) == pytest.approx(reference(6.0), rel=1e-12)
        names = [p.name for p in full.rglob("*")]
        assert not [n for n in names if ".tmp" in n], names
        # Filling the disk again (the generated file no longer fits): still in memory.
        shutil.rmtree(full / "fastcheck")
        fill(filler, leave=0)
        with pytest.warns(CacheUnavailableWarning, match="cannot write compiled costs"):
            cc = compile_fresh(load_cost(tmp_path / "user" / "full2.py", 7.0))
        assert compiled_value(cc) == pytest.approx(reference(7.0), rel=1e-12)


IMPORT_SCRIPT = textwrap.dedent("""
    import warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as got:
        import fastcheck as fc
        import numpy as np
        assert fc.__file__.startswith({package!r}), fc.__file__
        # However short the check, its compile is prepared (looked up in the cache).
        import fastcheck.costs.python
        fastcheck.costs.python.START_SECONDS = 0.0

        def cost(params):
            return float(np.sum(params["w"] ** 3))

        w = np.linspace(-1.0, 1.0, 7)
        assert fc.check(cost, {{"w": w}}, {{"w": 3 * w ** 2}}).passed
        assert not fc.check(cost, {{"w": w}}, {{"w": 3.3 * w ** 2}}).passed
    print(sorted({{f"{{w.category.__name__}}: {{str(w.message)[:60]}}" for w in got}}))
    print(len(got))
""")


def test_import_with_a_read_only_install_and_an_unwritable_home(tmp_path):
    """A locked-down account: the package on a read-only file system, HOME not
    writable, no cache variables. Numba raised 'no locator available' while
    fastcheck's kernels were defined at import."""
    with tmpfs(tmp_path / "site", size="20m") as site, \
            tmpfs(tmp_path / "home", readonly=True) as home:
        ignore = shutil.ignore_patterns("__pycache__")
        # A worktree links fastcheck/kernels to ../kernels: copied once, below.
        shutil.copytree(ROOT / "fastcheck", site / "fastcheck",
                        ignore=shutil.ignore_patterns("__pycache__", "kernels"))
        shutil.copytree(ROOT / "kernels", site / "fastcheck" / "kernels", ignore=ignore)
        subprocess.run(["mount", "-o", "remount,ro", str(site)], check=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("FASTCHECK_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
        env.update(HOME=str(home), PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
        script = IMPORT_SCRIPT.format(package=str(site))
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=home,
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    kinds, count = done.stdout.strip().splitlines()[-2:]
    # Once each: Numba's cache at import, and fastcheck's when the default check
    # prepares the cost's compile (jit=None compiles beside a check longer than
    # START_SECONDS, 0 here).
    assert count == "2", done.stdout
    assert "CacheUnavailableWarning: fastcheck: Numba finds no writable directory" in kinds
    assert "CacheUnavailableWarning: fastcheck: cannot write compiled costs" in kinds


# ---- 5. bounded caches -------------------------------------------------------------

def test_memory_keeps_the_last_few_compiled_costs(fresh, tmp_path, monkeypatch):
    monkeypatch.setattr(memo, "MEMORY_KEEP", 2)
    monkeypatch.setattr(memo, "_COMPILED", memo._COMPILED.__class__())
    names = []
    for scale in (8.0, 9.0, 10.0):
        cc = compile_fresh(load_cost(tmp_path / "user" / f"mem_{scale}.py", scale))
        names.append(cache.module_name(cc.key))
        assert compiled_value(cc) == pytest.approx(reference(scale), rel=1e-12)
    assert memo.count() == 2
    assert names[0] not in sys.modules and names[2] in sys.modules


def test_the_disk_cache_is_pruned_least_recently_used_first(fresh, tmp_path, monkeypatch):
    costs = [load_cost(tmp_path / "user" / f"disk_{k}.py", float(k)) for k in (11, 12, 13)]
    keys = [compile_fresh(cost).key for cost in costs[:2]]
    sizes = {stem: size for stem, size, _, _ in store.entries()}
    assert set(sizes) == {cache.module_name(k) for k in keys}
    assert all(size > 10_000 for size in sizes.values())  # Numba's object code is counted
    compile_fresh(costs[0])  # used again: now the second is the least recently used
    monkeypatch.setenv("FASTCHECK_CACHE_MAX", str(int(max(sizes.values()) * 2.5)))
    third = compile_fresh(costs[2]).key
    left = {stem for stem, _, _, _ in store.entries()}
    assert left == {cache.module_name(keys[0]), cache.module_name(third)}
    assert not list(fresh.glob(f"{cache.module_name(keys[1])}*"))


@pytest.mark.parametrize("text, expected", [("", store.DEFAULT_MAX), ("1000", 1000),
                                            ("200M", 200 * 2**20), ("2G", 2 * 2**30),
                                            ("1.5k", 1536), ("64 MB", 64 * 2**20)])
def test_the_cache_max_is_read_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("FASTCHECK_CACHE_MAX", text)
    assert store.max_bytes() == expected


def test_a_bad_cache_max_names_the_variable(monkeypatch):
    monkeypatch.setenv("FASTCHECK_CACHE_MAX", "lots")
    with pytest.raises(fc.errors.OptionError, match="FASTCHECK_CACHE_MAX must be a size"):
        store.max_bytes()


def test_the_command_line_shows_and_clears_the_cache(fresh, tmp_path):
    compile_fresh(load_cost(tmp_path / "user" / "cli.py", 14.0))
    env = dict(os.environ, FASTCHECK_CACHE_DIR=str(fresh))
    shown = subprocess.run([sys.executable, "-m", "fastcheck", "cache"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert str(fresh) in shown.stdout and "1 entry" in shown.stdout
    cleared = subprocess.run([sys.executable, "-m", "fastcheck", "cache", "clear"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 1 entry" in cleared.stdout
    assert store.entries(fresh) == []
    assert not list(fresh.glob("fastcheck_cost_*"))

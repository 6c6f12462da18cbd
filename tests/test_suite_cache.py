"""The test suite compiles into its own cache, never the user's ``~/.cache/fastcheck``
(tests/conftest.py), in this process and in the subprocesses tests start."""

import os
import pathlib
import subprocess
import sys

from fastcheck.compiler.cache import cache_dir


def users_cache():
    """Where fastcheck would cache without FASTCHECK_CACHE_DIR."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return (pathlib.Path(base) / "fastcheck").resolve()


def test_the_suite_does_not_use_the_users_cache():
    ours = cache_dir().resolve()
    assert ours == pathlib.Path(os.environ["FASTCHECK_CACHE_DIR"]).resolve()
    assert ours != users_cache() and users_cache() not in ours.parents


def test_subprocesses_inherit_the_suites_cache():
    code = "from fastcheck.compiler.cache import cache_dir; print(cache_dir().resolve())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(cache_dir().resolve())

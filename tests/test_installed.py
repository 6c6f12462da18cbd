"""Code installed in site-packages compiles like the user's own: a course's helper
package, and fastcheck itself after a normal (non-editable) install.

The test suite runs on an editable install, where fastcheck's exercise code
lives in the checkout; these tests put packages where ``pip install`` (not
``-e``) puts them, a directory named ``site-packages``, and compile from there.
They copy the files instead of running pip, so they need no network and no
build backend: what the compiler looks at is where the source file is.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastcheck.compiler import compile_cost

ROOT = Path(__file__).resolve().parents[1]
#: The seed's published figures as the demo prints them (see test_cli.py).
PUBLISHED_LEADING_DIGITS = ["2.919336e-10", "2.850932e-01", "1.189091e-07"]

HELPERS = '''
import numpy as np


def relu(Z):
    return np.maximum(0, Z)


def dense(A, W, b):
    return relu(W @ A + b)
'''


def test_helper_package_in_site_packages_compiles(tmp_path, monkeypatch):
    site = tmp_path / "lib" / "site-packages"
    (site / "fc_course_helpers").mkdir(parents=True)
    (site / "fc_course_helpers" / "__init__.py").write_text(HELPERS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("FASTCHECK_CACHE_DIR", str(tmp_path / "cache"))
    import fc_course_helpers as helpers

    def cost(params, X):
        return np.sum(helpers.dense(X, params["W"], params["b"]) ** 2)

    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 1))}
    X = rng.standard_normal((4, 5))
    compiled = compile_cost(cost, ["W", "b"], [(3, 4), (3, 1)], (X,))
    theta = np.concatenate([params["W"].ravel(), params["b"].ravel()])
    assert compiled.function(theta, compiled.fdata, compiled.idata) == pytest.approx(
        cost(params, X), rel=1e-12)
    monkeypatch.delitem(sys.modules, "fc_course_helpers")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """fastcheck laid out as a wheel installs it, in a directory named site-packages."""
    site = tmp_path_factory.mktemp("install") / "lib" / "site-packages"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "fastcheck", site / "fastcheck", ignore=ignore)
    shutil.copytree(ROOT / "kernels", site / "fastcheck" / "kernels", ignore=ignore)
    return site


def run_installed(site, argv, tmp_path):
    # One cache beside the installed copy for the module's tests: the first
    # compiles fastcheck's kernels from site-packages, the next loads them
    # (about 45 s of the suite on the 2-core machine).
    shared = site.parents[1]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path),
           "FASTCHECK_CACHE_DIR": str(shared / "cache"), "NUMBA_CACHE_DIR": str(shared / "nb")}
    env.update((k, os.environ[k]) for k in ("NUMBA_OPT", "NUMBA_NUM_THREADS") if k in os.environ)
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=1200, cwd=tmp_path, env=env)


@pytest.mark.slow
def test_demo_runs_from_a_normal_install(installed, tmp_path):
    """`fastcheck demo` (step 4 compiles the exercise's code, now in site-packages)."""
    where = run_installed(installed, ["-c", "import fastcheck; print(fastcheck.__file__)"],
                          tmp_path)
    assert where.stdout.startswith(str(installed)), where.stdout + where.stderr
    done = run_installed(installed, ["-m", "fastcheck", "demo"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in PUBLISHED_LEADING_DIGITS:
        assert figure in done.stdout, figure
    assert "engine generic" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_readme_first_example_compiles_from_a_normal_install(installed, tmp_path):
    script = ("import fastcheck as fc\n"
              "from fastcheck.app import exercises as ex\n"
              "X, Y, params = ex.gradient_check_n_test_case()\n"
              "cost, cache = ex.forward_propagation_n(params, X, Y)\n"
              "grads = ex.backward_propagation_n(X, Y, cache)\n"
              "res = fc.check(ex.forward_propagation_n, params, grads, X, Y, eps=1e-7, jit=True)\n"
              "print(ex.__file__)\n"
              "print(res.difference)\n")
    done = run_installed(installed, ["-c", script], tmp_path)
    assert done.returncode == 0, done.stderr
    path, difference = done.stdout.split()
    assert path.startswith(str(installed))
    assert float(difference) == 0.2850931567761623

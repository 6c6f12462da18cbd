"""Numba's thread count and optimisation level, fastcheck's cache directory and the
Hypothesis profiles.

The reproducibility and thread tests compare one thread with two: so that
they compare something on a one-core machine too, Numba gets at least two
threads (set before anything imports numba; an explicit setting wins).

The suite compiles many costs: they go to a temporary ``FASTCHECK_CACHE_DIR``,
created here before anything imports fastcheck and removed when the session
ends, so that running the tests never writes into the user's own cache
(``~/.cache/fastcheck``); subprocesses the tests start inherit it. A directory
set explicitly (a CI cache kept warm between runs) is used as it is.

Hypothesis profiles:

"ci" (the default) is derandomized, so a CI run draws the same examples every
time and a failure reproduces on any machine; 30 examples per test keeps the
property suites within the CI budget. "thorough" draws fresh random examples,
many more of them, for a local hunt: ``pytest --hypothesis-profile=thorough``.
``deadline=None`` in both: Numba compiles a kernel on its first use, which
makes one example slow without anything being wrong.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("NUMBA_NUM_THREADS", "2")
# LLVM at -O2, not Numba's -O3, for what compiles in the test processes too
# (fastcheck's kernels, in-process compiles): users' costs already compile at
# -O2 in the budget's child (``compiler.budget.COMPILE_OPT``, where the figures
# are). Benchmarks, run on their own (``pytest benchmarks``), keep Numba's default.
os.environ.setdefault("NUMBA_OPT", "2")
if not os.environ.get("FASTCHECK_CACHE_DIR"):
    os.environ["FASTCHECK_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastcheck-tests-")
    atexit.register(shutil.rmtree, os.environ["FASTCHECK_CACHE_DIR"], ignore_errors=True)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=500, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("ci")

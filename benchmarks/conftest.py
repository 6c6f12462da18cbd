"""Make ``pytest benchmarks --benchmark-only`` time the benchmarks.

pyproject's addopts carry ``--benchmark-disable``, so the default ``pytest``
run executes each benchmark once, as a smoke test. pytest-benchmark refuses
``--benchmark-only`` next to ``--benchmark-disable`` (a UsageError), yet
asking only for the benchmarks means asking for their timings: so
``--benchmark-only`` turns on ``--benchmark-enable``, which overrides the
disable flag.

The default run's smoke test runs each benchmark on the cases a module names in
``SMOKE_ONLY`` ({parameter: [values kept]}): enough to show the benchmark's code
still runs, without a cold compile of every network (each is minutes of the
suite on the 2-core machine); a measured run keeps every case.
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # tryfirst: pytest-benchmark reads the options in its own pytest_configure.
    if config.getoption("benchmark_only", default=False):
        config.option.benchmark_enable = True


def pytest_collection_modifyitems(config, items):
    if config.option.benchmark_enable:
        return
    kept, dropped = [], []
    for item in items:
        only = getattr(item.module, "SMOKE_ONLY", None) if hasattr(item, "module") else None
        params = getattr(getattr(item, "callspec", None), "params", {})
        if only and any(name in params and params[name] not in values
                        for name, values in only.items()):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_benchmark_update_machine_info(config, machine_info):
    # The engines' speedups scale with Numba's threads; record them with the CPU.
    import numba

    machine_info["numba"] = {"version": numba.__version__, "threads": numba.get_num_threads()}


@pytest.fixture(scope="module", autouse=True)
def blas_on_one_thread(request):
    """Every engine runs with BLAS on one thread, as in ``fastcheck bench``.

    fastcheck's engines do so themselves; for the naive loop OpenBLAS's own
    threads on these small matrices made each forward pass about 3x slower
    here, which would flatter every speedup. A module that sets
    ``BLAS_AS_USERS_HAVE_IT`` measures with BLAS as the process has it.
    """
    from fastcheck.runtime.blas import single_threaded_blas

    if getattr(request.module, "BLAS_AS_USERS_HAVE_IT", False):
        yield
        return
    with single_threaded_blas():
        yield

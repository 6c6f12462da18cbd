"""Make ``pytest benchmarks --benchmark-only`` time the benchmarks.

pyproject's addopts carry ``--benchmark-disable``, so the default ``pytest``
run executes each benchmark once, as a smoke test. pytest-benchmark refuses
``--benchmark-only`` next to ``--benchmark-disable`` (a UsageError), yet
asking only for the benchmarks means asking for their timings: so
``--benchmark-only`` turns on ``--benchmark-enable``, which overrides the
disable flag.
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # tryfirst: pytest-benchmark reads the options in its own pytest_configure.
    if config.getoption("benchmark_only", default=False):
        config.option.benchmark_enable = True


def pytest_benchmark_update_machine_info(config, machine_info):
    # The engines' speedups scale with Numba's threads; record them with the CPU.
    import numba

    machine_info["numba"] = {"version": numba.__version__, "threads": numba.get_num_threads()}

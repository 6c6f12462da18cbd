"""Under ``RLIMIT_AS`` (``ulimit -v``), a check that cannot fit is a
``MemoryBudgetError`` before it allocates: never NumPy's raw ``MemoryError``
from flattening the parameters or copying them. Each case runs in a subprocess
that sets its own limit a given headroom above what it already uses."""

import json
import subprocess
import sys
import textwrap

import pytest

MiB = 2**20

SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import psutil
    import fastcheck as fc
    from fastcheck.errors import MemoryBudgetError

    headroom = int(sys.argv[1]) * 2**20

    def cost(params):
        return float(np.dot(params["w"], params["w"]))

    # 5M parameters, a sample of 200: 38 MB per flat copy.
    w = np.linspace(-1.0, 1.0, 5_000_000)
    options = dict(sample=200, jit=False)
    grads = {"dw": 2 * w}
    vms = psutil.Process().memory_info().vms
    resource.setrlimit(resource.RLIMIT_AS, (vms + headroom, resource.RLIM_INFINITY))
    try:
        res = fc.check(cost, {"w": w}, grads, **options)
        print(json.dumps({"outcome": "passed" if res.passed else "failed"}))
    except MemoryBudgetError as exc:
        print(json.dumps({"outcome": "budget", "message": str(exc)}))
    except MemoryError as exc:
        print(json.dumps({"outcome": "MemoryError", "message": str(exc)}))
""")


def run(headroom_mib):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(headroom_mib)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
@pytest.mark.parametrize("headroom", [20, 50, 80, 120])
def test_flattening_five_million_parameters_is_budgeted(headroom):
    got = run(headroom)
    # Two flat copies (theta, the gradients) and an evaluation buffer: 114 MB in all.
    assert got["outcome"] == "budget", got
    assert "parameters" in got["message"] and "MB" in got["message"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_flattening_with_room_to_spare_checks():
    assert run(1500) == {"outcome": "passed"}



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
@pytest.mark.parametrize("headroom", [130, 200])
def test_between_the_budget_and_room_to_spare_a_result_or_a_budget_error(headroom):
    """Room for the budgeted copies but not for every temporary: planning's own
    (``np.abs(theta)`` was one) or NumPy's inside the cost. Never a bare MemoryError."""
    got = run(headroom)
    assert got["outcome"] in ("passed", "budget"), got
    if got["outcome"] == "budget":
        assert "MB" in got["message"] and "sample=" in got["message"], got


WORKERS_SCRIPT = textwrap.dedent("""
    import json, resource
    import numpy as np
    import psutil
    import fastcheck as fc
    from fastcheck.errors import MemoryBudgetError

    def cost(params):
        return float(np.dot(params["w"], params["w"]))

    if __name__ == "__main__":
        w = np.linspace(-1.0, 1.0, 1_000_000)
        vms = psutil.Process().memory_info().vms
        resource.setrlimit(resource.RLIMIT_AS, (vms + 300 * 2**20, resource.RLIM_INFINITY))
        try:
            res = fc.check(cost, {"w": w}, {"dw": 2 * w}, sample=200, jit=False, workers=2,
                           progress=False)
            print(json.dumps({"outcome": "passed" if res.passed else "failed"}))
        except MemoryBudgetError as exc:
            print(json.dumps({"outcome": "budget", "message": str(exc)}))
        except Exception as exc:
            print(json.dumps({"outcome": type(exc).__name__, "message": str(exc)}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_sending_the_cost_to_workers_under_a_limit_is_no_fault_of_the_cost(tmp_path):
    """Pickling the cost for Dask ran out of memory and was reported as a cost that
    cannot be pickled (InputTypeError); Dask's own serializer wrapped it in a TypeError."""
    pytest.importorskip("distributed")
    script = tmp_path / "workers_limit.py"
    script.write_text(WORKERS_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    # Or Dask's processes cannot start in so little memory: a ClusterError that says so.
    assert got["outcome"] in ("passed", "budget") or (
        got["outcome"] == "ClusterError" and "too little memory" in got["message"]), got


class Unpicklable:
    def __reduce__(self):
        raise MemoryError


def test_a_memory_error_while_pickling_is_not_blamed_on_the_cost():
    from fastcheck.drivers.shipping import pickled
    with pytest.raises(MemoryError):
        pickled(Unpicklable(), "Dask", "run without workers=")
